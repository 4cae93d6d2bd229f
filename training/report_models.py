"""Score model folders on their task's evaluation sets, side by side, in one run.

    python -m training.report_models [sentiment=models/sentiment emotion=out/emotion-bert ...]

Each argument is ``task=folder`` (default: the shipped ``models/sentiment`` and ``models/emotion``).
For every model: accuracy / macro-F1 / ECE on each evaluation set of its task (binary accuracy on
neg/pos files such as ChnSentiCorp), artefact size and utterances per second (batch 256, one process).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from qa_pipeline.classifiers import load_classifier
from training import evaluate
from training.cli import PLAIN, find_data_dir, setup_logging
from training.datasets import DIALOGUES, PROJECT_DIR
from training.tasks import TASKS
from training.train_classifier import ProbaAdapter, evaluate_export

log = logging.getLogger("training.report_models")
DEFAULT = ("sentiment=models/sentiment", "emotion=models/emotion")
KEYS = ("accuracy", "macro_f1", "binary_acc", "ece")


def service_turns(data_dir: Path) -> list[str]:
    """Turn texts of the dev dialogues: what the models read in the product (for the speed figure)."""
    path = data_dir / DIALOGUES
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [t["text"] for row in rows for t in row.get("turns", []) if t.get("text")]


def report(task_name: str, folder: Path, data_dir: Path) -> dict[str, float]:
    classifier = load_classifier(folder, models_dir=folder.parent)
    task = TASKS[task_name]
    rep = evaluate.Report()
    evaluate_export(classifier, task, data_dir, rep)
    texts = service_turns(data_dir) or [e.text for e in task.evals[0].read(data_dir / task.evals[0].path)]
    rep.metrics["utterances_per_s"] = round(
        evaluate.throughput(ProbaAdapter(classifier).classifier, texts[:2000], 4000), 1
    )
    rep.metrics["speed_mean_chars"] = round(sum(map(len, texts[:2000])) / max(1, len(texts[:2000])), 1)
    rep.metrics["size_mb"] = round(sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 1e6, 2)
    return rep.metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.report_models", description=__doc__.split("\n")[0]
    )
    parser.add_argument("models", nargs="*", default=list(DEFAULT), help="task=folder")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    setup_logging(PLAIN)
    data_dir = find_data_dir(args.data_dir)
    if data_dir is None:
        return 2
    for spec in args.models:
        task_name, _, folder = spec.partition("=")
        path = Path(folder) if Path(folder).is_absolute() else PROJECT_DIR / folder
        if task_name not in TASKS or not path.is_dir():
            log.error("%r: expected task=folder, a task of %s and an existing folder", spec, sorted(TASKS))
            return 2
        metrics = report(task_name, path, data_dir)
        log.info(
            "%s  %s  (%.2f MB, %.0f utterances/s on service turns of %.0f characters)",
            task_name,
            folder,
            metrics["size_mb"],
            metrics["utterances_per_s"],
            metrics["speed_mean_chars"],
        )
        for ev in TASKS[task_name].evals:
            shown = {k: round(metrics[f"{ev.name}_{k}"], 4) for k in KEYS if f"{ev.name}_{k}" in metrics}
            log.info("    %-11s %s", ev.name, shown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
