"""Bad recordings (issue 3): each gives a typed error or a conversation flagged ``no_speech``, never a
crash, and the rest of the batch goes on. One `qa audit` batch holds all of them plus a good text
conversation; fast checks per file and for the decode-time length cap follow."""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from qa_pipeline.asr.decode import ChunkOptions, iter_chunks
from qa_pipeline.cli import app
from qa_pipeline.errors import E, InputError
from qa_pipeline.settings import Settings
from qa_pipeline.sources.audio import conversation_from_audio
from tests.asr.audio_files import tone, write_audio, write_wav
from tests.conftest import ROOT, SHARED_DATA

RATE = 8000
DEV_MP3 = SHARED_DATA / "conversations_dev" / "audio" / "c0059.mp3"
NOT_AUDIO = "客服：您好\n这不是音频\n" * 20  # a text file renamed .wav
runner = CliRunner()


def wav_header(codec: int, channels: int, rate: int, data_len: int) -> bytes:
    """A RIFF/WAVE header with any codec id and sample rate (16-bit), ``data_len`` bytes declared."""
    fmt = struct.pack("<HHIIHH", codec, channels, rate, rate * channels * 2, channels * 2, 16)
    riff = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", data_len)
    return b"RIFF" + struct.pack("<I", len(riff) + data_len) + riff


def forged_wav(path: Path, *, codec: int = 1, rate: int = RATE, real_rate: int = RATE) -> Path:
    """One second of a tone sampled at ``real_rate`` behind a header declaring ``codec`` and ``rate``."""
    pcm = tone(real_rate, 1.0, 440).tobytes()
    path.write_bytes(wav_header(codec, 1, rate, len(pcm)) + pcm)
    return path


def truncated_mp3(path: Path) -> Path:
    """The first 30% of a dev call MP3 (or of a 20 s stereo MP3 encoded here without shared data)."""
    if DEV_MP3.is_file():
        data = DEV_MP3.read_bytes()
    else:
        full = write_audio(path.with_suffix(".full.mp3"), _stereo(20.0), RATE)
        data = full.read_bytes()
        full.unlink()
    path.write_bytes(data[: len(data) * 3 // 10])
    return path


def _stereo(seconds: float) -> np.ndarray:
    return np.stack([tone(RATE, seconds, 440), tone(RATE, seconds, 660)])


# name -> (writer, expected error code, or None when the file must come out as a conversation)
Writer = Callable[[Path], object]
BAD: dict[str, tuple[Writer, E]] = {
    "empty.wav": (lambda p: p.write_bytes(b""), E.AUDIO_UNREADABLE),
    "header_only.wav": (lambda p: write_wav(p, np.zeros((2, 0), np.int16), RATE), E.AUDIO_UNREADABLE),
    "notes.wav": (lambda p: p.write_text(NOT_AUDIO, encoding="utf-8"), E.AUDIO_UNREADABLE),
    "codec_unknown.wav": (lambda p: forged_wav(p, codec=0x1234), E.AUDIO_UNREADABLE),
    "codec_mismatch.wav": (lambda p: forged_wav(p, codec=0x0055), E.AUDIO_UNREADABLE),  # PCM called MP3
    "rate_zero.wav": (lambda p: forged_wav(p, rate=0), E.AUDIO_UNREADABLE),
    "rate_1hz.wav": (lambda p: forged_wav(p, rate=1), E.AUDIO_UNREADABLE),
    "rate_10mhz.wav": (lambda p: forged_wav(p, rate=10_000_000), E.AUDIO_UNREADABLE),
    "six_channels.wav": (lambda p: write_wav(p, np.stack([tone(RATE, 1, 440)] * 6), RATE), E.AUDIO_CHANNELS),
}
# read as conversations; the asr stage decides what they hold
ACCEPTED: dict[str, Writer] = {
    "short_tone.wav": lambda p: write_wav(p, tone(RATE, 0.3, 440)[None, :], RATE),  # < 0.5 s
    "silence.wav": lambda p: write_wav(p, np.zeros((1, 3 * RATE), np.int16), RATE),
    "rate_lie.wav": lambda p: forged_wav(p, rate=8000, real_rate=44_100),  # undetectable: 5.5 s slow tone
    "truncated.mp3": truncated_mp3,
}


def _write(folder: Path, name: str) -> Path:
    path = folder / name
    writer = BAD[name][0] if name in BAD else ACCEPTED[name]
    writer(path)
    return path


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_recording_is_a_typed_error_naming_the_file(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path, name)
    with pytest.raises(InputError) as err:
        conversation_from_audio(path, settings=Settings())
    assert err.value.code is BAD[name][1], err.value.message
    assert err.value.file == str(path)


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_odd_but_readable_recording_is_a_call(tmp_path: Path, name: str) -> None:
    conv = conversation_from_audio(_write(tmp_path, name), settings=Settings())
    assert conv.channel == "call" and conv.turns == [] and conv.audio is not None
    assert conv.audio.duration_s is not None and conv.audio.duration_s > 0


def test_decoding_stops_at_the_length_cap_whatever_the_header_says(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "call.wav", _stereo(5.0), RATE)
    opts = ChunkOptions(chunk_s=2.0, search_s=0.5, max_s=3.0)
    seen: list[float] = []
    with pytest.raises(InputError) as err:
        seen.extend(chunk.end_s for chunk in iter_chunks(path, opts))
    assert err.value.code is E.AUDIO_TOO_LONG and err.value.file == str(path)
    assert all(end <= 3.0 for end in seen)
    assert sum(c.duration_s for c in iter_chunks(path, opts.model_copy(update={"max_s": None}))) == 10.0


def test_length_cap_holds_for_raw_aac_and_comes_from_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Raw ADTS AAC has no duration field (FFmpeg only estimates one); the cap counts decoded samples."""
    path = write_audio(tmp_path / "call.m4a", tone(16_000, 6.0, 440)[None, :], 16_000)
    adts = tmp_path / "call.aac"
    _remux(path, adts, "adts")
    monkeypatch.setenv("QA_MAX_AUDIO_S", "4")
    assert ChunkOptions().max_s == 4.0
    with pytest.raises(InputError) as err:
        list(iter_chunks(adts))
    assert err.value.code is E.AUDIO_TOO_LONG
    monkeypatch.setenv("QA_MAX_AUDIO_S", "60")
    assert 5.9 < sum(c.duration_s for c in iter_chunks(adts)) < 6.2


def _remux(src: Path, dst: Path, fmt: str) -> None:
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", format=fmt) as out:
        stream = out.add_stream_from_template(inp.streams.audio[0])
        for packet in inp.demux(inp.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)


# -- one batch through `qa audit` -------------------------------------------------------------


@pytest.fixture()
def batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QA_DATABASE_URL", f"sqlite:///{tmp_path / 'qa.db'}")
    monkeypatch.setenv("QA_LOG_LEVEL", "WARNING")
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "calls"
    folder.mkdir()
    for name in [*BAD, *ACCEPTED]:
        _write(folder, name)
    first = (ROOT / "examples" / "conversations.jsonl").read_text(encoding="utf-8").splitlines()[0]
    (folder / "chat.jsonl").write_text(first + "\n", encoding="utf-8")
    return folder


@pytest.mark.slow
def test_audit_batch_of_bad_recordings_goes_on(batch: Path) -> None:
    out = runner.invoke(app, ["audit", str(batch), "--json", "r.jsonl"])
    assert out.exit_code == 3, out.output  # some files skipped; no crash, no traceback
    assert out.exception is None or isinstance(out.exception, SystemExit), out.exception
    skipped = [line for line in out.output.splitlines() if line.startswith("skipped:")]
    for name, (_, code) in BAD.items():
        (line,) = [s for s in skipped if re.search(rf"\b{re.escape(name)}\b", s)]
        assert f"[{code.value}]" in line, line
    assert len(skipped) == len(BAD), skipped
    results = {r["id"]: r for r in map(json.loads, Path("r.jsonl").read_text(encoding="utf-8").splitlines())}
    assert set(results) == {"ex01", *(Path(n).stem for n in ACCEPTED)}
    assert results["ex01"]["turns"] and results["ex01"]["quality_index"] is not None
    for ident in ("short_tone", "silence"):
        assert results[ident]["turns"] == [] and "no_speech" in results[ident]["flags"]
    assert results["truncated"]["channel"] == "call"
    with create_engine(f"sqlite:///{batch.parent / 'qa.db'}").connect() as conn:
        stored = {r[0]: r[1] for r in conn.execute(text("select conversation_id, result from results"))}
    assert set(stored) == set(results)
    silence = stored["silence"] if isinstance(stored["silence"], dict) else json.loads(stored["silence"])
    assert "no_speech" in silence["flags"]
