"""The audio pipeline against raw faster-whisper and against the text pipeline, in one run.

    python -m bench.asr_eval [--variants cond_off,hotwords,...] [--parallel-calls 3] [--json out.json]

1. CER: raw faster-whisper (bench.asr_raw: channels sequential, baseline decoding) vs the product
   (the ``asr`` stage's turns, joined per speaker channel; mono: all turns in time order), pooled
   per set (stereo 8 kHz calls / mono call / human-reference clips), :mod:`qa_pipeline.asr.cer`.
2. Decoding variants of the ``asr`` stage (hotwords, condition_on_previous_text off, VAD silence),
   each on the same audio with the same model.
3. Speed: real-time factor of the whole audio pipeline per call (both channels decoded at once,
   2 workers x 1 thread), its time over raw faster-whisper's (1 worker x 2 threads, channels
   sequential) on the same audio, and the share of pipeline time spent outside the asr stage.
4. Scorecard: the audio pipeline on the recordings and the text pipeline on the same calls' text
   (dialogues.jsonl), per-item agreement with the labels for both, and the gap.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.asr_raw import DEV, SPEECH, human_clips, references, score_call, score_clip
from bench.asr_raw import Row as Score
from qa_pipeline.asr import TranscribeOptions, cer, load_model, pool
from qa_pipeline.asr.cer import CerResult
from qa_pipeline.asr.model import WhisperSpec
from qa_pipeline.evaluation import EvalReport, evaluate
from qa_pipeline.pipeline import BuildContext, Pipeline, Stage, load_pipeline_spec, registry
from qa_pipeline.settings import Settings
from qa_pipeline.sources import read_conversations
from qa_pipeline.sources.audio import conversation_from_audio
from qa_pipeline.stages.asr import RUBRIC_HOTWORDS, AsrConfig, AsrStage, model_id, whisper_spec
from qa_pipeline.types import Conversation, ConversationResult

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger("bench")
AUDIO_PIPELINE = Path(__file__).resolve().parents[1] / "qa_pipeline" / "config" / "pipeline.audio.yaml"
VARIANTS: dict[str, dict[str, Any]] = {
    "cond_off": {"condition_on_previous_text": False},
    "cond_on": {"condition_on_previous_text": True},
    "hotwords": {"hotwords": RUBRIC_HOTWORDS},
    "cond_off+hotwords": {"condition_on_previous_text": False, "hotwords": RUBRIC_HOTWORDS},
    "vad500": {"vad_min_silence_ms": 500},
    "vad1000": {"vad_min_silence_ms": 1000},
}


def kind_of(conv: Conversation) -> str:
    audio = conv.audio
    assert audio is not None
    return f"{'stereo' if audio.channels == 2 else 'mono'}{audio.sample_rate // 1000}k"


def audio_s(conv: Conversation) -> float:
    return (conv.audio.duration_s or 0.0) if conv.audio is not None else 0.0


def turns_cer(conv: Conversation, ref_turns: list[dict[str, Any]]) -> CerResult:
    """Stereo: per speaker, turns joined; mono: all turns in time order (no diarisation)."""
    if conv.audio is not None and conv.audio.channels == 2:
        return pool(
            cer(
                "".join(t["text"] for t in ref_turns if t["speaker"] == spk),
                "".join(t.text for t in conv.turns if t.speaker == spk),
            )
            for spk in ("agent", "customer")
        )
    ref = "".join(t["text"] for t in sorted(ref_turns, key=lambda t: t["start"]))
    return cer(ref, "".join(t.text for t in sorted(conv.turns, key=lambda t: t.start or 0.0)))


def pooled(rows: list[Score]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for kind in sorted({r.kind for r in rows}):
        own = [r for r in rows if r.kind == kind]
        edits, chars = sum(r.edits for r in own), sum(r.ref_chars for r in own)
        audio, elapsed = sum(r.audio_s for r in own), sum(r.elapsed_s for r in own)
        out[kind] = {"n": len(own), "cer": edits / max(chars, 1), "edits": edits, "ref_chars": chars,
                     "rtf": elapsed / max(audio, 1e-9)}  # fmt: skip
    return out


def log_pooled(label: str, summary: dict[str, dict[str, float]]) -> None:
    for kind, s in summary.items():
        log.info("%-22s %-9s n=%2d CER %.4f (%d/%d) RTF %.3f", label, kind, s["n"], s["cer"],
                 s["edits"], s["ref_chars"], s["rtf"])  # fmt: skip


# -- audio inputs -------------------------------------------------------------------------------


def audio_convs(settings: Settings) -> list[Conversation]:
    return [
        conversation_from_audio(p, settings=settings, conversation_id=p.stem, metadata={})
        for p in sorted((DEV / "audio").iterdir())
    ]


def clip_convs(settings: Settings) -> list[tuple[Conversation, str]]:
    return [
        (conversation_from_audio(p, settings=settings, conversation_id=p.stem, metadata={}), ref)
        for p, ref in human_clips(SPEECH / "manifest.tsv")
    ]


def run_stage(stage: Stage, conv: Conversation) -> tuple[Conversation, float]:
    started = time.perf_counter()
    out = stage(conv.model_copy(deep=True))
    return out, time.perf_counter() - started


def product_scores(stage: Stage, refs: dict[str, list[dict[str, Any]]], settings: Settings,
                   with_clips: bool = True) -> tuple[list[Score], dict[str, list[str]]]:  # fmt: skip
    """CER of the asr stage's turns on every call (and clip); also each call's turn texts."""
    rows, texts = [], {}
    for conv in audio_convs(settings):
        out, elapsed = run_stage(stage, conv)
        res = turns_cer(out, refs[conv.id])
        texts[conv.id] = [f"{t.speaker}:{t.text}" for t in out.turns]
        rows.append(Score(conv.id, kind_of(conv), audio_s(conv), elapsed,
                          res.edits, res.ref_chars))  # fmt: skip
    for conv, ref in clip_convs(settings) if with_clips else []:
        out, elapsed = run_stage(stage, conv)
        res = cer(ref, "".join(t.text for t in out.turns))
        rows.append(Score(conv.id, "clip", audio_s(conv), elapsed, res.edits, res.ref_chars))
    return rows, texts


def raw_scores(refs: dict[str, list[dict[str, Any]]], opts: TranscribeOptions) -> list[Score]:
    rows = [score_call(p, refs[p.stem], opts) for p in sorted((DEV / "audio").iterdir())]
    rows += [score_clip(p, ref, opts) for p, ref in human_clips(SPEECH / "manifest.tsv")]
    return [Score(Path(r.name).stem, r.kind, r.audio_s, r.elapsed_s, r.edits, r.ref_chars) for r in rows]


# -- full pipelines -----------------------------------------------------------------------------


def build(path: Path | None, settings: Settings, ctx: BuildContext) -> Pipeline:
    spec = load_pipeline_spec(path) if path else load_pipeline_spec(settings.pipeline_config or _default())
    return Pipeline([registry.build(s.stage, s.config, ctx) for s in spec.stages], name=spec.name)


def _default() -> Path:
    from qa_pipeline.pipeline import DEFAULT_PIPELINE

    return DEFAULT_PIPELINE


def audio_pipeline_run(pipeline: Pipeline, convs: list[Conversation], refs: dict[str, list[dict[str, Any]]]
                       ) -> tuple[list[Score], dict[str, ConversationResult], dict[str, float]]:  # fmt: skip
    """Whole audio pipeline per call: asr-turn CER, results, and end-to-end seconds per call."""
    rows, results, e2e = [], {}, {}
    for conv in convs:
        started, asr_s, cur = time.perf_counter(), 0.0, conv
        for stage in pipeline.stages:
            cur = stage(cur)
            if stage.name == "asr":
                asr_s = time.perf_counter() - started
                res = turns_cer(cur, refs[conv.id])
        e2e[conv.id] = time.perf_counter() - started
        results[conv.id] = cur.to_result()
        rows.append(Score(conv.id, kind_of(conv), audio_s(conv), asr_s, res.edits, res.ref_chars))
    return rows, results, e2e


TextRun = tuple[dict[str, ConversationResult], dict[str, Any]]


def text_results(pipeline: Pipeline, settings: Settings, ids: set[str]) -> TextRun:
    convs = [c for c in read_conversations([DEV / "dialogues.jsonl"], settings=settings)
             if isinstance(c, Conversation) and c.id in ids]  # fmt: skip
    labels = {c.id: c.metadata.get("labels") for c in convs}
    return {c.id: pipeline(c).to_result() for c in convs}, labels


def agreement_gap(audio: dict[str, ConversationResult], text: dict[str, ConversationResult],
                  labels: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    ra = evaluate([(labels[i], r) for i, r in audio.items() if labels.get(i)])
    rt = evaluate([(labels[i], r) for i, r in text.items() if labels.get(i)])
    rows = {item: {"audio": _agr(ra, item), "text": _agr(rt, item)} for item in rt.items}
    log.info("%-22s %6s %6s %6s", "item", "audio", "text", "gap")
    for item, r in rows.items():
        gap = None if r["audio"] is None or r["text"] is None else r["text"] - r["audio"]
        r["gap"] = gap
        log.info("%-22s %6s %6s %6s", item, _f(r["audio"]), _f(r["text"]), _f(gap))
    macro = {"audio": ra.macro_agreement, "text": rt.macro_agreement}
    log.info("%-22s %6s %6s", "macro", _f(macro["audio"]), _f(macro["text"]))
    return {"items": rows, "macro": macro, "n": ra.n_conversations}


def _agr(report: EvalReport, item: str) -> float | None:
    rep = report.items.get(item)
    return rep.agreement if rep else None


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


# -- two channels at once -----------------------------------------------------------------------


def parallel_check(config: AsrConfig, settings: Settings, ident: str, model: WhisperModel,
                   n_calls: int) -> dict[str, Any]:  # fmt: skip
    """The product (channels at once, ``model``) vs one channel after the other on a 1-worker model."""
    convs = [c for c in audio_convs(settings) if kind_of(c).startswith("stereo")][:n_calls]
    one = config.model_copy(update={"parallel_channels": False})
    seq = AsrStage(load_model(WhisperSpec()), ident, one, settings)
    par = AsrStage(model, ident, config, settings)
    out: dict[str, Any] = {"calls": [], "seq_s": 0.0, "par_s": 0.0, "audio_s": 0.0, "equal": 0}
    for conv in convs:
        a, ta = run_stage(seq, conv)
        b, tb = run_stage(par, conv)
        same = [t.text for t in a.turns] == [t.text for t in b.turns]
        res_a, res_b = turns_cer(a, REFS[conv.id]), turns_cer(b, REFS[conv.id])
        out["calls"].append({"id": conv.id, "seq_s": ta, "par_s": tb, "same_text": same,
                             "edits_seq": res_a.edits, "edits_par": res_b.edits})  # fmt: skip
        out["seq_s"] += ta
        out["par_s"] += tb
        out["audio_s"] += audio_s(conv)
        out["equal"] += same
        log.info("%s: sequential %.1f s, 2 channels at once %.1f s, same text %s, edits %d vs %d",
                 conv.id, ta, tb, same, res_a.edits, res_b.edits)  # fmt: skip
    log.info("parallel: RTF %.3f vs sequential %.3f (%d/%d identical)", out["par_s"] / out["audio_s"],
             out["seq_s"] / out["audio_s"], out["equal"], len(convs))  # fmt: skip
    return out


REFS: dict[str, list[dict[str, Any]]] = {}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default="cond_off,hotwords,cond_off+hotwords,vad1000")
    ap.add_argument("--parallel-calls", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("faster_whisper", "qa_pipeline"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = Settings()
    REFS.update(references(DEV / "dialogues.jsonl"))
    out: dict[str, Any] = {}
    ctx = BuildContext(settings=settings)
    audio_pipe = build(AUDIO_PIPELINE, settings, ctx)
    text_pipe = build(None, settings, ctx)
    model, ident = load_model(whisper_spec(settings)), model_id(whisper_spec(settings))
    asr_stage = audio_pipe.stages[0]
    assert isinstance(asr_stage, AsrStage)
    log.info("product asr config: %s", asr_stage.config.model_dump())

    # 1+3: raw faster-whisper and the whole audio pipeline on the same calls
    raw = raw_scores(REFS, TranscribeOptions())
    out["raw"] = pooled(raw)
    log_pooled("raw faster-whisper", out["raw"])
    convs = audio_convs(settings)
    prod, audio_res, e2e = audio_pipeline_run(audio_pipe, convs, REFS)
    clips, _ = product_scores(asr_stage, REFS, settings)
    prod += [r for r in clips if r.kind == "clip"]
    out["product"] = pooled(prod)
    log_pooled("product (asr stage)", out["product"])
    out["speed"] = speed(convs, raw, prod, e2e)

    # 4: scorecard, audio vs text
    text_res, labels = text_results(text_pipe, settings, {c.id for c in convs})
    out["scorecard"] = agreement_gap(audio_res, text_res, labels)
    out["audio_turns"] = {i: [f"{t.speaker}: {t.text}" for t in r.turns] for i, r in audio_res.items()}

    # 2: decoding variants of the asr stage
    out["variants"] = {}
    for name in [v for v in args.variants.split(",") if v]:
        cfg = asr_stage.config.model_copy(update=VARIANTS[name])
        rows, _ = product_scores(AsrStage(model, ident, cfg, settings), REFS, settings)
        out["variants"][name] = pooled(rows)
        log_pooled(name, out["variants"][name])
    if args.parallel_calls:
        out["parallel"] = parallel_check(asr_stage.config, settings, ident, model, args.parallel_calls)
    out["rows"] = {"raw": [asdict(r) for r in raw], "product": [asdict(r) for r in prod]}
    if args.json:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")


def speed(convs: list[Conversation], raw: list[Score], prod: list[Score], e2e: dict[str, float]
          ) -> dict[str, Any]:  # fmt: skip
    """Per call and pooled over the stereo calls: end-to-end RTF, pipeline/raw, non-ASR overhead."""
    raw_s, asr_s = {r.name: r.elapsed_s for r in raw}, {r.name: r.elapsed_s for r in prod}
    rows = {}
    for conv in convs:
        secs = audio_s(conv)
        rows[conv.id] = {"audio_s": secs, "pipeline_s": e2e[conv.id], "raw_s": raw_s[conv.id],
                         "asr_s": asr_s[conv.id], "rtf": e2e[conv.id] / secs,
                         "ratio": e2e[conv.id] / raw_s[conv.id]}  # fmt: skip
        log.info("%s %-9s %5.1f s audio: pipeline %.1f s (RTF %.3f), raw %.1f s, ratio %.2f", conv.id,
                 kind_of(conv), secs, e2e[conv.id], rows[conv.id]["rtf"], raw_s[conv.id],
                 rows[conv.id]["ratio"])  # fmt: skip
    st = [r for c, r in rows.items() if kind_of(next(x for x in convs if x.id == c)).startswith("stereo")]
    total = {k: sum(r[k] for r in st) for k in ("audio_s", "pipeline_s", "raw_s", "asr_s")}
    total["overhead"] = 1 - total["asr_s"] / total["pipeline_s"]
    log.info("stereo calls: pipeline RTF %.3f (%.1fx real time), raw RTF %.3f, pipeline/raw %.2f, "
             "non-ASR stages %.1f %% of pipeline time", total["pipeline_s"] / total["audio_s"],
             total["audio_s"] / total["pipeline_s"], total["raw_s"] / total["audio_s"],
             total["pipeline_s"] / total["raw_s"], 100 * total["overhead"])  # fmt: skip
    return {"calls": rows, "stereo": total}


if __name__ == "__main__":
    main()
