"""Call recordings as conversations: header checks, typed errors, sidecar JSON and CSV manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa_pipeline.errors import E, InputError
from qa_pipeline.settings import Settings
from qa_pipeline.sources import iter_input_files, read_conversations
from qa_pipeline.sources.audio import conversation_from_audio, read_audio_manifest
from qa_pipeline.types import Conversation
from tests.asr.audio_files import tone, write_wav

RATE = 8000


def stereo(path: Path, seconds: float = 2.0) -> Path:
    return write_wav(path, np.stack([tone(RATE, seconds, 440), tone(RATE, seconds, 660)]), RATE)


def _error(path: Path, settings: Settings) -> InputError:
    with pytest.raises(InputError) as err:
        conversation_from_audio(path, settings=settings)
    assert err.value.file == str(path)
    return err.value


def test_stereo_wav_alone_is_a_call_without_turns(tmp_path: Path) -> None:
    conv = conversation_from_audio(stereo(tmp_path / "c01.wav"), settings=Settings())
    assert (conv.id, conv.channel, conv.turns, conv.agent_id) == ("c01", "call", [], None)
    assert conv.audio is not None
    assert (conv.audio.channels, conv.audio.sample_rate, conv.audio.duration_s) == (2, RATE, 2.0)
    assert conv.audio.format == "wav/pcm_s16le" and conv.audio.agent_channel == "left"


def test_short_mono_audio_is_accepted(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "short.wav", tone(RATE, 0.3, 440)[None, :], RATE)
    conv = conversation_from_audio(path, settings=Settings(asr_agent_channel="right"))
    assert conv.audio is not None and conv.audio.channels == 1 and conv.audio.duration_s == 0.3
    assert conv.audio.agent_channel == "right"


def test_six_channels_are_refused(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "surround.wav", np.stack([tone(RATE, 1.0, 440)] * 6), RATE)
    err = _error(path, Settings())
    assert err.code is E.AUDIO_CHANNELS and "6 channels" in err.detail


@pytest.mark.parametrize("kind", ["empty", "header_only", "text"])
def test_unreadable_files(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.wav"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "header_only":
        write_wav(path, np.zeros((2, 0), np.int16), RATE)
    else:
        path.write_text("客服：您好\n这不是音频文件\n" * 20, encoding="utf-8")
    err = _error(path, Settings())
    assert err.code is E.AUDIO_UNREADABLE
    assert str(path) in err.message


def test_length_and_size_limits(tmp_path: Path) -> None:
    path = stereo(tmp_path / "long.wav", seconds=3.0)
    assert _error(path, Settings(max_audio_s=2.5)).code is E.AUDIO_TOO_LONG
    assert _error(path, Settings(max_upload_bytes=1000)).code is E.FILE_TOO_LARGE
    assert _error(path, Settings(max_file_bytes=1000)).code is E.FILE_TOO_LARGE


def test_sidecar_json_supplies_call_metadata(tmp_path: Path) -> None:
    path = stereo(tmp_path / "rec.wav")
    sidecar = {"id": "call-7", "agent_id": "A12", "team": "T1", "started_at": "2024-05-01T09:30:00+08:00"}
    (tmp_path / "rec.json").write_text(json.dumps({**sidecar, "queue": "billing"}), encoding="utf-8")
    conv = conversation_from_audio(path, settings=Settings())
    assert (conv.id, conv.agent_id, conv.team) == ("call-7", "A12", "T1")
    assert conv.started_at is not None and conv.started_at.isoformat() == "2024-05-01T09:30:00+08:00"
    assert conv.metadata == {"queue": "billing"}


def test_bad_sidecar_names_the_sidecar(tmp_path: Path) -> None:
    path = stereo(tmp_path / "rec.wav")
    (tmp_path / "rec.json").write_text("{not json", encoding="utf-8")
    err = _error_file(path)
    assert err.code is E.INVALID_JSON and err.file == str(tmp_path / "rec.json")


def _error_file(path: Path) -> InputError:
    with pytest.raises(InputError) as err:
        conversation_from_audio(path, settings=Settings())
    return err.value


def test_manifest_rows_by_stem(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "file,id,agent_id,team,started_at,queue\nc1.wav,x1,A1,T,2024-05-01 09:30:00,vip\nc2.mp3,,A2,,,\n",
        encoding="utf-8",
    )
    rows = read_audio_manifest(manifest)
    assert rows == {
        "c1": {
            "id": "x1",
            "agent_id": "A1",
            "team": "T",
            "started_at": "2024-05-01 09:30:00",
            "queue": "vip",
        },
        "c2": {"agent_id": "A2"},
    }
    (tmp_path / "bad.csv").write_text("name,agent\nc1,A\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_audio_manifest(tmp_path / "bad.csv")
    assert err.value.code is E.CSV_COLUMNS


def test_folder_reads_audio_with_manifest_and_skips_metadata_files(tmp_path: Path) -> None:
    stereo(tmp_path / "c1.wav")
    stereo(tmp_path / "c2.wav")
    (tmp_path / "c2.json").write_text(json.dumps({"agent_id": "S2"}), encoding="utf-8")
    (tmp_path / "manifest.csv").write_text("file,agent_id,queue\nc1.wav,M1,vip\n", encoding="utf-8")
    (tmp_path / "bad.wav").write_text("not audio", encoding="utf-8")
    names = [p.name for p in iter_input_files([tmp_path])]
    assert names == ["bad.wav", "c1.wav", "c2.wav"]
    results = list(read_conversations([tmp_path], settings=Settings()))
    assert isinstance(results[0], InputError) and results[0].code is E.AUDIO_UNREADABLE
    convs = [r for r in results if isinstance(r, Conversation)]
    assert [(c.id, c.agent_id, c.metadata) for c in convs] == [
        ("c1", "M1", {"queue": "vip"}),
        ("c2", "S2", {}),
    ]
