"""The ``asr`` stage: a call recording (``Conversation.audio``) becomes timed, attributed turns.

Turns are built from word timings, not from Whisper segments (a segment can span several turns):
each channel's word stream is split at a gap longer than ``turn_gap_s``, or at sentence-final
punctuation followed by a gap longer than ``sentence_gap_s``. Each turn keeps its words (text,
times, probability); its start/end are its first word's start and its last word's end.

Speakers:

- **stereo**: one channel per role (``settings.asr_agent_channel`` is the agent's side); both
  channels' turns are merged by start time, so overlapping speech stays overlapping
  (``role_confidence`` 1.0).
- **mono**: no diarisation. In a mono mix the gap between speakers is often as short as a pause
  after a comma, so the stream is cut into clauses (punctuation + a gap over ``sentence_gap_s``,
  or any gap over ``turn_gap_s``). Each clause's role comes from agent vs customer phrasing (a
  trained role classifier named by ``role_model``, or a phrase list) combined with turn-taking
  (pauses, questions, the agent opening the call) in a two-state HMM, :mod:`qa_pipeline.asr.roles`.
  Same-role clauses are merged into turns; ``role_confidence`` is the mean posterior of a turn's clauses.

Less than ``min_speech_s`` of audio, or audio in which nothing is recognised, gives zero turns and
the flag ``no_speech``. Texts with no ``audio`` pass through unchanged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from qa_pipeline.asr.checkpoint import ChunkStore
from qa_pipeline.asr.decode import ChunkOptions
from qa_pipeline.asr.model import BUNDLED_MODEL_SHA256, BUNDLED_NAME, WhisperSpec, load_model, sha256_of
from qa_pipeline.asr.roles import Clause, RoleOptions, agent_probabilities, decide_roles
from qa_pipeline.asr.transcribe import (
    Segment,
    TranscribeOptions,
    Transcript,
    prefill_chunks,
    transcribe_file,
)
from qa_pipeline.classifiers import load_classifier
from qa_pipeline.classifiers.base import TextClassifier
from qa_pipeline.errors import E, InputError
from qa_pipeline.pipeline import BuildContext, Stage, StageConfig, registry
from qa_pipeline.settings import Settings
from qa_pipeline.types import AudioRef, Conversation, Speaker, Turn, Word

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger(__name__)

NO_SPEECH_FLAG = "no_speech"
_SENTENCE_END = re.compile(r"[。！？!?…；;]$")
_CLAUSE_END = re.compile(r"[,，。！？!?…；;、]$")
_LATIN = re.compile(r"[A-Za-z]")


class AsrConfig(StageConfig):
    """Turn building (seconds) and decoding options of the ``asr`` stage."""

    turn_gap_s: float = Field(default=0.8, gt=0)
    sentence_gap_s: float = Field(default=0.3, ge=0)
    min_speech_s: float = Field(default=0.5, ge=0)
    beam_size: int = Field(default=5, ge=1, le=20)
    vad: bool = True
    # The engine's default (on). Rule for any decoding change (issue 11): keep it only if it wins on the
    # dev calls AND on the human-reference clips, so a choice fitted to the dev calls does not ship.
    # Off won 2 characters of 1,982 on the dev calls (CER 0.2114 vs 0.2124), tied on the clips (0.1154)
    # and lost on the mono call (0.1443 vs 0.1393): not kept, although it decodes ~25 % faster
    # (python -m bench.asr_eval --variants cond_on). Unseen calls had shown the product 0.246 vs 0.237 raw.
    condition_on_previous_text: bool = True
    hotwords: str | None = None  # decoder hint phrases (see RUBRIC_HOTWORDS); None: none
    vad_min_silence_ms: int = Field(default=2000, ge=0)
    # Both channels at once when the model has >= 2 workers (settings.asr_num_workers): RTF 0.080 vs
    # 0.141 one after the other, identical text (python -m bench.asr_eval --parallel-calls 3)
    parallel_channels: bool = True
    # Mono calls: a role classifier (folder under QA_MODELS_DIR, or a path; train it with
    # `python -m training.train_role`). None: the phrase list. Measured by `python -m bench.mono_roles`
    # (48 dev calls flattened to mono, share of characters right): phrase list 0.717, the classifier
    # trained on JDDC + STC-3 chat 0.590 (it does not transfer to telephone speech), so None.
    role_model: str | None = None
    roles: RoleOptions = Field(default_factory=RoleOptions)


# Rubric dictionary terms and greeting/closing phrases telephone Whisper tends to mishear
# (工号 -> 功耗). Off by default: ``python -m bench.asr_eval`` measured stereo CER 0.2528 with them
# vs 0.2124 without, and 3x slower decoding (hallucinated repeats).
RUBRIC_HOTWORDS = "您好 工号 客服 请问 稍等 久等 抱歉 身份证 后四位 验证码 满意 评价 投诉 退款 再见"


class AsrStage(Stage):
    name = "asr"
    requires = ()
    assigns = ("turns.text", "turns.speaker", "turns.start", "turns.end", "turns.words")

    def __init__(
        self,
        model: WhisperModel,
        model_id: str,
        config: AsrConfig,
        settings: Settings,
        role_classifier: TextClassifier | None = None,
    ) -> None:
        self.model = model
        self.model_id = model_id
        self.config = config
        self.settings = settings
        self.role_classifier = role_classifier

    @property
    def version(self) -> str:
        return self.model_id

    def __call__(self, conv: Conversation) -> Conversation:
        if conv.audio is None:
            return conv
        audio = conv.audio
        if audio.duration_s is not None and audio.duration_s < self.config.min_speech_s:
            return _no_speech(conv, self.model_id, audio.duration_s, 0.0)
        transcript = self._transcribe(conv, audio)
        conv.turns = build_turns(transcript.segments, audio.channels, self.config, self.role_classifier)
        conv.metadata["asr"] = {
            "model": self.model_id,
            "rtf": round(transcript.rtf, 4),
            "audio_s": round(transcript.audio_s, 3),
        }
        if not conv.turns:
            conv.flags.append(NO_SPEECH_FLAG)
        return conv

    def prefill(self, conv: Conversation, part: int, parts: int) -> int:
        """Transcribe this share (``part`` of ``parts``) of the recording's chunks into its checkpoint
        folder, as :meth:`__call__` would, so that several workers share one long recording; how many
        chunks were decoded (0 when another worker had done them)."""
        audio = conv.audio
        if audio is None or not audio.checkpoint:
            return 0
        opts = self._options(audio)
        try:
            return prefill_chunks(audio.path, opts, self.model, self._store(audio, opts), part, parts)
        except InputError as exc:
            raise _audio_error(exc, conv, audio) from None

    def _store(self, audio: AudioRef, opts: TranscribeOptions) -> ChunkStore:
        # what decides the transcript: not how many chunks this host decodes at once (parallel_channels
        # follows each host's QA_ASR_NUM_WORKERS), so workers on other hosts share the chunks
        decoding = opts.model_dump_json(exclude={"parallel_channels"})
        return ChunkStore(Path(audio.checkpoint or "."), f"{self.model_id}|{decoding}")

    def _transcribe(self, conv: Conversation, audio: AudioRef) -> Transcript:
        opts = self._options(audio)
        store = self._store(audio, opts) if audio.checkpoint else None
        try:
            return transcribe_file(audio.path, opts, self.model, store)
        except InputError as exc:
            raise _audio_error(exc, conv, audio) from None

    def _options(self, audio: AudioRef) -> TranscribeOptions:
        chunk_s = self.settings.asr_chunk_s
        return TranscribeOptions(
            beam_size=self.config.beam_size,
            vad=self.config.vad,
            condition_on_previous_text=self.config.condition_on_previous_text,
            hotwords=self.config.hotwords,
            vad_min_silence_ms=self.config.vad_min_silence_ms,
            parallel_channels=self.config.parallel_channels and self.settings.asr_num_workers > 1,
            agent_channel=audio.agent_channel,
            chunk=ChunkOptions(
                chunk_s=chunk_s, search_s=min(20.0, chunk_s / 2), max_s=self.settings.max_audio_s
            ),
        )


def _audio_error(exc: InputError, conv: Conversation, audio: AudioRef) -> InputError:
    """A decoding failure as the typed error of the recording (unreadable, too long, ...)."""
    kept = (E.FILE_NOT_FOUND, E.AUDIO_TOO_LONG, E.AUDIO_CHANNELS)
    code = exc.code if exc.code in kept else E.AUDIO_UNREADABLE
    return InputError(code, exc.detail, file=audio.path, record=conv.id)


def _no_speech(conv: Conversation, model_id: str, audio_s: float, rtf: float) -> Conversation:
    conv.turns = []
    conv.flags.append(NO_SPEECH_FLAG)
    conv.metadata["asr"] = {"model": model_id, "rtf": rtf, "audio_s": round(audio_s, 3)}
    return conv


# -- turns from words -------------------------------------------------------------------------


def build_turns(
    segments: Sequence[Segment],
    n_channels: int,
    config: AsrConfig,
    role_classifier: TextClassifier | None = None,
) -> list[Turn]:
    """Turns of every channel, merged by start time (see the module docstring)."""
    turns: list[tuple[float, int, Turn]] = []
    for channel in sorted({s.channel for s in segments}):
        own = [s for s in segments if s.channel == channel]
        words, speaker = _channel_words(own), own[0].speaker
        if speaker is None or n_channels != 2:
            made = assign_mono_roles(split_clauses(words, config), config, role_classifier)
        else:
            made = [_turn(g, speaker, 1.0) for g in split_words(words, config)]
        turns += [(t.start or 0.0, channel, t) for t in made]
    return [t for _, _, t in sorted(turns, key=lambda x: (x[0], x[1]))]


def _channel_words(segments: Iterable[Segment]) -> list[Word]:
    """Words of one channel in time order; a segment without word times counts as one word."""
    words: list[Word] = []
    for seg in segments:
        words += seg.words or [Word(text=seg.text, start=seg.start, end=seg.end)]
    return sorted((w for w in words if w.text), key=lambda w: (w.start, w.end))


def split_words(words: Sequence[Word], config: AsrConfig) -> list[list[Word]]:
    """Split a word stream at long gaps, or at sentence ends followed by a shorter gap."""
    groups: list[list[Word]] = []
    for word in words:
        if groups and not _breaks(groups[-1][-1], word, config):
            groups[-1].append(word)
        else:
            groups.append([word])
    return groups


def _breaks(prev: Word, word: Word, config: AsrConfig) -> bool:
    gap = round(word.start - prev.end, 3)
    if gap > config.turn_gap_s:
        return True
    return gap > config.sentence_gap_s and bool(_SENTENCE_END.search(prev.text))


def join_words(words: Iterable[Word]) -> str:
    """Words as text: no space between words (Chinese, digits), one between two Latin words."""
    out = ""
    for word in words:
        if out and _LATIN.match(word.text[0]) and _LATIN.match(out[-1]):
            out += " "
        out += word.text
    return out


def _turn(words: list[Word], speaker: Speaker, confidence: float) -> Turn:
    return Turn(
        speaker=speaker,
        text=join_words(words),
        start=words[0].start,
        end=max(w.end for w in words),
        words=words,
        role_confidence=confidence,
    )


def split_clauses(words: Sequence[Word], config: AsrConfig) -> list[list[Word]]:
    """Mono: split at any punctuation followed by a gap over ``sentence_gap_s``, or a long gap.

    In a mono mix the gap between two speakers is often no longer than a pause after a comma, so
    the clause is the unit roles are decided on; same-role clauses are then merged into turns.
    """
    groups: list[list[Word]] = []
    for word in words:
        prev = groups[-1][-1] if groups else None
        if prev is not None and not _clause_break(prev, word, config):
            groups[-1].append(word)
        else:
            groups.append([word])
    return groups


def _clause_break(prev: Word, word: Word, config: AsrConfig) -> bool:
    gap = round(word.start - prev.end, 3)  # word times are on a 20 ms grid: 5.95 - 5.65 is 0.3
    return gap > config.turn_gap_s or (gap >= config.sentence_gap_s and bool(_CLAUSE_END.search(prev.text)))


def assign_mono_roles(
    clauses: Sequence[list[Word]], config: AsrConfig, role_classifier: TextClassifier | None = None
) -> list[Turn]:
    """Mono: each clause's role from the role model (classifier + turn-taking, see
    :mod:`qa_pipeline.asr.roles`); consecutive clauses of one role are merged into a turn."""
    views = [Clause(join_words(w), w[0].start, max(x.end for x in w)) for w in clauses]
    p_agent = agent_probabilities([c.text for c in views], role_classifier)
    decisions = decide_roles(views, p_agent, config.turn_gap_s, config.roles)
    return _merge_same_role(clauses, [(d.speaker, d.confidence) for d in decisions])


def _merge_same_role(clauses: Sequence[list[Word]], roles: Sequence[tuple[Speaker, float]]) -> list[Turn]:
    turns: list[Turn] = []
    confidences: list[list[float]] = []
    for words, (speaker, confidence) in zip(clauses, roles, strict=True):
        if turns and turns[-1].speaker == speaker:
            turns[-1] = _turn(turns[-1].words + words, speaker, 0.0)
            confidences[-1].append(confidence)
        else:
            turns.append(_turn(list(words), speaker, 0.0))
            confidences.append([confidence])
    for turn, values in zip(turns, confidences, strict=True):
        turn.role_confidence = round(sum(values) / len(values), 3)
    return turns


# -- factory ----------------------------------------------------------------------------------


def whisper_spec(settings: Settings) -> WhisperSpec:
    return WhisperSpec(
        model_dir=settings.asr_model_dir,
        device=settings.asr_device,
        compute_type=settings.asr_compute_type,
        cpu_threads=settings.asr_cpu_threads,
        num_workers=settings.asr_num_workers,
    )


def model_id(spec: WhisperSpec) -> str:
    """``name@sha256-prefix`` of the model the spec loads (the stage's version)."""
    if spec.model_dir is None:
        return f"{BUNDLED_NAME}@{BUNDLED_MODEL_SHA256[:12]}"
    digest, _ = sha256_of([Path(spec.model_dir) / "model.bin"])
    return f"{Path(spec.model_dir).name}@{digest[:12]}"


@registry.register("asr", config=AsrConfig)
def make_asr(config: AsrConfig, ctx: BuildContext) -> Stage:
    spec = whisper_spec(ctx.settings)
    model = ctx.shared(f"whisper:{spec.model_dump_json()}", lambda: load_model(spec))
    ident = ctx.shared(f"whisper_id:{spec.model_dump_json()}", lambda: model_id(spec))
    return AsrStage(model, ident, config, ctx.settings, _role_classifier(config, ctx))


def _role_classifier(config: AsrConfig, ctx: BuildContext) -> TextClassifier | None:
    name = config.role_model
    if name is None:
        return None
    models_dir = ctx.settings.models_dir
    return ctx.shared(f"classifier:{name}", lambda: load_classifier(name, models_dir=models_dir))
