"""The emotion stage: customer turns get six-emotion predictions from the shipped model."""

from __future__ import annotations

import pytest

from qa_pipeline.pipeline import BuildContext, registry
from qa_pipeline.settings import Settings
from qa_pipeline.stages.emotion import EMOTIONS
from qa_pipeline.types import Conversation, Turn


@pytest.fixture(scope="module")
def stage():  # type: ignore[no-untyped-def]
    return registry.build("emotion", {}, BuildContext(settings=Settings()))


def test_customer_turns_only_by_default(stage) -> None:  # type: ignore[no-untyped-def]
    conv = Conversation(id="e", channel="chat", turns=[
        Turn(speaker="agent", text="您好，请问有什么可以帮您？"),
        Turn(speaker="customer", text="气死我了，等了一个星期还没到！"),
        Turn(speaker="customer", text="太好了，谢谢你们，真开心"),
    ])  # fmt: skip
    out = stage(conv)
    assert out.turns[0].emotion is None
    angry, happy = out.turns[1].emotion, out.turns[2].emotion
    assert angry is not None and happy is not None
    assert set(angry.probs) == set(EMOTIONS) and sum(angry.probs.values()) == pytest.approx(1.0)
    assert angry.probs["angry"] > angry.probs["happy"] and happy.probs["happy"] > happy.probs["angry"]
    assert stage.version.startswith("emotion-")


def test_speakers_are_configurable() -> None:
    stage = registry.build("emotion", {"speakers": ["agent", "customer"]}, BuildContext(settings=Settings()))
    conv = Conversation(id="e", channel="chat", turns=[Turn(speaker="agent", text="抱歉让您久等了")])
    assert stage(conv).turns[0].emotion is not None
