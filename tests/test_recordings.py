"""Stored recordings: the spoken PII spans are silent in the stored copy and the rest is not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa_pipeline.asr.decode import TARGET_RATE, decode_all
from qa_pipeline.recordings import pii_mutes, recording_path, store_recording
from qa_pipeline.settings import Settings
from qa_pipeline.types import AudioRef, Conversation, PiiSpan, Turn, Word
from tests.asr.audio_files import tone, write_wav


def conversation_with_recording(tmp_path: Path, *, aligned: bool = True) -> Conversation:
    rate, seconds = 8000, 4.0
    wav = write_wav(
        tmp_path / "call.wav", np.stack([tone(rate, seconds, 440.0), tone(rate, seconds, 660.0)]), rate
    )
    words = [
        Word(text="号码", start=1.0, end=1.2),
        Word(text="*" * 11, start=1.3, end=2.0),
        Word(text="好的", start=2.1, end=2.4),
    ]
    text = "号码" + "*" * 11 + "好的" if aligned else "号码是" + "*" * 11 + "好的"
    turns = [
        Turn(speaker="agent", text="请报一下手机号", start=0.0, end=0.9),
        Turn(speaker="customer", text=text, start=1.0, end=2.4, words=words),
    ]
    audio = AudioRef(path=str(wav), format="wav/pcm_s16le", channels=2, sample_rate=rate, duration_s=seconds)
    pii = [PiiSpan(turn=1, type="phone", start_char=2, end_char=13 if aligned else 14)]
    return Conversation(id="c-audio", channel="call", turns=turns, audio=audio, pii=pii, pii_masked=True)


def _rms(samples: np.ndarray, start: float, end: float) -> float:
    part = samples[int(start * TARGET_RATE) : int(end * TARGET_RATE)]
    return float(np.sqrt(np.mean(part.astype(np.float64) ** 2)))


def test_the_pii_span_is_silent_on_the_speakers_channel_and_the_rest_is_not(tmp_path: Path) -> None:
    settings = Settings(audio_dir=tmp_path / "audio")
    stored = store_recording(conversation_with_recording(tmp_path), settings)
    assert stored == recording_path(settings, "c-audio") and stored.is_file()
    left, right = decode_all(stored)
    assert _rms(right, 1.3, 2.0) < 1e-4  # the customer (right channel) read out the number here
    assert _rms(right, 0.2, 1.0) > 0.05 and _rms(right, 2.3, 3.9) > 0.05  # the rest is not silent
    assert _rms(left, 1.3, 2.0) > 0.05  # the agent's channel is untouched
    assert not (settings.audio_dir / "originals").exists()


def test_an_unplaceable_span_silences_the_whole_turn(tmp_path: Path) -> None:
    conv = conversation_with_recording(tmp_path, aligned=False)
    [mute] = pii_mutes(conv)
    assert (mute.channel, mute.start, mute.end) == (1, pytest.approx(0.85), pytest.approx(2.55))


def test_the_original_is_kept_only_when_asked(tmp_path: Path) -> None:
    settings = Settings(audio_dir=tmp_path / "audio", keep_original_audio=True)
    store_recording(conversation_with_recording(tmp_path), settings)
    [original] = (settings.audio_dir / "originals").iterdir()
    assert original.read_bytes() == (tmp_path / "call.wav").read_bytes()
