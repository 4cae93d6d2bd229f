"""What ``qa audit`` and ``qa eval`` run: text and recordings through their own pipelines, with progress.

:class:`ByInputPipeline` sends text conversations through the text pipeline (in ``QA_WORKERS``
processes when set) and recordings through the audio pipeline (``asr`` first), each built on first
use and sharing loaded models; :class:`AudioProgress` puts audio hours and the real-time factor on
the progress bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qa_pipeline.pipeline import (
    DEFAULT_PIPELINE,
    BatchHandle,
    BuildContext,
    Failure,
    LazyBatch,
    Pipeline,
    load_pipeline_spec,
    registry,
    settle_heap,
)
from qa_pipeline.settings import PACKAGE_DIR, Settings
from qa_pipeline.types import Conversation

AUDIO_PIPELINE = PACKAGE_DIR / "config" / "pipeline.audio.yaml"


class ByInputPipeline(Pipeline):
    """Text conversations through the text pipeline, recordings (``audio`` set) through the audio
    pipeline (``asr`` first). Each is built on first use, sharing loaded models; order is kept."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.context = BuildContext(settings=settings)
        self.pipelines: dict[bool, Pipeline] = {}
        super().__init__([], name="by-input")

    def _get(self, audio: bool) -> Pipeline:
        if audio not in self.pipelines:
            path = AUDIO_PIPELINE if audio else (self.settings.pipeline_config or DEFAULT_PIPELINE)
            if not audio and self.settings.workers > 1:
                from qa_pipeline.parallel import ProcessPipeline

                self.pipelines[audio] = ProcessPipeline(self.settings, self.settings.workers, path)
                return self.pipelines[audio]
            spec = load_pipeline_spec(path)
            stages = [registry.build(s.stage, s.config, self.context) for s in spec.stages]
            self.pipelines[audio] = Pipeline(stages, name=spec.name)
            settle_heap()  # the first pipeline built in this process freezes the loaded models
        return self.pipelines[audio]

    def close(self) -> None:
        for pipeline in self.pipelines.values():
            close = getattr(pipeline, "close", None)
            if close is not None:
                close()

    def start_batch(self, batch: list[Conversation]) -> BatchHandle:
        """Text-only batches are handed to the text pipeline (its worker processes, if any, start at
        once); a batch with recordings is scored here, when its results are asked for."""
        if not batch or any(c.audio is not None for c in batch):
            return LazyBatch(self, batch)
        return self._get(False).start_batch(batch)

    def run_batch(self, batch: list[Conversation]) -> list[Conversation | Failure]:
        out: list[Conversation | Failure | None] = [None] * len(batch)
        for audio in (False, True):
            index = [i for i, c in enumerate(batch) if (c.audio is not None) is audio]
            if index:
                done = self._get(audio).run_batch([batch[i] for i in index])
                for i, result in zip(index, done, strict=True):
                    out[i] = result
        return [r for r in out if r is not None]


@dataclass
class AudioProgress:
    """Hours of audio transcribed and the real-time factor, shown on the progress bar."""

    bar: Any
    audio_s: float = 0.0
    elapsed_s: float = 0.0

    def add(self, conv: Conversation) -> None:
        asr = conv.metadata.get("asr")
        if not isinstance(asr, dict):
            return
        audio_s = float(asr.get("audio_s") or 0.0)
        self.audio_s += audio_s
        self.elapsed_s += float(asr.get("rtf") or 0.0) * audio_s
        rtf = self.elapsed_s / self.audio_s if self.audio_s else 0.0
        self.bar.set_postfix(audio_h=f"{self.audio_s / 3600:.2f}", rtf=f"{rtf:.3f}")
