from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa_pipeline.asr.decode import (
    TARGET_RATE,
    ChunkOptions,
    decode_all,
    iter_blocks,
    iter_chunks,
    probe,
    quietest_cut,
)
from qa_pipeline.errors import E, InputError
from tests.asr.audio_files import tone, write_audio, write_wav


def _stereo(rate: int, seconds: float = 3.0) -> np.ndarray:
    """Left: 440 Hz from 1.0 to 2.0 s; right: 300 Hz from 1.5 to 2.5 s."""
    return np.stack([tone(rate, seconds, 440, 1.0, 2.0), tone(rate, seconds, 300, 1.5, 2.5)])


def _onset(samples: np.ndarray) -> float:
    return float(np.argmax(np.abs(samples) > 0.05)) / TARGET_RATE


def _peak_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / TARGET_RATE)[np.argmax(spectrum)])


def test_probe_reads_wav_header(tmp_path: Path) -> None:
    info = probe(write_wav(tmp_path / "call.wav", _stereo(8000), 8000))
    assert (info.container, info.codec, info.channels, info.sample_rate) == ("wav", "pcm_s16le", 2, 8000)
    assert info.duration_s == pytest.approx(3.0)


def test_probe_reads_headers_only_and_decode_skips_damage(tmp_path: Path) -> None:
    # a 10 s FLAC cut off after about 4 s: the header still says 10 s; decoding keeps what is readable
    path = write_audio(tmp_path / "cut.flac", tone(8000, 10.0, 440)[None, :], 8000)
    path.write_bytes(path.read_bytes()[:20_000])
    assert probe(path).duration_s == pytest.approx(10.0)
    decoded_s = decode_all(path).shape[1] / TARGET_RATE
    assert 1.0 < decoded_s < 6.0


def test_stereo_wav_split_resampled_and_timed(tmp_path: Path) -> None:
    audio = decode_all(write_wav(tmp_path / "call.wav", _stereo(8000), 8000))
    assert audio.dtype == np.float32
    assert audio.shape == (2, 3 * TARGET_RATE)
    assert _onset(audio[0]) == pytest.approx(1.0, abs=0.01)
    assert _onset(audio[1]) == pytest.approx(1.5, abs=0.01)
    assert _peak_hz(audio[0]) == pytest.approx(440, abs=2)
    assert _peak_hz(audio[1]) == pytest.approx(300, abs=2)
    assert np.abs(audio[0, : TARGET_RATE - 200]).max() < 1e-3  # the left channel is silent before 1 s


@pytest.mark.parametrize("suffix", [".mp3", ".flac", ".ogg", ".m4a"])
def test_compressed_formats(tmp_path: Path, suffix: str) -> None:
    rate = 48000 if suffix == ".ogg" else 16000  # Opus runs at 48 kHz
    path = write_audio(tmp_path / f"call{suffix}", _stereo(rate), rate)
    info = probe(path)
    assert (info.channels, info.sample_rate) == (2, rate)
    assert info.duration_s == pytest.approx(3.0, abs=0.1)
    audio = decode_all(path)
    assert audio.shape[0] == 2
    assert audio.shape[1] / TARGET_RATE == pytest.approx(3.0, abs=0.1)
    tolerance = 0.1 if suffix == ".m4a" else 0.01  # PyAV's AAC writes no edit list: 1024 priming samples
    assert _onset(audio[0]) == pytest.approx(1.0, abs=tolerance)
    assert _onset(audio[1]) == pytest.approx(1.5, abs=tolerance)
    assert _peak_hz(audio[0]) == pytest.approx(440, abs=3)


def test_mono_downmix(tmp_path: Path) -> None:
    audio = decode_all(write_wav(tmp_path / "call.wav", _stereo(44100), 44100), mono=True)
    assert audio.shape == (1, 3 * TARGET_RATE)
    assert _onset(audio[0]) == pytest.approx(1.0, abs=0.01)
    assert np.abs(audio[0, int(2.1 * TARGET_RATE) : int(2.4 * TARGET_RATE)]).max() > 0.05  # right only


def test_quietest_cut_finds_the_gap() -> None:
    rng = np.random.default_rng(0)
    samples = rng.normal(0, 0.3, 10 * TARGET_RATE).astype(np.float32)
    samples[int(6.0 * TARGET_RATE) : int(6.5 * TARGET_RATE)] *= 0.001
    cut = quietest_cut(samples, 4 * TARGET_RATE, 9 * TARGET_RATE)
    assert 6.0 * TARGET_RATE < cut < 6.5 * TARGET_RATE
    assert quietest_cut(samples, 5 * TARGET_RATE, 5 * TARGET_RATE) == 5 * TARGET_RATE


def test_chunks_cut_in_silence_and_cover_the_file(tmp_path: Path) -> None:
    rate, seconds = 8000, 25.0
    left = tone(rate, seconds, 440)  # a continuous tone...
    left[int(8.2 * rate) : int(8.8 * rate)] = 0  # ...with one gap, inside the search window [7, 10] s
    path = write_wav(tmp_path / "long.wav", np.stack([left, tone(rate, seconds, 300)]), rate)
    chunks = list(iter_chunks(path, ChunkOptions(chunk_s=10, search_s=3)))
    left_chunks = [c for c in chunks if c.channel == 0]
    assert 8.2 < left_chunks[0].end_s < 8.8
    whole = decode_all(path)
    for channel in (0, 1):
        mine = [c for c in chunks if c.channel == channel]
        assert all(c.duration_s <= 10 for c in mine)
        assert [c.start_s for c in mine[1:]] == pytest.approx([c.end_s for c in mine[:-1]])
        np.testing.assert_array_equal(np.concatenate([c.samples for c in mine]), whole[channel])


def test_missing_and_unsupported_files(tmp_path: Path) -> None:
    with pytest.raises(InputError) as missing:
        probe(tmp_path / "nope.wav")
    assert missing.value.code is E.FILE_NOT_FOUND
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(InputError) as text:
        probe(tmp_path / "notes.txt")
    assert text.value.code is E.UNSUPPORTED_FORMAT
    (tmp_path / "junk.wav").write_bytes(b"\x00\x01garbage" * 100)
    with pytest.raises(InputError) as junk:
        decode_all(tmp_path / "junk.wav")
    assert junk.value.code is E.UNSUPPORTED_FORMAT
    assert "junk.wav" in junk.value.message


def test_decode_all_refuses_long_audio(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "call.wav", _stereo(8000), 8000)
    with pytest.raises(InputError) as exc:
        decode_all(path, max_s=2.0)
    assert exc.value.code is E.FILE_TOO_LARGE


@pytest.mark.data
def test_dev_mp3_metadata(shared_data: Path) -> None:
    path = shared_data / "conversations_dev" / "audio" / "c0059.mp3"
    info = probe(path)
    assert (info.container, info.channels, info.sample_rate) == ("mp3", 2, 8000)
    assert info.duration_s == pytest.approx(69.3, abs=0.1)


FUZZ = Path(__file__).resolve().parents[1] / "data" / "fuzz"


@pytest.mark.parametrize("name", sorted(p.name for p in FUZZ.glob("*.*")))
def test_inputs_the_fuzzer_found_decode_or_fail_typed(name: str) -> None:
    """Regression corpus of ``python -m bench.fuzz --target audio``: each once crashed the decoder."""
    path = FUZZ / name
    try:
        probe(path)
        for _ in iter_blocks(path, max_s=600.0):
            pass
    except InputError:
        pass  # typed: what a client is told
