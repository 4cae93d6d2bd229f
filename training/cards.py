"""Model cards for the models made by ``train_classifier`` and ``train_rubric`` (MODEL_CARD.md).

A card states what the model does, the data it was trained on with licences, every metric in its
metadata (grouped by evaluation set), size, speed, calibration and known limits.
"""

from __future__ import annotations

from pathlib import Path

from qa_pipeline.classifiers.metadata import ModelMetadata

#: Licence / use of each training file (from ../shared/data/README.md).
LICENCES: dict[str, str] = {
    "sentiment/train.tsv": "no licence stated; research use, do not redistribute",
    "emotion/smp2020_virus_train.jsonl": "SMP2020-EWECT evaluation-campaign data, research use",
    "emotion/clue2020_valid.jsonl": "CLUEmotion2020, no licence stated",
    "conversation_sentiment/xs_30k_autolabelled.tsv": "no licence stated",
    "helpdesk_dialogues/jddc2018_train.enc": "JDDC challenge terms; research use",
    "helpdesk_dialogues/stc3_dev.json": "annotations CC BY 4.0; dialogues non-commercial research only",
}
OWN = "written for this project (see rubrics/examples/ or training/data/ README); the project's licence"


def _metric_rows(metrics: dict[str, float]) -> list[str]:
    """One row per metric; names are ``<evaluation set>_<metric>`` (e.g. ``usual_eval_macro_f1``)."""
    rows = ["| metric | value |", "|---|---|"]
    rows += [f"| {name} | {value:.4g} |" for name, value in sorted(metrics.items())]
    return rows


def render(meta: ModelMetadata, purpose: str, limits: list[str], *, smoke: bool = False) -> str:
    lines = [f"# {meta.name} — model card", ""]
    if smoke:
        lines += ["**SMOKE MODEL**: trained on a tiny sample to test the training path; do not use.", ""]
    lines += [
        purpose,
        "",
        f"- version `{meta.version}`, kind `{meta.kind}`, created {meta.created}",
        f"- labels: {', '.join(meta.labels)}",
        f"- size on disk: {meta.artefact_bytes / 1e6:.2f} MB; frameworks: "
        + ", ".join(f"{k} {v}" for k, v in sorted(meta.frameworks.items())),
        f"- parameters: `{ {k: v for k, v in sorted(meta.params.items()) if k != 'init'} }`",
        "",
        "## Training data",
        "",
    ]
    for f in meta.data_files:
        lines.append(f"- `{f.path}` (sha256 {f.sha256[:12]}…): {LICENCES.get(f.path, OWN)}")
    lines += [
        "",
        "## Figures",
        "",
        "Evaluation sets are never trained on; `test`/`usual_eval` figures were not used "
        "to choose anything. ECE: 15 bins, top-label confidence.",
        "",
        *_metric_rows(meta.metrics),
        "",
        "## Limits",
        "",
        *[f"- {item}" for item in limits],
        "",
    ]
    return "\n".join(lines)


def write_card(
    folder: Path, meta: ModelMetadata, purpose: str, limits: list[str], *, smoke: bool = False
) -> Path:
    path = folder / "MODEL_CARD.md"
    path.write_text(render(meta, purpose, limits, smoke=smoke), encoding="utf-8")
    return path
