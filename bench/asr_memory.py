"""Peak memory of long recordings: import, chunked decode, and transcription of the head.

    python -m bench.asr_memory [--hours 10] [--transcribe-minutes 10] [--chunk-s 120] [--json out.json]

Writes an N-hour stereo 8 kHz WAV into a temporary folder block by block (never all in memory: the
dev call c0002 on repeat, or tones and noise without shared data), then, in this order and in one
process so ``ru_maxrss`` is the peak over everything before it:

1. :func:`qa_pipeline.sources.audio.conversation_from_audio` (the import: header checks, first frame);
2. every chunk of every channel through :func:`qa_pipeline.asr.decode.iter_chunks`, the decode path
   of the ``asr`` stage (``qa_pipeline.asr.transcribe.iter_segments``), with the stage's chunking;
3. with ``--transcribe-minutes`` > 0, the bundled Whisper model on the chunks of the first minutes
   (``qa_pipeline.asr.transcribe.transcribe_chunk``, as the stage does).

The length and size caps are raised for the run (``QA_MAX_AUDIO_S``, ``QA_MAX_FILE_BYTES``,
``QA_MAX_UPLOAD_BYTES``) so the file is accepted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import tempfile
import time
from pathlib import Path

from bench.asr_raw import write_long
from qa_pipeline.asr import ChunkOptions, TranscribeOptions, WhisperSpec, iter_chunks, load_model
from qa_pipeline.asr.transcribe import speaker_of, transcribe_chunk
from qa_pipeline.settings import Settings
from qa_pipeline.sources.audio import conversation_from_audio

log = logging.getLogger("bench.asr_memory")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def raise_caps(hours: float) -> None:
    """Lift the length and size limits above the test file (the run is meant to pass them)."""
    os.environ["QA_MAX_AUDIO_S"] = str(hours * 3600 + 60)
    os.environ["QA_MAX_FILE_BYTES"] = os.environ["QA_MAX_UPLOAD_BYTES"] = str(2**40)


def chunking(chunk_s: float) -> ChunkOptions:
    """The chunking of the ``asr`` stage (``AsrStage._options``)."""
    return ChunkOptions(chunk_s=chunk_s, search_s=min(20.0, chunk_s / 2))


def import_and_decode(path: Path, opts: ChunkOptions) -> dict[str, float]:
    started = time.perf_counter()
    conv = conversation_from_audio(path, settings=Settings())
    assert conv.audio is not None
    imported_s, seconds, chunks = time.perf_counter() - started, 0.0, 0
    log.info("imported %s (%.0f s of audio) in %.2f s", path.name, conv.audio.duration_s or 0, imported_s)
    started = time.perf_counter()
    for chunk in iter_chunks(path, opts):
        seconds, chunks = seconds + chunk.duration_s, chunks + 1
    decode_s = time.perf_counter() - started
    log.info(
        "decoded %.0f channel-s in %d chunks, %.0f s; peak RSS %.0f MB",
        seconds,
        chunks,
        decode_s,
        peak_rss_mb(),
    )
    return {
        "import_s": imported_s,
        "header_duration_s": conv.audio.duration_s or 0.0,
        "decoded_channel_s": seconds,
        "chunks": chunks,
        "decode_s": decode_s,
        "decode_peak_rss_mb": peak_rss_mb(),
    }


def transcribe_head(path: Path, minutes: float, opts: TranscribeOptions) -> dict[str, float]:
    started = time.perf_counter()
    model = load_model(WhisperSpec())  # the bundled Whisper base, CPU int8
    load_s, started = time.perf_counter() - started, time.perf_counter()
    audio_s, segments = 0.0, 0
    for chunk in iter_chunks(path, opts.chunk):
        if chunk.start_s >= minutes * 60:
            continue  # the other channel's head may still follow; decoding the rest is cheap
        speaker = speaker_of(chunk.channel, 2, opts.agent_channel)
        segments += len(transcribe_chunk(model, chunk, opts, speaker=speaker))
        audio_s += chunk.duration_s
        log.info(
            "  ch%d %.0f-%.0f s; peak RSS %.0f MB", chunk.channel, chunk.start_s, chunk.end_s, peak_rss_mb()
        )
    elapsed = time.perf_counter() - started
    return {
        "model_load_s": load_s,
        "transcribed_channel_s": audio_s,
        "segments": segments,
        "transcribe_s": elapsed,
        "rtf": elapsed / audio_s if audio_s else 0.0,
        "transcribe_peak_rss_mb": peak_rss_mb(),
    }


def run(hours: float, minutes: float, chunk_s: float) -> dict[str, object]:
    raise_caps(hours)
    opts = chunking(chunk_s)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.wav"
        started = time.perf_counter()
        write_long(path, hours, "pcm_s16le")
        result: dict[str, object] = {
            "hours": hours,
            "file_mb": path.stat().st_size / 2**20,
            "write_s": time.perf_counter() - started,
            "write_peak_rss_mb": peak_rss_mb(),
        }
        result |= import_and_decode(path, opts)
        if minutes > 0:
            result |= transcribe_head(path, minutes, TranscribeOptions(chunk=opts))
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=10.0)
    ap.add_argument("--transcribe-minutes", type=float, default=10.0)
    ap.add_argument("--chunk-s", type=float, default=Settings().asr_chunk_s)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    result = run(args.hours, args.transcribe_minutes, args.chunk_s)
    text = json.dumps(result, indent=2)
    log.info("%s", text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
