"""The stage contract, the stage registry and the pipeline runner.

A stage is a callable ``Conversation -> Conversation`` with ``requires``/``assigns`` (names of
annotations) and a ``pipe`` for batches. Stages are registered by name with a factory and built
from configuration (``qa_pipeline/config/pipeline.yaml``), never from code edits::

    @registry.register("normalize")
    def make_normalize(config: NormalizeConfig, ctx: BuildContext) -> Stage: ...

The runner is short on purpose: run each stage over a batch; when a stage fails, isolate the
conversation that broke it, report it as a :class:`StageError`, and go on with the rest.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qa_pipeline import __version__
from qa_pipeline.errors import E, PipelineError, QAError, StageError, disk_full_error, is_disk_full
from qa_pipeline.settings import Settings
from qa_pipeline.types import Conversation

log = logging.getLogger(__name__)

DEFAULT_PIPELINE = Path(__file__).parent / "config" / "pipeline.yaml"


class StageConfig(BaseModel):
    """Base for a stage's typed options; unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class StageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str
    config: dict[str, Any] = Field(default_factory=dict)


class PipelineSpec(BaseModel):
    """The pipeline YAML: a name and the ordered stages with their options."""

    model_config = ConfigDict(extra="forbid")

    name: str = "default"
    stages: list[StageSpec] = Field(min_length=1)


def load_pipeline_spec(path: Path) -> PipelineSpec:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return PipelineSpec.model_validate(raw)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PipelineError(
            E.STAGE_CONFIG, f"cannot read pipeline config {path}: {exc}", file=str(path)
        ) from exc
    except ValidationError as exc:
        raise PipelineError(E.STAGE_CONFIG, _first_error(exc), file=str(path)) from exc


class Stage:
    """Base class of every stage. Subclasses set ``name``/``requires``/``assigns`` and ``__call__``."""

    name: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    assigns: ClassVar[tuple[str, ...]] = ()

    def __call__(self, conv: Conversation) -> Conversation:  # pragma: no cover - abstract
        raise NotImplementedError

    def pipe(self, convs: Sequence[Conversation]) -> list[Conversation]:
        """Process a batch; override to batch model calls. Must return one output per input."""
        return [self(c) for c in convs]

    @property
    def version(self) -> str:
        """Version of the model or resource this stage uses ('' if none)."""
        return ""


@dataclass
class BuildContext:
    """What factories get besides their own config: settings and a per-pipeline resource cache."""

    settings: Settings
    cache: dict[str, Any] = field(default_factory=dict)

    def shared(self, key: str, load: Callable[[], Any]) -> Any:
        """Load a resource (model, rubric) once per pipeline and hand the same object to every stage."""
        if key not in self.cache:
            self.cache[key] = load()
        return self.cache[key]


C = TypeVar("C", bound=StageConfig)
Factory = Callable[[Any, BuildContext], Stage]


@dataclass
class _Entry:
    factory: Factory
    config_cls: type[StageConfig]


class Registry:
    """Stage factories by name (spaCy's ``@Language.factory``)."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def register(self, name: str, config: type[StageConfig] = StageConfig) -> Callable[[Factory], Factory]:
        def deco(factory: Factory) -> Factory:
            self._entries[name] = _Entry(factory, config)
            return factory

        return deco

    def names(self) -> list[str]:
        _load_builtin_stages()
        return sorted(self._entries)

    def build(self, name: str, raw: dict[str, Any], ctx: BuildContext) -> Stage:
        _load_builtin_stages()
        if name not in self._entries:
            raise PipelineError(E.UNKNOWN_STAGE, f"{name!r}; registered: {', '.join(sorted(self._entries))}")
        entry = self._entries[name]
        try:
            cfg = entry.config_cls.model_validate(raw or {})
        except ValidationError as exc:
            raise PipelineError(E.STAGE_CONFIG, f"stage {name!r}: {_first_error(exc)}") from exc
        return entry.factory(cfg, ctx)


registry = Registry()


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    return f"{loc}: {err['msg']}"


def _load_builtin_stages() -> None:
    """Import the modules that register the built-in stages (idempotent)."""
    import qa_pipeline.stages  # noqa: F401


def settle_heap() -> None:
    """Take what is loaded so far (models, vocabularies, dictionaries) out of the garbage collector's sight.

    Loaded models live as long as the process, yet collections keep walking their hundreds of thousands
    of objects. Call once after loading in a process that then runs many batches (worker processes, the
    API, ``qa audit``); with worker processes the benchmark ran about 10 % more chats/s. Scoring then
    makes many short-lived objects and few cycles, so the youngest generation is collected every
    :data:`SETTLED_GC_THRESHOLD` allocations instead of every 700 (5-10 % more chats/s again). The older
    generations keep their default ratios: cyclic garbage that pins a large buffer (an exception's
    traceback holding audio) waits for 10,000 new objects at most, not for a rare full collection.
    Only the first call in a process freezes: later pipelines (tests building many) are left to the
    collector.
    """
    if _HEAP_SETTLED:
        return
    _HEAP_SETTLED.append(True)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SETTLED_GC_THRESHOLD)


SETTLED_GC_THRESHOLD = (10_000, 10, 10)  # gen0 allocations, then gen1 and gen2 collection ratios


_HEAP_SETTLED: list[bool] = []  # non-empty once settle_heap() has frozen this process's heap


@dataclass
class Failure:
    """A conversation the pipeline could not process, and why."""

    conversation_id: str
    error: QAError


Result = Conversation | Failure


class BatchHandle(Protocol):
    """A batch handed to a pipeline: :meth:`result` returns its results in input order. ``ahead``:
    the scoring has started elsewhere (worker processes), so the caller may read and start the next
    batch before asking for this one's results."""

    @property
    def ahead(self) -> bool: ...

    def result(self) -> list[Result]: ...


class _RunsAhead(Protocol):
    @property
    def ahead(self) -> bool: ...


H = TypeVar("H", bound=_RunsAhead)


def one_ahead(started: Iterable[H]) -> Iterator[H]:
    """``started`` in order. One whose work runs ahead (worker processes) is handed out only once the
    next has been started, so the workers score that one while the caller stores this one; if starting
    the next fails (unreadable input), the one held is handed out before the error goes on."""
    held: H | None = None
    try:
        for item in started:
            if held is not None:
                yield held
                held = None
            if item.ahead:
                held = item
            else:
                yield item
    except Exception:
        if held is not None:
            yield held
        raise
    if held is not None:
        yield held


@dataclass(frozen=True)
class LazyBatch:
    """A batch an in-process pipeline scores when its results are asked for (nothing runs ahead)."""

    pipeline: Pipeline
    batch: list[Conversation]

    @property
    def ahead(self) -> bool:
        return False

    def result(self) -> list[Result]:
        return self.pipeline.run_batch(self.batch)


class Pipeline:
    """An ordered list of stages built from configuration."""

    def __init__(self, stages: list[Stage], name: str = "default") -> None:
        self.stages = stages
        self.name = name
        self._check_requirements()

    @classmethod
    def from_config(cls, path: Path | None = None, settings: Settings | None = None) -> Pipeline:
        settings = settings or Settings()
        spec = load_pipeline_spec(path or settings.pipeline_config or DEFAULT_PIPELINE)
        ctx = BuildContext(settings=settings)
        stages = [registry.build(s.stage, s.config, ctx) for s in spec.stages]
        return cls(stages, name=spec.name)

    def _check_requirements(self) -> None:
        have: set[str] = {"turns.text", "turns.speaker", "turns.start", "turns.end"}
        for stage in self.stages:
            missing = [r for r in stage.requires if r not in have]
            if missing:
                raise PipelineError(E.STAGE_REQUIREMENT, f"stage {stage.name!r} needs {missing}")
            have.update(stage.assigns)

    @property
    def version(self) -> str:
        return f"{__version__}+{self.name}"

    def __call__(self, conv: Conversation) -> Conversation:
        """Process one conversation; raises :class:`StageError` if a stage fails."""
        for stage in self.stages:
            conv = _run_one(stage, conv)
        return self._stamp(conv)

    def pipe(self, convs: Iterable[Conversation], batch_size: int = 32) -> Iterator[Conversation | Failure]:
        """Process conversations in batches; yields each result or a :class:`Failure`, in input order.
        With worker processes the next batch is started before a batch's results are handed out
        (see :meth:`start_batch`)."""
        for handle in one_ahead(self.start_batch(batch) for batch in _batched(convs, batch_size)):
            yield from handle.result()

    def start_batch(self, batch: list[Conversation]) -> BatchHandle:
        """Hand ``batch`` over. In-process it is scored when its results are asked for; a pipeline
        with worker processes (:class:`~qa_pipeline.parallel.ProcessPipeline`) starts it at once and
        returns, so the caller can store the previous batch's results while the workers score this one."""
        return LazyBatch(self, batch)

    def run_batch(self, batch: list[Conversation]) -> list[Conversation | Failure]:
        """Run every stage over a batch; a conversation that fails drops out as a :class:`Failure`."""
        slots: list[Conversation | Failure] = list(batch)
        for stage in self.stages:
            alive = [i for i, c in enumerate(slots) if isinstance(c, Conversation)]
            outputs = _run_stage_batch(stage, [slots[i] for i in alive])  # type: ignore[misc]
            for i, out in zip(alive, outputs, strict=True):
                slots[i] = out
        return [self._stamp(c) if isinstance(c, Conversation) else c for c in slots]

    def _stamp(self, conv: Conversation) -> Conversation:
        conv.versions.pipeline = self.version
        for stage in self.stages:
            if stage.version:
                conv.versions.models[stage.name] = stage.version
        return conv


def _run_one(stage: Stage, conv: Conversation) -> Conversation:
    try:
        return stage(conv)
    except StageError:
        raise
    except QAError as exc:
        raise StageError(stage.name, exc.message, cause=exc, record=conv.id) from exc
    except Exception as exc:  # a stage bug must not take the batch down, nor echo the text it saw
        if is_disk_full(exc):  # not a bug: the volume is full (a job retries it once space returns)
            cause = disk_full_error(exc)
            raise StageError(stage.name, cause.message, cause=cause, record=conv.id) from exc
        log.error(
            "stage %s crashed on %s: %s",
            stage.name,
            conv.id,
            type(exc).__name__,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        raise StageError(
            stage.name, f"{type(exc).__name__} (details in the log at DEBUG level)", record=conv.id
        ) from exc


def _run_stage_batch(stage: Stage, convs: list[Conversation]) -> list[Conversation | Failure]:
    """Run a stage on a batch; on failure fall back to one-by-one to isolate the bad conversation."""
    if not convs:
        return []
    try:
        out = stage.pipe(convs)
        if len(out) == len(convs):
            return list(out)
    except Exception:
        log.debug("stage %s failed on a batch; retrying one by one", stage.name)
    return [_run_isolated(stage, conv) for conv in convs]


def _run_isolated(stage: Stage, conv: Conversation) -> Conversation | Failure:
    try:
        return _run_one(stage, conv)
    except StageError as exc:
        return Failure(exc.record or "", exc)  # the error's record is the masked id


def _batched(items: Iterable[Conversation], n: int) -> Iterator[list[Conversation]]:
    batch: list[Conversation] = []
    for item in items:
        batch.append(item)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch
