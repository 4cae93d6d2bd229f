"""The full default training: every shipped model, one command, timed (``make train``).

    python -m training.all [--data-dir ../shared/data] [--with-transformers] [--smoke]

Runs, in order: sentiment (``models/sentiment``), emotion (``models/emotion``), the rubric
classifiers (``models/rubric-*``) and the mono-call role classifier (``models/role``, kept local). With
``--with-transformers`` it also pre-trains the char-BERT (``out/charbert``) and fine-tunes the BERT and
TextCNN candidates of both tasks into ``out/`` for comparison (about 50 minutes on 2 cores). Each step
logs its own MLflow run; the total wall time is printed at the end.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from training import pretrain_mlm, train_classifier, train_role, train_rubric, train_sentiment
from training.cli import setup_logging

log = logging.getLogger("training.all")

Step = tuple[str, Callable[[list[str]], int], list[str]]


def steps(data: list[str], smoke: bool, transformers: bool) -> list[Step]:
    s = ["--smoke"] if smoke else []
    out = Path("out")
    plan: list[Step] = [
        (
            "sentiment",
            train_sentiment.main,
            [*data, *s] + (["--out", str(out / "sentiment-smoke")] if smoke else []),
        ),
        (
            "emotion",
            train_classifier.main,
            [
                "--task",
                "emotion",
                "--arch",
                "sklearn",
                *data,
                *s,
                "--out",
                str(out / "emotion-smoke" if smoke else "models/emotion"),
            ],
        ),
        ("rubric", train_rubric.main, ["--models-dir", str(out if smoke else Path("models"))]),
        ("role", train_role.main, [*data, *s]),
    ]
    if transformers:
        ckpt = ["--init", str(out / ("charbert-smoke" if smoke else "charbert"))]
        plan.append(("pretrain_mlm", pretrain_mlm.main, [*data, *s]))
        for task in ("emotion", "sentiment"):
            for arch in ("bert", "textcnn"):
                plan.append(
                    (
                        f"{task}-{arch}",
                        train_classifier.main,
                        ["--task", task, "--arch", arch, *ckpt, *data, *s],
                    )
                )
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.all", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument(
        "--with-transformers", action="store_true", help="also pre-train and fine-tune char-BERT/TextCNN"
    )
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    setup_logging()
    data = ["--data-dir", str(args.data_dir)] if args.data_dir else []
    started, timings = time.perf_counter(), {}
    for name, run, step_argv in steps(data, args.smoke, args.with_transformers):
        t0 = time.perf_counter()
        code = run(step_argv)
        timings[name] = time.perf_counter() - t0
        if code != 0:
            log.error("step %s failed with exit code %d", name, code)
            return code
    for name, secs in timings.items():
        log.info("%-18s %7.1f s", name, secs)
    log.info("total %.1f min", (time.perf_counter() - started) / 60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
