"""Per-item agreement with 95 % intervals on the dev dialogues and on the internal hold-out set,
side by side, from one command (issue 11: no figure printed here is a fitted one on the hold-out).

    python -m bench.generalisation [--dev ../shared/data/conversations_dev/dialogues.jsonl]
                                   [--holdout tests/data/holdout] [--json out/generalisation.json]

The hold-out (``tests/data/holdout/``, see its README) was written by helpers briefed only with the
label definitions; nobody who edits rules or trains models reads it. This prints aggregate figures
only, never its conversations. Per writer file too, so a figure that holds for one writer's style
and not another's shows.
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

DEV = PROJECT_DIR.parent / "shared" / "data" / "conversations_dev" / "dialogues.jsonl"
HOLDOUT = PROJECT_DIR / "tests" / "data" / "holdout"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", type=Path, default=DEV)
    parser.add_argument("--holdout", type=Path, default=HOLDOUT)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = Settings()
    pipeline = Pipeline.from_config(settings=settings)
    reports: dict[str, EvalReport] = {}
    if args.dev.is_file():
        reports["dev"] = score(pipeline, [args.dev], settings)
    parts = sorted(args.holdout.glob("*.jsonl"))
    if parts:
        reports["holdout (all)"] = score(pipeline, parts, settings)
        for part in parts:
            reports[part.stem] = score(pipeline, [part], settings)
    print(table(reports))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        data = {name: json.loads(r.to_json()) for name, r in reports.items()}
        args.json.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
