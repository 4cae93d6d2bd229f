"""Helpers for the two notebooks: evaluation sets, scoring, calibration, KPI tables and plots.

The notebooks add ``<project>/notebooks`` and ``<project>`` to ``sys.path`` and ``import nbutil``.
Metrics follow ``training/evaluate.py`` (15-bin top-label ECE; a 3-class sentiment model is scored on a
0/1 file by ``p(pos)`` vs ``p(neg)``), and reuse its readers and its ECE function.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix, f1_score

from qa_pipeline.classifiers import ModelMetadata, TextClassifier, read_metadata
from qa_pipeline.errors import QAError
from qa_pipeline.scoring import COMPONENTS, AgentScore
from qa_pipeline.types import ConversationResult
from training.datasets import Example, read_binary_tsv, read_smp
from training.evaluate import customer_turns, expected_calibration_error

Array = npt.NDArray[np.float64]
EMOTIONS = ("angry", "happy", "neutral", "sad", "surprise", "fear")
SENTIMENT = ("neg", "neu", "pos")
CPED_SENTIMENT = {"negative": "neg", "neutral": "neu", "positive": "pos"}


# ---------------------------------------------------------------- evaluation sets


def _read_smp6(path: Path) -> list[Example]:
    with path.open(encoding="utf-8") as fh:
        recs = [json.loads(line) for line in fh if line.strip()]
    return [Example(r["text"].strip(), r["label"], path.stem) for r in recs if r.get("text", "").strip()]


def _read_cped(path: Path) -> list[Example]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [
        Example(r["Utterance"].strip(), CPED_SENTIMENT[r["Sentiment"]], f"cped_tv{r['TV_ID']}")
        for r in rows
        if r.get("Sentiment") in CPED_SENTIMENT and (r.get("Utterance") or "").strip()
    ]


def _read_customer_turns(path: Path) -> list[Example]:
    texts, labels = customer_turns(path)
    return [Example(t, label, "conversations_dev") for t, label in zip(texts, labels, strict=True)]


def _read_speakers(path: Path) -> list[Example]:
    with path.open(encoding="utf-8") as fh:
        recs = [json.loads(line) for line in fh if line.strip()]
    return [Example(t["text"], t["speaker"], rec["channel"]) for rec in recs for t in rec["turns"]]


@dataclass(frozen=True)
class EvalSet:
    """A labelled file under the data folder and the model family it evaluates."""

    name: str
    path: str
    family: str
    labels: tuple[str, ...]
    reader: Callable[[Path], Iterable[Example]]
    binary: bool = False  # scored as p(pos) vs p(neg), whatever else the model predicts


EVAL_SETS: tuple[EvalSet, ...] = (
    EvalSet("chnsenticorp_dev", "sentiment/dev.tsv", "sentiment", ("neg", "pos"), read_binary_tsv, True),
    EvalSet("smp2020_usual_3class", "emotion/smp2020_usual_eval.jsonl", "sentiment", SENTIMENT, read_smp),
    EvalSet("cped_valid", "dialogue_emotion/cped_valid.csv", "sentiment", SENTIMENT, _read_cped),
    EvalSet(
        "dialogues_customer",
        "conversations_dev/dialogues.jsonl",
        "sentiment",
        SENTIMENT,
        _read_customer_turns,
    ),
    EvalSet("smp2020_usual", "emotion/smp2020_usual_eval.jsonl", "emotion", EMOTIONS, _read_smp6),
    EvalSet(
        "dialogues_speaker",
        "conversations_dev/dialogues.jsonl",
        "role",
        ("agent", "customer"),
        _read_speakers,
    ),
)


@dataclass(frozen=True)
class ModelInfo:
    folder: Path
    meta: ModelMetadata

    @property
    def family(self) -> str:
        """``sentiment`` for ``sentiment``, ``sentiment_bert``...; folder name first, then metadata name."""
        known = {s.family for s in EVAL_SETS}
        names = (self.folder.name.split("_")[0], self.meta.name.split("_")[0])
        return next((n for n in names if n in known), names[0])


def discover_models(models_dir: Path) -> tuple[list[ModelInfo], list[str]]:
    """Every folder under ``models_dir`` with a readable ``metadata.json``, and notes on the others."""
    found: list[ModelInfo] = []
    notes: list[str] = []
    folders = sorted(p for p in models_dir.iterdir() if p.is_dir()) if models_dir.is_dir() else []
    for folder in folders:
        if not (folder / "metadata.json").is_file():
            notes.append(f"skip {folder.name}: no metadata.json")
            continue
        try:
            found.append(ModelInfo(folder, read_metadata(folder)))
        except QAError as exc:
            notes.append(f"skip {folder.name}: {exc}")
    return found, notes


def models_table(models: Sequence[ModelInfo]) -> pd.DataFrame:
    rows = [
        {
            "folder": m.folder.name,
            "family": m.family,
            "kind": m.meta.kind,
            "version": m.meta.version,
            "labels": ", ".join(m.meta.labels),
            "artefact_mb": round(m.meta.artefact_bytes / 1e6, 2),
            "created": m.meta.created,
        }
        for m in models
    ]
    return pd.DataFrame(rows)


def sets_for(model: ModelInfo) -> list[EvalSet]:
    """The evaluation sets of the model's family whose labels the model can predict."""
    labels = set(model.meta.labels)
    return [s for s in EVAL_SETS if s.family == model.family and set(s.labels) <= labels]


def load_rows(eval_set: EvalSet, data_dir: Path, sample: int | None, seed: int) -> list[Example] | None:
    """The set's rows (``None`` when its file is absent), ``sample`` of them drawn with ``seed``."""
    path = data_dir / eval_set.path
    if not path.is_file():
        return None
    rows = list(eval_set.reader(path))
    if sample is not None and sample < len(rows):
        rows = random.Random(seed).sample(rows, sample)
    return rows


# ---------------------------------------------------------------- scoring


@dataclass
class Scored:
    """One model's predictions on one evaluation set."""

    model: str
    version: str
    dataset: str
    rows: list[Example]
    labels: list[str]  # the evaluation set's labels (macro-F1 is over these)
    pred: list[str]
    confidence: Array
    display_labels: list[str] = field(default_factory=list)  # confusion-matrix axes

    @property
    def gold(self) -> list[str]:
        return [r.label for r in self.rows]

    @property
    def correct(self) -> Array:
        return np.array([p == g for p, g in zip(self.pred, self.gold, strict=True)], dtype=float)

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean()) if self.rows else float("nan")

    @property
    def macro_f1(self) -> float:
        return float(f1_score(self.gold, self.pred, labels=self.labels, average="macro", zero_division=0))

    def ece(self, bins: int = 15) -> float:
        return expected_calibration_error(self.confidence, self.correct, bins)

    def headline(self, bins: int = 15) -> str:
        return (
            f"{self.model} on {self.dataset} (n={len(self.rows)}): accuracy {self.accuracy:.3f}  "
            f"macro-F1 {self.macro_f1:.3f}  ECE {self.ece(bins):.3f}"
        )


def score(model: ModelInfo, clf: TextClassifier, eval_set: EvalSet, rows: list[Example]) -> Scored:
    """Predict ``rows``; binary sets compare p(pos) with p(neg), others take the top label."""
    preds = clf.predict([r.text for r in rows])
    if eval_set.binary:
        p_pos = np.array([p.probs["pos"] for p in preds])
        p_bin = p_pos / np.maximum(p_pos + np.array([p.probs["neg"] for p in preds]), 1e-12)
        pred = ["pos" if p >= 0.5 else "neg" for p in p_bin]
        conf = np.maximum(p_bin, 1.0 - p_bin)
    else:
        pred = [p.label for p in preds]
        conf = np.array([max(p.probs.values()) for p in preds])
    extra = [label for label in clf.labels if label in set(pred) - set(eval_set.labels)]
    return Scored(
        model.folder.name, model.meta.version, eval_set.name, rows, list(eval_set.labels), pred, conf,
        [*eval_set.labels, *extra],
    )  # fmt: skip


def summary(results: Sequence[Scored], bins: int = 15) -> pd.DataFrame:
    rows = [
        {
            "model": r.model,
            "dataset": r.dataset,
            "n": len(r.rows),
            "accuracy": r.accuracy,
            "macro_f1": r.macro_f1,
            "ece": r.ece(bins),
            "mean_confidence": float(r.confidence.mean()),
            "version": r.version,
        }
        for r in results
    ]
    return pd.DataFrame(rows).round(4)


def reliability(confidence: Array, correct: Array, bins: int = 15) -> pd.DataFrame:
    """Per equal-width bin (those of ``expected_calibration_error``): count, confidence, accuracy."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows = [
        {
            "low": edges[b],
            "high": edges[b + 1],
            "n": int((idx == b).sum()),
            "confidence": float(confidence[idx == b].mean()) if (idx == b).any() else np.nan,
            "accuracy": float(correct[idx == b].mean()) if (idx == b).any() else np.nan,
        }
        for b in range(bins)
    ]
    return pd.DataFrame(rows)


def worst_errors(result: Scored, n: int = 10, width: int = 60) -> pd.DataFrame:
    """The ``n`` most confident wrong predictions."""
    wrong = [i for i, ok in enumerate(result.correct) if not ok]
    wrong.sort(key=lambda i: -result.confidence[i])
    rows = [
        {
            "confidence": round(float(result.confidence[i]), 3),
            "gold": result.rows[i].label,
            "pred": result.pred[i],
            "source": result.rows[i].source,
            "text": result.rows[i].text[:width],
        }
        for i in wrong[:n]
    ]
    return pd.DataFrame(rows, columns=["confidence", "gold", "pred", "source", "text"])


def errors_by_source(results: Sequence[Scored]) -> pd.DataFrame:
    """Error rate per model, evaluation set and source (review site, TV series, channel...)."""
    frames = [
        pd.DataFrame(
            {
                "model": r.model,
                "dataset": r.dataset,
                "source": [x.source for x in r.rows],
                "wrong": 1 - r.correct,
            }
        )
        for r in results
    ]
    if not frames:
        return pd.DataFrame(columns=["model", "dataset", "source", "n", "errors", "error_rate"])
    grouped = pd.concat(frames).groupby(["model", "dataset", "source"])["wrong"]
    out = grouped.agg(n="size", errors="sum", error_rate="mean").reset_index()
    return out.astype({"errors": int}).round({"error_rate": 4})


def plot_result(result: Scored, bins: int = 15) -> Figure:
    """Confusion matrix (row-normalised colour, counts written) and reliability diagram, side by side."""
    fig, (ax_cm, ax_rel) = plt.subplots(1, 2, figsize=(11, 4.4))
    labels = result.display_labels
    cm = confusion_matrix(result.gold, result.pred, labels=labels)
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ax_cm.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(cm):
        ax_cm.text(
            j, i, str(count), ha="center", va="center", color="white" if share[i, j] > 0.5 else "black"
        )
    ax_cm.set(xticks=range(len(labels)), yticks=range(len(labels)), xlabel="predicted", ylabel="gold")
    ax_cm.set_xticklabels(labels, rotation=45)
    ax_cm.set_yticklabels(labels)
    ax_cm.set_title(f"{result.model} on {result.dataset}: confusion")
    _reliability_axes(ax_rel, reliability(result.confidence, result.correct, bins), result.ece(bins))
    fig.tight_layout()
    return fig


def _reliability_axes(ax: plt.Axes, table: pd.DataFrame, ece: float) -> None:
    filled = table[table["n"] > 0]
    width = float(table["high"].iloc[0] - table["low"].iloc[0])
    ax.bar(
        filled["low"],
        filled["accuracy"],
        width=width,
        align="edge",
        alpha=0.7,
        edgecolor="k",
        label="accuracy",
    )
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.plot(filled["confidence"], filled["accuracy"], "o", color="C3", label="bin mean confidence")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="top-label confidence", ylabel="accuracy")
    ax.set_title(f"reliability (ECE {ece:.3f}, {len(table)} bins)")
    ax.legend(loc="upper left", fontsize=8)


# ---------------------------------------------------------------- agent KPIs


CONVERSATION_COLUMNS = [
    "id",
    "agent_id",
    "team",
    "channel",
    "started_at",
    "quality_index",
    "emotion_index",
    "grade",
    "flags",
]


def conversations_frame(results: Sequence[ConversationResult]) -> pd.DataFrame:
    rows = [
        {
            "id": r.id,
            "agent_id": r.agent_id,
            "team": r.team,
            "channel": r.channel,
            "started_at": r.started_at,
            "quality_index": r.quality_index,
            "emotion_index": r.emotion_index,
            "grade": r.grade,
            "flags": ", ".join(r.flags),
        }
        for r in results
    ]
    return pd.DataFrame(rows, columns=CONVERSATION_COLUMNS)


AGENT_COLUMNS = [
    "agent_id",
    "team",
    "conversations",
    "quality_index",
    "qi_ci_low",
    "qi_ci_high",
    "emotion_index",
    "agent_score",
    "grade",
    *(f"c_{k}" for k in COMPONENTS),
]


def agents_frame(scores: Sequence[AgentScore]) -> pd.DataFrame:
    """One row per agent: conversations, indices, the agent score, its grade and components."""
    rows = [
        {
            "agent_id": s.agent_id,
            "team": s.team,
            "conversations": s.conversations,
            "quality_index": s.quality_index,
            "qi_ci_low": s.quality_index_ci.low if s.quality_index_ci else None,
            "qi_ci_high": s.quality_index_ci.high if s.quality_index_ci else None,
            "emotion_index": s.emotion_index,
            "agent_score": s.agent_score,
            "grade": s.grade,
            **{f"c_{k}": v for k, v in s.components.items()},
        }
        for s in scores
    ]
    return pd.DataFrame(rows, columns=AGENT_COLUMNS).round(2)


def teams_frame(conversations: pd.DataFrame, agents: pd.DataFrame) -> pd.DataFrame:
    """Per team: agents, conversations, mean indices over its conversations, mean of its agents' scores.

    A conversation without a team (a chat export) counts for its agent's usual team.
    """
    team_of = dict(zip(agents["agent_id"], agents["team"], strict=True))
    conv = conversations.assign(team=conversations["team"].fillna(conversations["agent_id"].map(team_of)))
    teams = conv.groupby("team").agg(
        agents=("agent_id", "nunique"),
        conversations=("id", "size"),
        quality_index=("quality_index", "mean"),
        emotion_index=("emotion_index", "mean"),
    )
    teams["mean_agent_score"] = agents.groupby("team")["agent_score"].mean()
    return teams.round(2).reset_index()


def verdicts_frame(results: Sequence[ConversationResult]) -> pd.DataFrame:
    """Long table: one row per conversation and scorecard item."""
    rows = [
        {"id": r.id, "agent_id": r.agent_id, "item": item, "verdict": res.verdict, "fatal": res.fatal}
        for r in results
        for item, res in r.items.items()
    ]
    return pd.DataFrame(rows, columns=["id", "agent_id", "item", "verdict", "fatal"])


def fail_rates(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Agent x item share of applicable (not ``na``) verdicts that fail; NaN where never applicable."""
    applicable = verdicts[verdicts["verdict"] != "na"].assign(fail=lambda d: d["verdict"] == "fail")
    rates = applicable.pivot_table(index="agent_id", columns="item", values="fail", aggfunc="mean")
    return rates.reindex(columns=pd.unique(applicable["item"]))  # scorecard order


def flagged(results: Sequence[ConversationResult]) -> pd.DataFrame:
    """Conversations with a fatal item failed (e.g. a forbidden phrase), with the evidence."""
    rows = []
    for r in results:
        fatal = {k: v for k, v in r.items.items() if v.fatal and v.verdict == "fail"}
        if fatal or any(f.startswith("fatal:") for f in r.flags):
            evidence = [f"{k}: {e.text}" for k, v in fatal.items() for e in v.evidence if e.text]
            rows.append(
                {
                    "id": r.id,
                    "agent_id": r.agent_id,
                    "quality_index": r.quality_index,
                    "grade": r.grade,
                    "flags": ", ".join(r.flags),
                    "evidence": " | ".join(evidence),
                }
            )
    return pd.DataFrame(rows, columns=["id", "agent_id", "quality_index", "grade", "flags", "evidence"])


def plot_distributions(conversations: pd.DataFrame) -> Figure:
    """Histograms of the quality and emotion indices, and each agent's conversations by quality index."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for ax, column in zip(axes[:2], ("quality_index", "emotion_index"), strict=True):
        ax.hist(conversations[column].dropna(), bins=np.linspace(0, 100, 11), edgecolor="k")
        ax.set(xlabel=column, ylabel="conversations", title=f"{column} per conversation")
    by_agent = conversations.dropna(subset=["agent_id"]).groupby("agent_id")["quality_index"]
    for i, (_agent, values) in enumerate(by_agent):
        axes[2].scatter([i] * len(values), values, alpha=0.6)
        axes[2].plot([i - 0.25, i + 0.25], [values.mean()] * 2, color="k")
    axes[2].set_xticks(range(by_agent.ngroups), [str(a) for a, _ in by_agent], rotation=45)
    axes[2].set(ylim=(-5, 105), ylabel="quality_index", title="per agent (line: mean)")
    fig.tight_layout()
    return fig


def plot_fail_rates(rates: pd.DataFrame) -> Figure:
    """Heatmap of :func:`fail_rates` (blank where an item never applied to an agent)."""
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * max(len(rates.columns), 1), 1.2 + 0.45 * max(len(rates), 1)))
    values = rates.to_numpy(dtype=float)
    image = ax.imshow(np.ma.masked_invalid(values), cmap="Reds", vmin=0, vmax=1, aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        if not np.isnan(v):
            ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=8, color="white" if v > 0.6 else "k")
    ax.set_xticks(range(len(rates.columns)), rates.columns, rotation=60, ha="right")
    ax.set_yticks(range(len(rates.index)), rates.index)
    ax.set_title("fail rate per agent and scorecard item")
    fig.colorbar(image, ax=ax, fraction=0.03)
    fig.tight_layout()
    return fig
