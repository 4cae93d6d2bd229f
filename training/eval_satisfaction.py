"""How well the emotion index tracks human satisfaction on real helpdesk dialogues (STC-3 dev).

    python -m training.eval_satisfaction [--sentiment-model sentiment] [--emotion-model emotion]

Each of the 700 STC-3 dialogues (Weibo customer <-> helpdesk) goes through the default text
pipeline as a chat (helpdesk = agent). The figure is Spearman's rho between the conversation's
emotion index and the mean of the annotators' satisfaction scores S (-2..2), for the shipped
emotion weight and, side by side in the same run, for other weights of the emotion model in a
turn's valence (0 = sentiment only, 1 = emotion only). STC-3 dev is a development set: this is where
``IndicesConfig.emotion_weight`` is chosen; judge generalisation elsewhere.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from scipy.stats import spearmanr

from qa_pipeline.pipeline import DEFAULT_PIPELINE, BuildContext, Pipeline, load_pipeline_spec, registry
from qa_pipeline.settings import Settings
from qa_pipeline.stages.indices import IndicesConfig, customer_valences, emotion_index
from qa_pipeline.types import Conversation, Turn
from training.cli import PLAIN, setup_logging
from training.datasets import default_data_dir

log = logging.getLogger("training.eval_satisfaction")
STC3 = "helpdesk_dialogues/stc3_dev.json"
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def conversations(path: Path) -> tuple[list[Conversation], list[float]]:
    """STC-3 dialogues as chats, and each one's mean satisfaction S over its annotators."""
    convs, scores = [], []
    for i, rec in enumerate(json.loads(path.read_text(encoding="utf-8"))):
        turns = [
            Turn(
                speaker="customer" if t["sender"] == "customer" else "agent", text="，".join(t["utterances"])
            )
            for t in rec["turns"]
            if t.get("utterances")
        ]
        s_values = [a["quality"]["S"] for a in rec.get("annotations", []) if "S" in a.get("quality", {})]
        if turns and s_values:
            convs.append(Conversation(id=f"stc3-{i}", channel="chat", turns=turns))
            scores.append(sum(s_values) / len(s_values))
    return convs, scores


def build_pipeline(settings: Settings, sentiment: str, emotion: str | None) -> Pipeline:
    """The default text pipeline with the given models (an ``emotion`` stage added if missing)."""
    spec = load_pipeline_spec(settings.pipeline_config or DEFAULT_PIPELINE)
    names = [s.stage for s in spec.stages]
    ctx = BuildContext(settings=settings)
    stages = []
    for s in spec.stages:
        config: dict[str, Any] = dict(s.config or {})
        if s.stage == "sentiment":
            config["model"] = sentiment
        if s.stage == "emotion" and emotion is None:
            continue
        if s.stage == "emotion":
            config["model"] = emotion
        stages.append(registry.build(s.stage, config, ctx))
        if s.stage == "sentiment" and emotion is not None and "emotion" not in names:
            stages.append(registry.build("emotion", {"model": emotion}, ctx))
    return Pipeline(stages, name="satisfaction-eval")


def rho(convs: list[Conversation], scores: list[float], weight: float, base: IndicesConfig) -> float:
    config = base.model_copy(update={"emotion_weight": weight})
    index = []
    for conv in convs:
        ratio = conv.metrics.negative_word_ratio.agent if conv.metrics is not None else None
        value = emotion_index(customer_valences(conv, weight), ratio, config).value
        index.append(50.0 if value is None else value)
    return float(spearmanr(index, scores).statistic)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.eval_satisfaction", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--sentiment-model", default="sentiment")
    parser.add_argument("--emotion-model", default="emotion", help="'none': sentiment only")
    args = parser.parse_args(argv)
    setup_logging(PLAIN)
    path = (args.data_dir or default_data_dir()) / STC3
    if not path.is_file():
        log.error("%s not found; pass --data-dir", path)
        return 2
    convs, scores = conversations(path)
    emotion = None if args.emotion_model == "none" else args.emotion_model
    pipeline = build_pipeline(Settings(), args.sentiment_model, emotion)
    done = [c for c in pipeline.run_batch(convs) if isinstance(c, Conversation)]
    if len(done) != len(convs):
        log.error("%d of %d dialogues failed in the pipeline", len(convs) - len(done), len(convs))
        return 1
    base = IndicesConfig()
    log.info("%d dialogues; Spearman rho, emotion index vs mean satisfaction S:", len(done))
    for weight in WEIGHTS if emotion else (0.0,):
        mark = "  <- shipped" if weight == base.emotion_weight else ""
        log.info("  emotion_weight %.2f: rho %.3f%s", weight, rho(done, scores, weight, base), mark)
    return 0


if __name__ == "__main__":
    sys.exit(main())
