"""Train the speaker-role classifier (agent vs customer phrasing) used on mono calls; export + MLflow.

    python -m training.train_role [--data-dir D] [--out models/role] [--smoke]

Data (read from ``--data-dir``, never copied): JDDC e-commerce customer-service pairs
(``helpdesk_dialogues/jddc2018_train.enc`` / ``.dec``). Every clause of a ``.dec`` response is an
agent's (the response *is* the agent turn); the last clause of an ``.enc`` context is the
customer's (the response answers the customer's last message) unless it is also an agent
response (stock phrases recur). The first clause is not used: contexts often open with the
agent's greeting. Placeholders (``[数字x]``, ``#E-s``, order ids) are removed. Texts are
deduplicated; a text seen with both roles is dropped; nothing from an evaluation file is kept.

Model: the sentiment model's TF-IDF features (jieba words 1-2 + characters 1-3) and a class-balanced
logistic regression; figures on a 10 % held-out part and, as the transfer check, on every turn
of ``conversations_dev/dialogues.jsonl`` (synthetic calls and chats; reported, never tuned on).
The asr stage combines these per-clause probabilities with turn-taking (see
:mod:`qa_pipeline.asr.roles`).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from qa_pipeline.classifiers import load_classifier
from qa_pipeline.classifiers.features import FeatureOptions, build_features, drop_fit_only_state
from qa_pipeline.classifiers.metadata import write_metadata
from qa_pipeline.classifiers.sklearn_model import ExportInfo, export_model
from training import evaluate
from training.cli import find_data_dir, setup_logging
from training.datasets import (
    DIALOGUES,
    JDDC,
    PROJECT_DIR,
    Example,
    _cap,
    dedup,
    eval_keys,
    sha256_file,
    stratified_split,
)
from training.tracking import log_report, start_run

log = logging.getLogger("training.train_role")

ROLES: tuple[str, ...] = ("agent", "customer")
JDDC_DEC = JDDC.removesuffix(".enc") + ".dec"
STC3 = "helpdesk_dialogues/stc3_dev.json"
DEFAULT_OUT = PROJECT_DIR / "models" / "role"
SMOKE_OUT = Path("out") / "role-smoke"
_PLACEHOLDER = re.compile(r"\[[^\]]{1,20}\]|#E-\w+|<[^>]{1,20}>|https?://\S+")
_MIN_CHARS = 2
_MENTION = re.compile(r"@\S+\s?")


@dataclass(frozen=True)
class RoleOptions:
    features: FeatureOptions = field(default_factory=lambda: FeatureOptions(min_df=2))
    C: float = 2.0
    max_iter: int = 1000
    max_per_role: int | None = None
    stc3: bool = True
    held_out: float = 0.1
    seed: int = 13
    smoke: bool = False


SMOKE = RoleOptions(
    features=FeatureOptions(min_df=1, word_max_features=5_000, char_max_features=5_000),
    max_iter=300,
    max_per_role=400,
    smoke=True,
)


def clean(text: str) -> str:
    return _PLACEHOLDER.sub("", text).strip(" ,，~")


def _clauses(line: str) -> list[str]:
    return [c for c in (clean(p) for p in line.split(",")) if len(c) >= _MIN_CHARS]


def read_jddc_roles(enc: Path, dec: Path) -> list[Example]:
    """Agent clauses from the responses, customer clauses from the contexts' first and last."""
    agent = [_clauses(line) for line in dec.read_text(encoding="utf-8").splitlines()]
    templates = {c for clauses in agent for c in clauses}  # agents' stock phrases recur in contexts
    out = [Example(c, "agent", "jddc_dec") for clauses in agent for c in clauses]
    for line in enc.read_text(encoding="utf-8").splitlines():
        parts = _clauses(line)
        ends = set(parts[-1:]) - templates
        out += [Example(c, "customer", "jddc_enc") for c in ends]
    return out


def read_stc3_roles(path: Path) -> list[Example]:
    """Utterances of the STC-3 Weibo helpdesk dialogues with their sender (helpdesk = agent)."""
    out: list[Example] = []
    for dialogue in json.loads(path.read_text(encoding="utf-8")):
        for turn in dialogue.get("turns", []):
            role = "agent" if turn.get("sender") == "helpdesk" else "customer"
            out += [Example(c, role, "stc3") for u in turn.get("utterances", []) for c in _sentences(u)]
    return out


def _sentences(text: str) -> list[str]:
    parts = (clean(p) for p in re.split(r"(?<=[。！？!?])|(?<=[,，;；])", _MENTION.sub("", text)))
    return [p for p in parts if len(p) >= _MIN_CHARS]


def build_examples(data_dir: Path, opts: RoleOptions) -> tuple[list[Example], dict[str, str]]:
    enc, dec = data_dir / JDDC, data_dir / JDDC_DEC
    for path in (enc, dec):
        if not path.is_file():
            raise FileNotFoundError(f"training file {path} not found (pass --data-dir)")
    examples = read_jddc_roles(enc, dec)
    files = {JDDC: sha256_file(enc), JDDC_DEC: sha256_file(dec)}
    if opts.stc3 and (data_dir / STC3).is_file():
        examples += read_stc3_roles(data_dir / STC3)
        files[STC3] = sha256_file(data_dir / STC3)
    # Exclude the transfer check's texts; STC-3's own texts are kept (its labels are never used here).
    kept, stats = dedup(examples, eval_keys(data_dir, exclude_files=(STC3,)))
    kept = _cap(kept, None if opts.max_per_role is None else 2 * opts.max_per_role, opts.seed)
    log.info("role examples: %d kept; dropped %s", len(kept), stats)
    return kept, files


def build_model(opts: RoleOptions) -> Pipeline:
    clf = LogisticRegression(C=opts.C, max_iter=opts.max_iter, class_weight="balanced")
    return Pipeline([("features", build_features(opts.features)), ("clf", clf)])


def dialogue_turns(path: Path) -> tuple[list[str], list[str]]:
    """Every turn's text and speaker in the labelled dialogues (the transfer check)."""
    texts, roles = [], []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            for turn in json.loads(line).get("turns", []):
                if turn.get("speaker") in ROLES and turn.get("text"):
                    texts.append(turn["text"])
                    roles.append(turn["speaker"])
    return texts, roles


def run_evaluation(model: Pipeline, held: list[Example], data_dir: Path) -> evaluate.Report:
    report = evaluate.Report()
    evaluate.labelled(model, [e.text for e in held], [e.label for e in held], "held_out", report, ROLES)
    dialogues = data_dir / DIALOGUES
    if dialogues.is_file():
        texts, roles = dialogue_turns(dialogues)
        evaluate.labelled(model, texts, roles, "dialogue_turns", report, ROLES)
    return report


def train(data_dir: Path, out: Path, opts: RoleOptions) -> Any:
    """data -> fit -> evaluate -> export -> reload check -> MLflow; returns the metadata."""
    started = time.perf_counter()
    examples, files = build_examples(data_dir, opts)
    train_part, held = stratified_split(examples, opts.held_out, opts.seed)
    model = build_model(opts)
    fit_start = time.perf_counter()
    model.fit([e.text for e in train_part], [e.label for e in train_part])
    report = run_evaluation(model, held, data_dir)
    report.metrics["fit_seconds"] = round(time.perf_counter() - fit_start, 1)
    report.metrics["train_examples"] = len(train_part)
    drop_fit_only_state(model.named_steps["features"])
    params = {k: str(v) for k, v in asdict(opts).items()}
    export_model(model, out, ExportInfo(name="role", data_files=files, metrics=report.metrics, params=params))
    classifier = load_classifier(out, models_dir=out.parent)
    texts = dialogue_turns(data_dir / DIALOGUES)[0] if (data_dir / DIALOGUES).is_file() else []
    if texts:
        report.metrics["speed_utterances_per_s"] = round(evaluate.throughput(classifier, texts), 1)
    report.metrics["total_seconds"] = round(time.perf_counter() - started, 1)
    meta = classifier.metadata  # type: ignore[attr-defined]
    meta.metrics = dict(report.metrics)
    write_metadata(out, meta)
    log_report(params, report, out, meta)
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_role", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="shared data folder (default ../shared/data)"
    )
    parser.add_argument("--out", type=Path, default=None, help=f"model folder (default {DEFAULT_OUT})")
    parser.add_argument("--smoke", action="store_true", help="tiny sample, seconds; for tests")
    parser.add_argument("--experiment", default="role", help="MLflow experiment name")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    setup_logging()
    data_dir = find_data_dir(args.data_dir)
    if data_dir is None:
        return 2
    opts = replace(SMOKE if args.smoke else RoleOptions(), seed=args.seed)
    out = args.out or (SMOKE_OUT if args.smoke else DEFAULT_OUT)
    with start_run(args.experiment, "smoke" if args.smoke else "full") as run:
        meta = train(data_dir, out, opts)
    log.info("run %s: %s exported to %s", run.info.run_id, meta.version, out)
    log.info("metrics: %s", json.dumps(meta.metrics, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
