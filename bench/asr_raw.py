"""Raw faster-whisper baseline (CER, real-time factor) and the long-audio memory check.

    python -m bench.asr_raw [--beam 5] [--no-vad] [--no-condition] [--threads 0] [--json out.json]
    python -m bench.asr_raw --long-hours 10 [--long-format wav|flac|mp3] [--transcribe-minutes 0]

Baseline: every conversations_dev audio file (stereo: each channel transcribed on its own and
scored against that speaker's turns, agent = left; mono FLAC: the whole mix against all turns in
time order) and every speech clip whose manifest row has a human reference. CER is pooled: total
edits over total reference characters, after the normalisation of :mod:`qa_pipeline.asr.cer`.

Long: writes an N-hour stereo 8 kHz file into a temporary folder (the dev call c0002 repeated,
or tones and noise when shared data is absent), streaming, then decodes it in chunks through
:func:`qa_pipeline.asr.decode.iter_chunks` and reports peak RSS; ``--transcribe-minutes`` then
loads the model and transcribes the first minutes of it through the same chunked path.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import resource
import tempfile
import time
import wave
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from qa_pipeline.asr import (
    ChunkOptions,
    TranscribeOptions,
    WhisperSpec,
    cer,
    iter_chunks,
    load_model,
    pool,
    transcribe_chunk,
    transcribe_file,
)
from qa_pipeline.asr.cer import CerResult
from qa_pipeline.settings import PROJECT_DIR

log = logging.getLogger("bench")
DATA = PROJECT_DIR.parent / "shared" / "data"
DEV = DATA / "conversations_dev"
SPEECH = DATA / "speech"
LONG_RATE = 8000


@dataclass
class Row:
    name: str
    kind: str  # stereo8k / mono16k / clip
    audio_s: float
    elapsed_s: float
    edits: int
    ref_chars: int

    @property
    def cer(self) -> float:
        return self.edits / max(self.ref_chars, 1)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def references(path: Path) -> dict[str, list[dict]]:
    rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return {row["id"]: row["turns"] for row in rows}


def score_call(audio: Path, turns: list[dict], opts: TranscribeOptions) -> Row:
    tr = transcribe_file(audio, opts)
    if tr.audio.channels == 2:
        agent = 0 if opts.agent_channel == "left" else 1
        refs = {agent: "agent", 1 - agent: "customer"}
        parts = [
            cer("".join(t["text"] for t in turns if t["speaker"] == spk), tr.text(ch))
            for ch, spk in refs.items()
        ]
        result, kind = pool(parts), f"stereo{tr.audio.sample_rate // 1000}k"
    else:
        ref = "".join(t["text"] for t in sorted(turns, key=lambda t: t["start"]))
        result, kind = cer(ref, tr.text()), f"mono{tr.audio.sample_rate // 1000}k"
    return Row(audio.name, kind, tr.audio_s, tr.elapsed_s, result.edits, result.ref_chars)


def human_clips(manifest: Path) -> Iterator[tuple[Path, str]]:
    with manifest.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if row["transcript_provenance"].lower().startswith("human"):
                yield manifest.parent / row["file"], row["transcript"]


def score_clip(audio: Path, reference: str, opts: TranscribeOptions) -> Row:
    tr = transcribe_file(audio, opts.model_copy(update={"chunk": ChunkOptions(mono=True)}))
    result = cer(reference, tr.text())
    log.info("  %s: ref %s | hyp %s", audio.name, reference, tr.text())
    return Row(audio.name, "clip", tr.audio_s, tr.elapsed_s, result.edits, result.ref_chars)


def summarize(rows: list[Row], label: str) -> dict[str, float]:
    total = pool(CerResult(r.edits, r.ref_chars, 0) for r in rows)
    audio, elapsed = sum(r.audio_s for r in rows), sum(r.elapsed_s for r in rows)
    log.info(
        "%-14s n=%2d pooled CER %.4f (%d/%d) RTF %.3f",
        label,
        len(rows),
        total.cer,
        total.edits,
        total.ref_chars,
        elapsed / max(audio, 1e-9),
    )
    return {
        "n": len(rows),
        "cer": total.cer,
        "edits": total.edits,
        "ref_chars": total.ref_chars,
        "audio_s": audio,
        "elapsed_s": elapsed,
    }


def baseline(opts: TranscribeOptions, spec: WhisperSpec, only: set[str]) -> dict[str, object]:
    started = time.perf_counter()
    load_model(spec)
    load_s = time.perf_counter() - started
    log.info("model load %.2f s, peak RSS %.0f MB", load_s, peak_rss_mb())
    refs = references(DEV / "dialogues.jsonl")
    calls = [p for p in sorted((DEV / "audio").iterdir()) if not only or p.stem in only]
    rows = [score_call(p, refs[p.stem], opts) for p in calls]
    for r in rows:
        log.info(
            "%-12s %-9s %5.1f s CER %.4f (%d/%d) RTF %.3f",
            r.name,
            r.kind,
            r.audio_s,
            r.cer,
            r.edits,
            r.ref_chars,
            r.elapsed_s / r.audio_s,
        )
    clips = [score_clip(p, ref, opts) for p, ref in human_clips(SPEECH / "manifest.tsv")]
    for r in clips:
        log.info("%-34s CER %.4f (%d/%d)", r.name, r.cer, r.edits, r.ref_chars)
    summary = {
        kind: summarize([r for r in rows if r.kind == kind], kind) for kind in sorted({r.kind for r in rows})
    }
    summary["all_calls"] = summarize(rows, "all calls")
    summary["clips"] = summarize(clips, "human clips")
    return {
        "options": opts.model_dump(),
        "load_s": load_s,
        "summary": summary,
        "rows": [asdict(r) | {"cer": r.cer} for r in rows + clips],
        "peak_rss_mb": peak_rss_mb(),
    }


def _source_blocks(block_s: float = 10.0) -> Iterator[np.ndarray]:
    """Endless stereo int16 blocks at 8 kHz: the dev call c0002 on repeat, or tones and noise."""
    src = DEV / "audio" / "c0002.wav"
    if src.is_file():
        with wave.open(str(src)) as w:
            data = np.frombuffer(w.readframes(w.getnframes()), np.int16).reshape(-1, w.getnchannels()).T
        while True:
            yield data
    rng, n = np.random.default_rng(0), int(block_s * LONG_RATE)
    t = np.arange(n) / LONG_RATE
    while True:
        tone = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)]) * 6000
        yield (tone * (t % 2 < 1) + rng.normal(0, 300, (2, n))).astype(np.int16)


def write_long(path: Path, hours: float, codec: str) -> None:
    """Write ``hours`` of stereo 8 kHz audio to ``path`` block by block (never all in memory)."""
    remaining = int(hours * 3600 * LONG_RATE)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=LONG_RATE, layout="stereo")
        assert isinstance(stream, av.AudioStream)
        for block in _source_blocks():
            block = block[:, :remaining]
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(block.T).reshape(1, -1), format="s16", layout="stereo"
            )
            frame.sample_rate = LONG_RATE
            out.mux(stream.encode(frame))
            remaining -= block.shape[1]
            if remaining <= 0:
                break
        out.mux(stream.encode(None))


def long_run(
    hours: float, fmt: str, transcribe_minutes: float, opts: TranscribeOptions, spec: WhisperSpec
) -> dict[str, object]:
    codec = {"wav": "pcm_s16le", "flac": "flac", "mp3": "libmp3lame"}[fmt]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"long.{fmt}"
        started = time.perf_counter()
        write_long(path, hours, codec)
        log.info(
            "wrote %s (%.0f MB) in %.0f s, peak RSS %.0f MB",
            path.name,
            path.stat().st_size / 2**20,
            time.perf_counter() - started,
            peak_rss_mb(),
        )
        started, seconds, chunks = time.perf_counter(), 0.0, 0
        for chunk in iter_chunks(path, opts.chunk):
            seconds, chunks = seconds + chunk.duration_s, chunks + 1
        decode_s = time.perf_counter() - started
        result: dict[str, object] = {
            "hours": hours,
            "format": fmt,
            "chunks": chunks,
            "decoded_channel_s": seconds,
            "decode_s": decode_s,
            "decode_peak_rss_mb": peak_rss_mb(),
        }
        log.info(
            "decoded %.0f channel-seconds in %d chunks, %.0f s; peak RSS %.0f MB",
            seconds,
            chunks,
            decode_s,
            peak_rss_mb(),
        )
        if transcribe_minutes > 0:
            result |= transcribe_head(path, transcribe_minutes, opts, spec)
    return result


def transcribe_head(
    path: Path, minutes: float, opts: TranscribeOptions, spec: WhisperSpec
) -> dict[str, object]:
    model, started, n_segments, audio_s = load_model(spec), time.perf_counter(), 0, 0.0
    for chunk in iter_chunks(path, opts.chunk):
        if chunk.start_s >= minutes * 60:
            break
        n_segments += len(transcribe_chunk(model, chunk, opts))
        audio_s += chunk.duration_s
        log.info(
            "  channel %d %.0f-%.0f s done; peak RSS %.0f MB",
            chunk.channel,
            chunk.start_s,
            chunk.end_s,
            peak_rss_mb(),
        )
    elapsed = time.perf_counter() - started
    log.info(
        "transcribed %.0f channel-seconds (%d segments) in %.0f s; peak RSS %.0f MB",
        audio_s,
        n_segments,
        elapsed,
        peak_rss_mb(),
    )
    return {
        "transcribed_channel_s": audio_s,
        "transcribe_s": elapsed,
        "transcribe_peak_rss_mb": peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--no-vad", action="store_true")
    ap.add_argument("--no-condition", action="store_true", help="condition_on_previous_text off")
    ap.add_argument("--threads", type=int, default=0, help="CTranslate2 CPU threads (0: min(4, cores))")
    ap.add_argument("--compute-type", default="int8")
    ap.add_argument("--files", default="", help="comma-separated dev ids (default: all)")
    ap.add_argument("--chunk-s", type=float, default=ChunkOptions().chunk_s)
    ap.add_argument("--long-hours", type=float, default=0.0)
    ap.add_argument("--long-format", choices=["wav", "flac", "mp3"], default="wav")
    ap.add_argument("--transcribe-minutes", type=float, default=0.0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    opts = TranscribeOptions(
        beam_size=args.beam,
        vad=not args.no_vad,
        condition_on_previous_text=not args.no_condition,
        chunk=ChunkOptions(chunk_s=args.chunk_s),
    )
    spec = WhisperSpec(cpu_threads=args.threads, compute_type=args.compute_type)
    if args.long_hours > 0:
        out = long_run(args.long_hours, args.long_format, args.transcribe_minutes, opts, spec)
    else:
        out = baseline(opts, spec, {s for s in args.files.split(",") if s})
    if args.json:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
