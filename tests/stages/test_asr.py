"""The asr stage: turns from word timings, roles, and recordings with no speech."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from qa_pipeline.asr.decode import AudioChunk
from qa_pipeline.asr.transcribe import Segment, _parallel
from qa_pipeline.pipeline import BuildContext, Pipeline, registry
from qa_pipeline.settings import PACKAGE_DIR, Settings
from qa_pipeline.sources.audio import conversation_from_audio
from qa_pipeline.stages.asr import (
    AsrConfig,
    AsrStage,
    assign_mono_roles,
    build_turns,
    split_clauses,
    split_words,
)
from qa_pipeline.types import AudioRef, Word
from tests.asr.audio_files import write_wav

CFG = AsrConfig()


def words(*spec: tuple[str, float, float]) -> list[Word]:
    return [Word(text=t, start=s, end=e) for t, s, e in spec]


def seg(channel: int, speaker: str | None, ws: list[Word]) -> Segment:
    text = "".join(w.text for w in ws)
    return Segment(channel=channel, speaker=speaker, start=ws[0].start, end=ws[-1].end, text=text, words=ws)  # type: ignore[arg-type]


def test_split_at_long_gap_or_sentence_end_with_short_gap() -> None:
    ws = words(("您好", 0.0, 0.4), ("。", 0.4, 0.5), ("请问", 0.9, 1.2), ("稍等", 1.3, 1.6), ("好", 2.5, 2.7))
    assert [[w.text for w in g] for g in split_words(ws, CFG)] == [["您好", "。"], ["请问", "稍等"], ["好"]]
    # a comma followed by the same short gap does not end a stereo turn
    ws = words(("您好，", 0.0, 0.5), ("请问", 0.9, 1.2))
    assert len(split_words(ws, CFG)) == 1


def test_stereo_channels_merge_by_start_and_keep_overlaps() -> None:
    agent = words(("您好，", 0.0, 0.5), ("请问", 0.5, 1.0), ("有什么", 1.0, 2.0))
    customer = words(("我想", 1.5, 2.0), ("查话费", 2.0, 3.0))
    late = words(("好的", 5.0, 5.5))
    turns = build_turns([seg(0, "agent", agent), seg(1, "customer", customer), seg(0, "agent", late)], 2, CFG)
    assert [(t.speaker, t.start, t.end, t.text) for t in turns] == [
        ("agent", 0.0, 2.0, "您好，请问有什么"),
        ("customer", 1.5, 3.0, "我想查话费"),
        ("agent", 5.0, 5.5, "好的"),
    ]
    assert (turns[1].start or 0.0) < (turns[0].end or 0.0)  # the overlap is real
    assert [t.role_confidence for t in turns] == [1.0, 1.0, 1.0]
    assert [w.text for w in turns[0].words] == ["您好，", "请问", "有什么"]


def test_mono_roles_from_phrases_pauses_and_questions() -> None:
    ws = words(
        ("您好，", 0.0, 0.5),  # agent cue
        ("天和通信，", 0.8, 1.5),  # short pause: same speaker
        ("你们天天打电话，", 1.8, 3.0),  # customer cue
        ("烦死了，", 3.3, 4.0),  # same speaker
        ("抱歉", 5.5, 6.0),  # long pause, no cue: the other speaker
        ("要退订吗？", 6.3, 7.0),  # same speaker, ends with a question
        ("对", 7.3, 7.5),  # after a question: the other speaker
    )
    clauses = split_clauses(ws, CFG)
    turns = assign_mono_roles(clauses, CFG)  # no classifier: the phrase list
    assert [(t.speaker, t.text) for t in turns] == [
        ("agent", "您好，天和通信，"),
        ("customer", "你们天天打电话，烦死了，"),
        ("agent", "抱歉要退订吗？"),
        ("customer", "对"),
    ]
    assert all(t.role_confidence is not None and 0.5 <= t.role_confidence <= 1.0 for t in turns)


def test_mono_first_turn_is_agent_without_cues() -> None:
    turns = build_turns([seg(0, None, words(("嗯", 0.0, 0.3), ("好", 2.0, 2.2)))], 1, CFG)
    assert [t.speaker for t in turns] == ["agent", "customer"]


@pytest.fixture(scope="module")
def asr_pipeline() -> Pipeline:
    settings = Settings()
    stages = [registry.build(name, {}, BuildContext(settings=settings)) for name in ("asr",)]
    return Pipeline(stages)


@pytest.mark.parametrize("seconds", [0.3, 3.0])
def test_silence_gives_no_speech_and_zero_turns(
    tmp_path: Path, asr_pipeline: Pipeline, seconds: float
) -> None:
    path = write_wav(tmp_path / "silence.wav", np.zeros((2, int(8000 * seconds)), np.int16), 8000)
    conv = asr_pipeline(conversation_from_audio(path, settings=Settings()))
    assert conv.turns == [] and "no_speech" in conv.flags
    assert conv.metadata["asr"]["audio_s"] == seconds
    assert conv.versions.models["asr"].startswith("whisper-base")


def test_silence_through_the_whole_audio_pipeline(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "quiet.wav", np.zeros((2, 16000), np.int16), 8000)
    pipeline = Pipeline.from_config(PACKAGE_DIR / "config" / "pipeline.audio.yaml", settings=Settings())
    conv = pipeline(conversation_from_audio(path, settings=Settings()))
    assert conv.turns == [] and "no_speech" in conv.flags and conv.items


def test_decoding_options_come_from_the_stage_config(asr_pipeline: Pipeline) -> None:
    stage = asr_pipeline.stages[0]
    assert isinstance(stage, AsrStage)
    config = AsrConfig(hotwords="工号 您好", vad_min_silence_ms=700, parallel_channels=True)
    opts = AsrStage(stage.model, stage.model_id, config, Settings())._options(
        AudioRef(path="x.wav", channels=2, agent_channel="right")
    )
    assert (opts.hotwords, opts.vad_min_silence_ms, opts.parallel_channels) == ("工号 您好", 700, True)
    assert opts.agent_channel == "right"
    assert AsrConfig().hotwords is None or "工号" in AsrConfig().hotwords  # type: ignore[operator]


def test_parallel_chunks_keep_order_and_bound_the_chunks_in_flight() -> None:
    started: list[int] = []
    in_flight, peak = [0], [0]
    lock = threading.Lock()

    def run(chunk: AudioChunk) -> list[Segment]:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
            started.append(chunk.channel)
        time.sleep(0.02 if chunk.channel % 2 == 0 else 0.001)  # even chunks finish last
        with lock:
            in_flight[0] -= 1
        return [seg(chunk.channel, None, words((str(chunk.channel), chunk.start_s, chunk.start_s + 1)))]

    chunks = (AudioChunk(i, float(i), np.zeros(10, np.float32)) for i in range(6))
    out = list(_parallel(run, chunks, workers=2))
    assert [s.channel for s in out] == [0, 1, 2, 3, 4, 5]
    assert peak[0] == 2
