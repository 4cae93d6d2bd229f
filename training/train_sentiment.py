"""Train the 3-class (neg/neu/pos) sentiment model, log it to MLflow and export it.

    python -m training.train_sentiment [--data-dir D] [--out models/sentiment] [--smoke]

Data come from ``--data-dir`` (default ``$QA_DATA_DIR`` or ``<project>/../shared/data``), see
:mod:`training.datasets`. The model is one scikit-learn pipeline: TF-IDF over jieba word 1-2-grams
and character 1-3-grams (tokenisation inside the pipeline), then a class-balanced multinomial
logistic regression. It is fitted on a stratified 90 % of the mix; the other 10 % gives the 3-class
figures, so the figures describe exactly the exported artefact.

MLflow: ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///mlflow.db`` in the working directory
(artefacts under ``./mlruns``). ``--smoke`` trains on a tiny sample in seconds and, unless ``--out``
is given, exports to ``out/sentiment-smoke`` so it never overwrites the shipped model.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from qa_pipeline.classifiers import load_classifier
from qa_pipeline.classifiers.features import FeatureOptions, build_features, drop_fit_only_state
from qa_pipeline.classifiers.metadata import write_metadata
from qa_pipeline.classifiers.sklearn_model import ExportInfo, export_model
from training import evaluate
from training.cli import find_data_dir, setup_logging
from training.datasets import (
    DEV,
    DIALOGUES,
    PROJECT_DIR,
    TEST,
    MixOptions,
    TrainingMix,
    build_mix,
    stratified_split,
)
from training.model_card import write_model_card
from training.tracking import log_outputs, start_run

log = logging.getLogger("training.train_sentiment")

DEFAULT_OUT = PROJECT_DIR / "models" / "sentiment"
SMOKE_OUT = Path("out") / "sentiment-smoke"
EXPERIMENT = "sentiment"


@dataclass(frozen=True)
class ClassifierOptions:
    C: float = 4.0
    max_iter: int = 1000
    class_weight: str = "balanced"


@dataclass(frozen=True)
class TrainOptions:
    mix: MixOptions = field(default_factory=MixOptions)
    features: FeatureOptions = field(default_factory=FeatureOptions)
    classifier: ClassifierOptions = field(default_factory=ClassifierOptions)
    held_out: float = 0.1
    seed: int = 13
    smoke: bool = False


SMOKE = TrainOptions(
    mix=MixOptions(max_per_source=250, jddc_neutral_max=400),
    features=FeatureOptions(min_df=1, word_max_features=5_000, char_max_features=5_000),
    classifier=ClassifierOptions(max_iter=300),
    smoke=True,
)


def build_model(opts: TrainOptions) -> Pipeline:
    """The untrained pipeline: features (tokenisation included) -> logistic regression."""
    clf = LogisticRegression(
        C=opts.classifier.C,
        max_iter=opts.classifier.max_iter,
        class_weight=opts.classifier.class_weight,
        random_state=opts.seed,
    )
    return Pipeline([("features", build_features(opts.features)), ("clf", clf)])


def flat_params(opts: TrainOptions) -> dict[str, Any]:
    """Options as one flat dict (MLflow params, metadata)."""
    out: dict[str, Any] = {}
    for group, values in asdict(opts).items():
        if isinstance(values, dict):
            out.update({f"{group}.{k}": v for k, v in values.items()})
        else:
            out[group] = values
    return out


def fit(model: Pipeline, mix: TrainingMix, opts: TrainOptions) -> tuple[list[Any], float]:
    """Fit on the training part of the mix; returns the held-out examples and the fit time."""
    train, held = stratified_split(mix.examples, opts.held_out, opts.seed)
    log.info("fitting on %d examples (%d held out)", len(train), len(held))
    start = time.perf_counter()
    weights = np.array([e.weight for e in train])
    model.fit([e.text for e in train], [e.label for e in train], clf__sample_weight=weights)
    return held, time.perf_counter() - start


def run_evaluation(model: Pipeline, held: list[Any], data_dir: Path) -> evaluate.Report:
    report = evaluate.Report()
    evaluate.three_class(model, held, report)
    evaluate.binary_file(model, data_dir / DEV, "dev", report)
    evaluate.binary_file(model, data_dir / TEST, "test", report)  # final figure only, never tuned on
    return report


def export(model: Pipeline, out: Path, mix: TrainingMix, report: evaluate.Report, opts: TrainOptions) -> Any:
    drop_fit_only_state(model.named_steps["features"])
    info = ExportInfo(
        name="sentiment", data_files=mix.files, metrics=report.metrics, params=flat_params(opts)
    )
    return export_model(model, out, info)


def check_export(out: Path, data_dir: Path, report: evaluate.Report) -> Any:
    """Reload the exported folder through the public loader; add transfer and speed figures."""
    classifier = load_classifier(out, models_dir=out.parent)
    dialogues = data_dir / DIALOGUES
    if dialogues.is_file():
        evaluate.conversations(classifier, dialogues, report)
        texts = evaluate.customer_turns(dialogues)[0]
        report.metrics["speed_utterances_per_s"] = round(evaluate.throughput(classifier, texts), 1)
    return classifier.metadata  # type: ignore[attr-defined]


def train(data_dir: Path, out: Path, opts: TrainOptions) -> Any:
    """The whole run: data -> fit -> evaluate -> export -> reload check -> MLflow. Returns the metadata."""
    started = time.perf_counter()
    mlflow.log_params(flat_params(opts))
    mix = build_mix(data_dir, opts.mix)
    mlflow.log_params({f"data.{k}": v for k, v in sorted(mix.counts().items())})
    model = build_model(opts)
    held, fit_s = fit(model, mix, opts)
    report = run_evaluation(model, held, data_dir)
    report.metrics["fit_seconds"] = round(fit_s, 1)
    export(model, out, mix, report, opts)
    report.metrics["artefact_mb"] = round((out / "model.joblib").stat().st_size / 1e6, 2)
    meta = check_export(out, data_dir, report)
    report.metrics["total_seconds"] = round(time.perf_counter() - started, 1)
    meta.metrics = dict(report.metrics)
    write_metadata(out, meta)
    write_model_card(out, meta, mix, smoke=opts.smoke)
    log_outputs(report, out, meta)
    return meta


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.train_sentiment", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="shared data folder (default ../shared/data)"
    )
    parser.add_argument("--out", type=Path, default=None, help=f"model folder (default {DEFAULT_OUT})")
    parser.add_argument("--smoke", action="store_true", help="tiny sample, seconds; for tests")
    parser.add_argument("--experiment", default=EXPERIMENT, help="MLflow experiment name")
    parser.add_argument("--seed", type=int, default=13)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()
    data_dir = find_data_dir(args.data_dir)
    if data_dir is None:
        return 2
    base = SMOKE if args.smoke else TrainOptions()
    opts = replace(base, seed=args.seed, mix=replace(base.mix, seed=args.seed))
    out = args.out or (SMOKE_OUT if args.smoke else DEFAULT_OUT)
    with start_run(args.experiment, "smoke" if args.smoke else "full") as run:
        meta = train(data_dir, out, opts)
    log.info("run %s: %s exported to %s", run.info.run_id, meta.version, out)
    log.info("metrics: %s", json.dumps(meta.metrics, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
