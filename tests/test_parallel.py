"""Batch audits in worker processes: same results, same order, failures kept per conversation."""

from __future__ import annotations

import pytest

from qa_pipeline.parallel import ProcessPipeline, split
from qa_pipeline.pipeline import Failure, Pipeline
from qa_pipeline.settings import Settings
from qa_pipeline.types import Conversation, Turn


def test_split_keeps_order_and_balances() -> None:
    items = [Conversation(id=str(i), channel="chat", turns=[]) for i in range(5)]
    parts = split(items, 2)
    assert [[c.id for c in p] for p in parts] == [["0", "1", "2"], ["3", "4"]]
    assert [len(p) for p in split(items[:1], 4)] == [1]


@pytest.mark.slow
def test_two_processes_give_the_in_process_results(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("qa_pipeline.parallel.PART", 8)  # several slices per worker, results in order
    settings = Settings()
    convs = [
        Conversation(
            id=f"c{i}",
            channel="chat",
            turns=[
                Turn(
                    speaker="agent",
                    text="您好，工号一二三，请问有什么可以帮您？",
                    start=float(i),
                    end=float(i),
                ),
                Turn(speaker="customer", text="我要投诉，等了一个星期还没到！", start=i + 5.0, end=i + 5.0),
                Turn(
                    speaker="agent",
                    text="非常抱歉，我马上帮您催一下，明天之前给您回电，再见。",
                    start=i + 9.0,
                    end=i + 9.0,
                ),
            ],
            metadata={"tags": ["vip"], "score": 1.5, "nested": {"a": [1, None]}},
        )
        for i in range(40)
    ]
    expected = Pipeline.from_config(settings=settings).run_batch([c.model_copy(deep=True) for c in convs])
    with ProcessPipeline(settings, 2) as pool:
        got = pool.run_batch([c.model_copy(deep=True) for c in convs])
        assert pool.run_batch([]) == []
    assert [g.id for g in got if isinstance(g, Conversation)] == [c.id for c in convs]
    for a, b in zip(expected, got, strict=True):
        assert not isinstance(a, Failure) and not isinstance(b, Failure)
        assert a == b  # every field, the turns' tokens and predictions too, survives the transport


def test_a_result_json_cannot_carry_fails_that_conversation_only() -> None:
    from qa_pipeline.errors import E
    from qa_pipeline.parallel import _decode
    from qa_pipeline.types import Metrics

    broken = Conversation(id="c1", channel="chat", turns=[], metrics=Metrics(overtalk_s=float("inf")))
    out = _decode(broken.model_dump_json(), "c1")  # inf is written as null, which a float refuses
    assert isinstance(out, Failure) and out.conversation_id == "c1"
    assert out.error.code is E.STAGE_CRASHED and "worker" in out.error.message
    fine = Conversation(id="c2", channel="chat", turns=[])
    assert _decode(fine.model_dump_json(), "c2") == fine


def test_a_result_json_cannot_write_fails_that_conversation_only() -> None:
    from qa_pipeline.errors import E
    from qa_pipeline.parallel import _encode

    odd = Conversation(id="c3", channel="chat", turns=[], metadata={"blob": object()})
    out = _encode(odd)
    assert isinstance(out, Failure) and out.conversation_id == "c3" and out.error.code is E.STAGE_CRASHED
    assert isinstance(_encode(Conversation(id="c4", channel="chat", turns=[])), str)
