"""Per-item agreement with 95 % intervals, before and after, on the dev dialogues, the tuning set and
the internal hold-out set, side by side, from one command (issue 11).

    python -m bench.generalisation [--sets dev,tuning,holdout,holdout2] [--per-writer]
                                   [--rubric before=rubrics/archive/default-1.0.0.yaml]
                                   [--rubric after=rubrics/default.yaml] [--json out/generalisation.json]

- ``dev``: ``../shared/data/conversations_dev/dialogues.jsonl``; rules were written against it.
- ``tuning`` (``tests/data/tuning/``): written by helpers for this purpose and *read* while tuning rules
  and choosing models, so its figures are fitted ones too.
- ``holdout`` (``tests/data/holdout/``): written by other helpers, briefed only with the label
  definitions; nobody who edits rules or trains models reads it, and nothing is chosen on it. This
  prints aggregate figures only, never its conversations. While tuning, leave it out
  (``--sets dev,tuning``); its figure is read once, for the closing note.
- ``holdout2`` (``tests/data/holdout-2/``): a fresh hold-out written the same way once ``holdout``
  had been read for a closing note; same rules.
- ``holdout3`` (``tests/data/holdout-3/``): a third, written after ``holdout2`` had been read; same rules.
- ``holdout4`` (``tests/data/holdout-4/``): a fourth, written after ``holdout3`` had been read; same rules.
- ``holdout5`` (``tests/data/holdout-5/``): a fifth, written after ``holdout4`` had been read; same rules.
- ``holdout6`` (``tests/data/holdout-6/``): a sixth, written after ``holdout5`` had been read; same rules.
- ``holdout7`` (``tests/data/holdout-7/``): a seventh, written after ``holdout6`` had been read; same rules.
- ``holdout8`` (``tests/data/holdout-8/``): an eighth, written after ``holdout7`` had been read; same rules.
- ``holdout9`` (``tests/data/holdout-9/``): a ninth, written before ``holdout8`` was read (ready for the
  reading after it); same rules.
- ``holdout10`` (``tests/data/holdout-10/``): a tenth, written when ``holdout9`` was read; same rules.
- ``holdout11`` (``tests/data/holdout-11/``): an eleventh, written before ``holdout10`` was read (ready
  for the reading after it); same rules.
- ``holdout12`` (``tests/data/holdout-12/``): a twelfth, written when ``holdout11`` was read; same rules.
- ``holdout13`` (``tests/data/holdout-13/``): a thirteenth, written when ``holdout12`` was read; same rules.
- ``holdout14`` (``tests/data/holdout-14/``): a fourteenth, written when ``holdout13`` was read; same rules.
- ``holdout15`` (``tests/data/holdout-15/``): a fifteenth, written when ``holdout14`` was read; same rules.
- ``holdout16`` (``tests/data/holdout-16/``): a sixteenth, written when ``holdout15`` was read; same rules.
- ``holdout17`` (``tests/data/holdout-17/``): a seventeenth, written when ``holdout16`` was read; same rules.
- ``holdout18`` (``tests/data/holdout-18/``): an eighteenth, written when ``holdout17`` was read; same rules.
- ``holdout19`` (``tests/data/holdout-19/``): a nineteenth, written when ``holdout18`` was read; same rules.
- ``holdout20`` (``tests/data/holdout-20/``): a twentieth, written when ``holdout19`` was read; same rules.
- ``holdout21`` (``tests/data/holdout-21/``): a twenty-first, written when ``holdout20`` was read; same rules.
- ``holdout22`` (``tests/data/holdout-22/``): a twenty-second, written when ``holdout21`` was read; same
  rules.
- ``holdout23`` (``tests/data/holdout-23/``): a twenty-third, written when ``holdout22`` was read; same
  rules.
- ``holdout24`` (``tests/data/holdout-24/``): a twenty-fourth, written when ``holdout23`` was read; same
  rules.
- ``holdout25`` (``tests/data/holdout-25/``): a twenty-fifth, written when ``holdout24`` was read; same
  rules.
- ``holdout26`` (``tests/data/holdout-26/``): a twenty-sixth, written when ``holdout25`` was read; same
  rules.
- ``holdout27`` (``tests/data/holdout-27/``): a twenty-seventh, written when ``holdout26`` was read; same
  rules.
- ``holdout28`` (``tests/data/holdout-28/``): a twenty-eighth, written when ``holdout27`` was read; same
  rules.

Since stop 25 ``holdout`` and ``holdout2`` … ``holdout11`` are retired (``training.datasets.RETIRED_SETS``):
they train the rubric models that read whole dialogues, so figures on them are fitted for those models;
``holdout12`` … ``holdout16`` joined them at stop 29 (the objection and handling models train on them).

Each rubric names its models; the "before" rubric (the scorecard as it was before issue 11) still runs
on the models it shipped with, which stay in ``models/``.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from qa_pipeline.audit import Auditor
from qa_pipeline.cli import LabelledResults
from qa_pipeline.evaluation import ITEM_IDS, EvalReport, evaluate
from qa_pipeline.pipeline import Pipeline
from qa_pipeline.settings import PROJECT_DIR, Settings
from qa_pipeline.sources import read_conversations
from training.datasets import EVALUATION_SETS

DEV = PROJECT_DIR.parent / "shared" / "data" / "conversations_dev" / "dialogues.jsonl"
SETS: dict[str, Path] = {"dev": DEV, **EVALUATION_SETS}
RUBRICS = {
    "before": PROJECT_DIR / "rubrics" / "archive" / "default-1.0.0.yaml",
    "after": PROJECT_DIR / "rubrics" / "default.yaml",
}


def score(pipeline: Pipeline, paths: list[Path], settings: Settings) -> EvalReport:
    collected = LabelledResults()
    Auditor(pipeline, None, settings.batch_size).run(
        read_conversations(paths, settings=settings), on_done=collected
    )
    return evaluate(collected.pairs)


def _cell(report: EvalReport, item: str) -> str:
    r = report.items[item]
    if r.agreement is None:
        return f"{'-':>17}"
    ci = f"{r.agreement_ci.low:.2f}-{r.agreement_ci.high:.2f}" if r.agreement_ci else "-"
    return f"{r.agreement:6.3f} [{ci}]"


def table(reports: dict[str, EvalReport]) -> str:
    names = list(reports)
    lines = [f"{'item':<22}" + "".join(f"{n:>19}" for n in names)]
    lines += [f"{item:<22}" + "".join(f"{_cell(reports[n], item):>19}" for n in names) for item in ITEM_IDS]
    macro = "".join(
        f"{r.macro_agreement or 0:6.3f} [{r.macro_agreement_ci.low:.2f}-{r.macro_agreement_ci.high:.2f}]"
        if r.macro_agreement_ci
        else f"{'-':>17}"
        for r in reports.values()
    )
    recall = "".join(
        f"{r.forbidden_phrase_recall if r.forbidden_phrase_recall is not None else float('nan'):>19.3f}"
        for r in reports.values()
    )
    lines += [f"{'macro agreement':<22}  " + macro, f"{'forbidden fail recall':<22}" + recall]
    lines.append(f"{'conversations':<22}" + "".join(f"{r.n_conversations:>19}" for r in reports.values()))
    return "\n".join(lines)


def _files(path: Path) -> list[Path]:
    return sorted(path.glob("*.jsonl")) if path.is_dir() else [path] if path.is_file() else []


def _rubric(spec: str) -> tuple[str, Path]:
    name, sep, path = spec.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--rubric wants NAME=PATH, got {spec!r}")
    return name, Path(path)


def run(rubrics: dict[str, Path], sets: list[str], per_writer: bool) -> dict[str, EvalReport]:
    reports: dict[str, EvalReport] = {}
    for rubric_name, rubric in rubrics.items():
        settings = Settings(rubric=rubric)
        pipeline = Pipeline.from_config(settings=settings)
        for set_name in sets:
            parts = _files(SETS[set_name])
            if not parts:
                logging.warning("%s: no files under %s, skipped", set_name, SETS[set_name])
                continue
            reports[f"{set_name} {rubric_name}"] = score(pipeline, parts, settings)
            if per_writer and len(parts) > 1:
                for part in parts:
                    reports[f"{set_name}:{part.stem} {rubric_name}"] = score(pipeline, [part], settings)
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sets",
        default="dev,tuning",
        help="comma-separated: dev, tuning, holdout, holdout2..holdout28 (read a hold-out once, for a note)",
    )
    parser.add_argument("--rubric", type=_rubric, action="append", help="NAME=PATH (default: before, after)")
    parser.add_argument("--per-writer", action="store_true", help="also each writer's file alone")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = [s for s in sets if s not in SETS]
    if unknown:
        parser.error(f"unknown set(s) {unknown}; choose from {sorted(SETS)}")
    rubrics = dict(args.rubric) if args.rubric else RUBRICS
    reports = run(rubrics, sets, args.per_writer)
    print(table(reports))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        data = {name: json.loads(r.to_json()) for name, r in reports.items()}
        args.json.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
