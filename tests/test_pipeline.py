"""The stage contract, registry and runner: per-stage error isolation, order, config errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qa_pipeline.errors import E, PipelineError
from qa_pipeline.pipeline import (
    SETTLED_GC_THRESHOLD,
    BuildContext,
    Failure,
    Pipeline,
    Stage,
    StageConfig,
    registry,
    settle_heap,
)
from qa_pipeline.settings import Settings
from qa_pipeline.types import Conversation, Turn


def conv(cid: str, text: str = "您好") -> Conversation:
    return Conversation(id=cid, channel="chat", turns=[Turn(speaker="agent", text=text)])


class Upper(Stage):
    name = "upper"
    requires = ("turns.text",)
    assigns = ("turns.norm",)

    def __call__(self, c: Conversation) -> Conversation:
        for t in c.turns:
            t.norm = t.text.upper()
        return c


class Explodes(Stage):
    """Fails on conversations whose text contains 'boom' — a stage bug, not bad input."""

    name = "explodes"
    requires = ("turns.norm",)

    def __call__(self, c: Conversation) -> Conversation:
        if "BOOM" in c.turns[0].norm:
            raise ValueError("kaput")
        c.flags.append("seen")
        return c


def test_failing_conversation_is_isolated_and_batch_order_kept() -> None:
    pipe = Pipeline([Upper(), Explodes()])
    out = pipe.run_batch([conv("a"), conv("b", "boom"), conv("c")])
    assert [type(o).__name__ for o in out] == ["Conversation", "Failure", "Conversation"]
    failure = out[1]
    assert isinstance(failure, Failure) and failure.conversation_id == "b"
    assert failure.error.code is E.STAGE_CRASHED and failure.error.http_status == 500
    assert "explodes" in failure.error.message and "ValueError" in failure.error.message
    assert "kaput" not in failure.error.message  # an exception's text may quote unmasked input
    assert all("seen" in o.flags for o in out if isinstance(o, Conversation))


def test_pipe_streams_in_batches_in_input_order() -> None:
    pipe = Pipeline([Upper(), Explodes()])
    out = list(pipe.pipe((conv(str(i), "boom" if i == 3 else "x") for i in range(7)), batch_size=2))
    assert [o.conversation_id if isinstance(o, Failure) else o.id for o in out] == [str(i) for i in range(7)]


def test_requirements_are_checked_when_the_pipeline_is_built() -> None:
    with pytest.raises(PipelineError) as err:
        Pipeline([Explodes(), Upper()])
    assert err.value.code is E.STAGE_REQUIREMENT and "turns.norm" in err.value.message


def test_unknown_stage_and_bad_stage_config_are_typed_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "p.yaml"
    cfg.write_text("stages:\n  - stage: nosuch\n", encoding="utf-8")
    with pytest.raises(PipelineError) as err:
        Pipeline.from_config(cfg, Settings())
    assert err.value.code is E.UNKNOWN_STAGE
    cfg.write_text(
        "stages:\n  - stage: timing\n    config: {pause_threshold_s: -1, colour: red}\n", encoding="utf-8"
    )
    with pytest.raises(PipelineError) as err:
        Pipeline.from_config(cfg, Settings())
    assert err.value.code is E.STAGE_CONFIG and "timing" in err.value.message


@pytest.mark.parametrize("body", ["", "stages: []\n", "name: x\n", "stages: [1, 2]\n", "stages: [: oops\n"])
def test_malformed_pipeline_yaml_is_a_typed_error(tmp_path: Path, body: str) -> None:
    cfg = tmp_path / "p.yaml"
    cfg.write_text(body, encoding="utf-8")
    with pytest.raises(PipelineError) as err:
        Pipeline.from_config(cfg, Settings())
    assert err.value.code is E.STAGE_CONFIG and str(cfg) in err.value.message


def test_registry_builds_with_shared_resources_and_stamps_versions() -> None:
    ctx = BuildContext(settings=Settings())
    loads: list[int] = []
    assert ctx.shared("k", lambda: loads.append(1) or "model") == ctx.shared(
        "k", lambda: loads.append(1) or "x"
    )
    assert loads == [1]
    assert {"normalize", "pii", "segment", "rubric", "sentiment"} <= set(registry.names())


def test_registering_a_stage_by_name_makes_it_buildable_from_config(tmp_path: Path) -> None:
    class ShoutConfig(StageConfig):
        times: int = 1

    @registry.register("shout_test", config=ShoutConfig)
    def make(cfg: ShoutConfig, ctx: BuildContext) -> Stage:
        return Upper()

    cfg = tmp_path / "p.yaml"
    cfg.write_text("name: custom\nstages:\n  - stage: shout_test\n    config: {times: 2}\n", encoding="utf-8")
    pipe = Pipeline.from_config(cfg, Settings())
    done = pipe(conv("z", "hi"))
    assert done.turns[0].norm == "HI" and done.versions.pipeline.endswith("+custom")


class RejectsInput(Stage):
    name = "rejects"

    def __call__(self, c: Conversation) -> Conversation:
        from qa_pipeline.errors import InputError

        raise InputError(E.BAD_FIELD, "no good", field="turns")


def test_typed_stage_error_keeps_its_client_status() -> None:
    (out,) = Pipeline([RejectsInput()]).run_batch([conv("q")])
    assert isinstance(out, Failure)
    assert out.error.code is E.STAGE_FAILED and out.error.http_status == 422


def test_error_messages_never_carry_raw_personal_numbers() -> None:
    from qa_pipeline.errors import InputError

    err = InputError(E.BAD_FIELD, "speaker '客户13812345678' unknown", record="13912345678", field="speaker")
    assert "13812345678" not in err.message and "13912345678" not in err.message
    assert "13912345678" not in str(err.to_dict())


def test_failure_of_a_personal_id_does_not_carry_it() -> None:
    out = Pipeline.from_config(settings=Settings()).run_batch([conv("13812345678")])
    (failure,) = out
    assert isinstance(failure, Failure)
    assert "13812345678" not in failure.conversation_id and "13812345678" not in failure.error.message


class Deferred(Pipeline):
    """Scores a batch only when its results are asked for, and logs when batches start and finish
    (as a pipeline with worker processes behaves)."""

    def __init__(self, log: list[str]) -> None:
        super().__init__([Upper(), Explodes()])
        self.log = log

    def start_batch(self, batch: list[Conversation]) -> Any:
        self.log.append("start " + ",".join(c.id for c in batch))
        pipeline, log = self, self.log

        class Handle:
            ahead = True

            def result(self) -> list[Conversation | Failure]:
                log.append("results " + ",".join(c.id for c in batch))
                return pipeline.run_batch(batch)

        return Handle()


def test_the_next_batch_starts_before_a_batch_is_stored() -> None:
    from qa_pipeline.audit import Auditor
    from qa_pipeline.errors import InputError

    log: list[str] = []
    items = [
        conv("a"),
        conv("b"),
        InputError(E.INVALID_JSON, "bad", record="r"),
        conv("c"),
        conv("d", "boom"),
    ]
    stored: list[str] = []
    summary = Auditor(Deferred(log), batch_size=2).run(items, on_done=lambda c: stored.append(c.id))
    assert log == ["start a,b", "start c,d", "results a,b", "results c,d"]
    assert stored == ["a", "b", "c"]  # in input order
    assert [p.conversation_id or p.error.record for p in summary.problems] == ["r", "d"]
    log.clear()
    ids = [
        o.id
        for o in Deferred(log).pipe([conv("x"), conv("y"), conv("z")], batch_size=1)
        if isinstance(o, Conversation)
    ]
    assert ids == ["x", "y", "z"]
    assert log == ["start x", "start y", "results x", "start z", "results y", "results z"]


class Counting(Stage):
    name = "counting"
    requires = ("turns.text",)

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, c: Conversation) -> Conversation:
        self.seen.append(c.id)
        return c


def _stored_before_a_broken_input(pipeline: Pipeline) -> list[str]:
    """What an audit stores of an input that breaks off after two conversations (batches of one)."""
    from qa_pipeline.audit import Auditor
    from qa_pipeline.errors import InputError

    def items() -> Iterator[Conversation]:
        yield conv("a")
        yield conv("b")
        raise InputError(E.INVALID_JSON, "the file broke off")

    stored: list[str] = []
    with pytest.raises(InputError):
        Auditor(pipeline, batch_size=1).run(items(), on_done=lambda c: stored.append(c.id))
    return stored


def test_in_process_nothing_runs_ahead() -> None:
    """Without worker processes a batch is scored when its results are asked for, and read from the
    input only after the previous batch is stored (an input error leaves the stored ones stored)."""
    counting = Counting()
    stream = Pipeline([counting]).pipe([conv("a"), conv("b"), conv("c")], batch_size=1)
    assert isinstance(next(stream), Conversation) and counting.seen == ["a"]
    assert _stored_before_a_broken_input(Pipeline([Upper()])) == ["a", "b"]


def test_in_process_the_next_input_is_read_after_the_batch_before_is_stored() -> None:
    from qa_pipeline.audit import Auditor

    events: list[str] = []

    def items() -> Iterator[Conversation]:
        for cid in ("a", "b", "c"):
            events.append(f"read {cid}")
            yield conv(cid)

    Auditor(Pipeline([Upper()]), batch_size=1).run(items(), on_done=lambda c: events.append(f"stored {c.id}"))
    assert events == ["read a", "stored a", "read b", "stored b", "read c", "stored c"]


def test_a_batch_scored_ahead_is_stored_before_an_input_error_goes_on() -> None:
    assert _stored_before_a_broken_input(Deferred([])) == ["a", "b"]


def test_settle_heap_freezes_once_and_collects_the_young_less_often() -> None:
    import gc

    before = (700, 10, 10)  # the interpreter's default (a module fixture may have settled a heap already)
    gc.set_threshold(*before)
    settle_heap()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == SETTLED_GC_THRESHOLD != before
    gc.set_threshold(*before)
    settle_heap()  # only the first call in a process settles
    assert gc.get_threshold() == before
