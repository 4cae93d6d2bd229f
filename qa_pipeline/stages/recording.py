"""The ``recording`` stage: keep a call's recording for playback with spoken personal data silenced
(see :mod:`qa_pipeline.recordings`). Runs after ``pii``; chats (no audio) pass through."""

from __future__ import annotations

from qa_pipeline.pipeline import BuildContext, Stage, StageConfig, registry
from qa_pipeline.recordings import store_recording
from qa_pipeline.settings import Settings
from qa_pipeline.types import Conversation


class RecordingConfig(StageConfig):
    """No options: the folder and whether originals are kept are settings (QA_AUDIO_DIR, ...)."""


class RecordingStage(Stage):
    name = "recording"
    requires = ("pii",)
    assigns = ()

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self, conv: Conversation) -> Conversation:
        if conv.audio is not None and conv.pii_masked:
            store_recording(conv, self.settings)
        return conv


@registry.register("recording", config=RecordingConfig)
def make_recording(_cfg: RecordingConfig, ctx: BuildContext) -> Stage:
    return RecordingStage(ctx.settings)
