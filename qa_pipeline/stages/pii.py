"""The ``pii`` stage: mask phone, ID, bank-card and e-mail data everywhere on a conversation.

After it runs, ``Turn.text`` (and each ASR ``Word.text``) holds the masked display text, every
string inside ``Conversation.metadata`` (keys and values) is masked too, ``conv.pii`` lists the
masked spans of the turn texts and ``conv.pii_masked`` is True. Masking keeps lengths, so offsets
computed before or after it agree. Re-running is idempotent: masked text is not detected again and
earlier spans are kept. Names and addresses are not masked in this version.

Identifiers are not masked but refused: a conversation whose ``id``, ``agent_id`` or ``team``
holds a phone, ID, card number or e-mail fails with :class:`InputError` (``QA106``), whatever
``types`` says, and the error does not repeat the value, so no raw identifier reaches storage.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from qa_pipeline.errors import E, InputError
from qa_pipeline.pipeline import BuildContext, Stage, StageConfig, registry
from qa_pipeline.text.pii import PII_TYPES, MaskPolicy, identifier_is_personal, mask_text, mask_value
from qa_pipeline.types import Conversation, PiiSpan, PiiType, Turn

__all__ = ["IDENTIFIER_FIELDS", "Pii", "PiiConfig", "check_identifiers", "mask_text", "mask_value"]

#: Conversation fields stored as they are, so they must not hold personal data
IDENTIFIER_FIELDS: tuple[str, ...] = ("id", "agent_id", "team")
IDENTIFIER_DETAIL = (
    "looks like personal data (a phone/ID/card number or e-mail); use a non-personal identifier"
)


class PiiConfig(StageConfig):
    types: list[PiiType] = Field(default_factory=lambda: list(PII_TYPES))
    """Which detectors run."""
    keep_first: int = 3
    """Leading digits left visible in phone and ID numbers."""
    keep_last: int = 4
    """Trailing digits left visible in phone and ID numbers."""
    card_keep_last: int = 4
    """Trailing digits left visible in bank-card numbers."""
    mask_char: str = "*"

    @model_validator(mode="after")
    def _policy_ok(self) -> PiiConfig:
        self.policy()  # raises ValueError, reported as a stage-config error
        return self

    def policy(self) -> MaskPolicy:
        return MaskPolicy(self.keep_first, self.keep_last, self.card_keep_last, self.mask_char)


def check_identifiers(conv: Conversation) -> None:
    """Raise :class:`InputError` (not naming the value) if id, agent_id or team is personal data."""
    for field in IDENTIFIER_FIELDS:
        value = getattr(conv, field)
        if isinstance(value, str) and identifier_is_personal(value):
            raise InputError(E.BAD_FIELD, IDENTIFIER_DETAIL, field=field, record=None)


class Pii(Stage):
    name = "pii"
    requires = ("turns.text",)
    assigns = ("pii", "turns.text")

    def __init__(self, config: PiiConfig) -> None:
        self.config = config
        self.types: tuple[PiiType, ...] = tuple(config.types)
        self.policy = config.policy()

    def __call__(self, conv: Conversation) -> Conversation:
        check_identifiers(conv)
        spans = list(conv.pii) if conv.pii_masked else []
        for index, turn in enumerate(conv.turns):
            turn.text, found = mask_text(turn.text, self.types, self.policy)
            spans.extend(PiiSpan(turn=index, type=t, start_char=s, end_char=e) for t, s, e in found)
            self._mask_words(turn)
        conv.metadata = mask_value(conv.metadata, self.types, self.policy)
        conv.pii = _unique_sorted(spans)
        conv.pii_masked = True
        return conv

    def _mask_words(self, turn: Turn) -> None:
        """Mask ASR words as one string (a number is often split over words), then split it back."""
        if not turn.words:
            return
        joined, found = mask_text("".join(w.text for w in turn.words), self.types, self.policy)
        if not found:
            return
        pos = 0
        for word in turn.words:
            word.text, pos = joined[pos : pos + len(word.text)], pos + len(word.text)


def _unique_sorted(spans: list[PiiSpan]) -> list[PiiSpan]:
    seen = {(s.turn, s.start_char, s.end_char, s.type): s for s in spans}
    return [seen[k] for k in sorted(seen)]


@registry.register("pii", config=PiiConfig)
def make_pii(config: PiiConfig, ctx: BuildContext) -> Pii:
    return Pii(config)
