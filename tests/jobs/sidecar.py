"""A real stand-in for speech recognition: the transcript comes from a JSON file next to the upload.

``SidecarSource(folder)`` reads ``<folder>/<original file name>.json`` (one conversation in the
``dialogues.jsonl`` format) and builds the conversation the audio reader would have built, with the
job's conversation id and metadata. It lets the job machinery be tested end to end where the
speech model or the audio reader is not available.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa_pipeline.jobs import CallPayload
from qa_pipeline.pipeline import Pipeline
from qa_pipeline.settings import Settings
from qa_pipeline.sources.jsonl import conversation_from_dict
from qa_pipeline.types import Conversation
from tests.api.helpers import LIGHT_STAGES
from tests.asr.audio_files import tone, write_wav

TRANSCRIPT = {
    "turns": [
        {"speaker": "agent", "text": "您好，请问有什么可以帮您？", "start": 0.0, "end": 1.5},
        {"speaker": "customer", "text": "我的快递三天了还没到，太慢了。", "start": 1.6, "end": 3.0},
        {"speaker": "agent", "text": "非常抱歉，我马上帮您查询。", "start": 3.1, "end": 4.2},
    ]
}


@dataclass
class SidecarSource:
    folder: Path

    def __call__(self, path: Path, payload: CallPayload, settings: Settings) -> Conversation:
        assert path.is_file(), "the worker must hand over the spooled recording"
        file = self.folder / f"{payload.filename}.json"
        data = json.loads(file.read_text(encoding="utf-8"))
        data = {**payload.metadata, **data, "id": payload.conversation_id}
        return conversation_from_dict(data, settings=settings, source=file.name)


def write_transcript(folder: Path, filename: str, transcript: dict[str, object] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{filename}.json"
    path.write_text(json.dumps(transcript or TRANSCRIPT, ensure_ascii=False), encoding="utf-8")
    return path


def write_call(path: Path, seconds: float = 1.0, *, channels: int = 2) -> Path:
    """A small 16 kHz WAV: a tone on each channel."""
    rate = 16_000
    data = np.stack([tone(rate, seconds, 440.0 + 110 * c) for c in range(channels)])
    return write_wav(path, data, rate)


def light_pipeline_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "light.yaml"
    path.write_text("name: light\nstages:\n" + "".join(f"  - stage: {s}\n" for s in LIGHT_STAGES))
    return path


@dataclass
class PipelineFactoryCounter:
    """Builds the light text pipeline and counts how often it was asked to."""

    config: Path
    calls: int = 0

    def __call__(self, settings: Settings) -> Pipeline:
        self.calls += 1
        return Pipeline.from_config(self.config, settings=settings)
