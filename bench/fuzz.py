"""Coverage-guided fuzzing (atheris / libFuzzer) of what reads untrusted bytes: the audio probe and
decoder, and the chat importers (byte decoding, JSON Lines, CSV, the conversation record).

    python -m bench.fuzz --target audio|chat [--runs 20000] [--timeout 10] [--corpus DIR]

Each input must end in a typed :class:`~qa_pipeline.errors.InputError` (or be accepted); any other
exception is a crash, an input running longer than ``--timeout`` seconds a hang: libFuzzer stops,
saves the input as ``crash-*`` / ``timeout-*`` and the command exits non-zero. The seed corpus is made
on the fly (tiny WAV, FLAC, MP3 and OGG files; the example conversations and CSV export). Prints the
executions and the distinct coverage features reached.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import atheris
import numpy as np

with atheris.instrument_imports(include=["qa_pipeline"]):
    from qa_pipeline.asr.decode import iter_blocks, probe
    from qa_pipeline.errors import InputError
    from qa_pipeline.settings import PROJECT_DIR, Settings
    from qa_pipeline.sources.csv_chat import iter_csv_text
    from qa_pipeline.sources.encoding import decode_bytes
    from qa_pipeline.sources.jsonl import iter_jsonl_text

SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".m4a", ".amr")
MAX_BLOCKS = 50  # a decoder may be handed a valid long file: bounded work per input
SETTINGS = Settings(max_file_bytes=1 << 20, max_turns=200, max_turn_chars=2000)
COUNT = {"runs": 0, "typed": 0}


def _audio_seeds(folder: Path) -> None:
    import av

    rate = 8000
    t = np.arange(rate // 5) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for codec, suffix in (
        ("pcm_s16le", ".wav"),
        ("flac", ".flac"),
        ("libmp3lame", ".mp3"),
        ("libopus", ".ogg"),
    ):
        buf = io.BytesIO()
        try:
            with av.open(
                buf, "w", format={".wav": "wav", ".flac": "flac", ".mp3": "mp3", ".ogg": "ogg"}[suffix]
            ) as out:
                stream = out.add_stream(codec, rate=48000 if codec == "libopus" else rate)
                stream.layout = "stereo"
                frame = av.AudioFrame.from_ndarray(
                    np.stack([tone, tone])[None].reshape(1, -1), format="flt", layout="stereo"
                )
                frame.rate = rate
                for packet in stream.encode(frame):
                    out.mux(packet)
                for packet in stream.encode(None):
                    out.mux(packet)
        except (av.FFmpegError, ValueError) as exc:  # an encoder this FFmpeg build lacks
            logging.warning("no %s seed: %s", suffix, exc)
            continue
        (folder / f"seed{suffix}").write_bytes(bytes([SUFFIXES.index(suffix)]) + buf.getvalue())


def _chat_seeds(folder: Path) -> None:
    examples = PROJECT_DIR / "examples"
    lines = (examples / "conversations.jsonl").read_bytes().splitlines()
    for i, line in enumerate(lines[:4]):
        (folder / f"jsonl-{i}").write_bytes(b"J" + line)
    (folder / "csv").write_bytes(b"C" + (examples / "chat_export_gbk.csv").read_bytes()[:3000])


def audio_input(data: bytes, scratch: Path) -> None:
    """The first byte picks the file suffix; the rest is the file."""
    if not data:
        return
    path = scratch / f"input{SUFFIXES[data[0] % len(SUFFIXES)]}"
    path.write_bytes(data[1:])
    try:
        probe(path)
        for n, _block in enumerate(iter_blocks(path, max_s=600.0)):
            if n >= MAX_BLOCKS:
                break
    except InputError:
        COUNT["typed"] += 1


def chat_input(data: bytes, _scratch: Path) -> None:
    """The first byte picks the importer (C: CSV, else JSON Lines); the rest is the file's bytes."""
    if not data:
        return
    try:
        text = decode_bytes(data[1:], "fuzz").text
        reader = iter_csv_text if data[:1] == b"C" else iter_jsonl_text
        for item in reader(text, settings=SETTINGS, source="fuzz"):
            if isinstance(item, InputError):
                COUNT["typed"] += 1
    except InputError:
        COUNT["typed"] += 1


TARGETS: dict[str, tuple[Callable[[bytes, Path], None], Callable[[Path], None]]] = {
    "audio": (audio_input, _audio_seeds),
    "chat": (chat_input, _chat_seeds),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=sorted(TARGETS), required=True)
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--timeout", type=int, default=10)
    parser.add_argument("--corpus", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("qa_pipeline").setLevel(logging.CRITICAL)
    run, seeds = TARGETS[args.target]
    scratch = Path(tempfile.mkdtemp(prefix="qa-fuzz-"))
    corpus = args.corpus or scratch / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    seeds(corpus)
    started = time.monotonic()

    def one(data: bytes) -> None:
        COUNT["runs"] += 1
        try:
            run(data, scratch)
        except BaseException:
            print(
                f"{args.target}: CRASH after {COUNT['runs']} executions (input saved by libFuzzer)",
                flush=True,
            )
            raise
        if COUNT["runs"] == args.runs:  # libFuzzer ends the process right after its last run
            elapsed = time.monotonic() - started
            typed = COUNT["typed"]
            summary = f"{args.runs} executions in {elapsed:.0f} s, {typed} typed input errors, no crash"
            print(f"{args.target}: {summary}", flush=True)

    libfuzzer = [
        f"-runs={args.runs}",
        f"-timeout={args.timeout}",
        "-rss_limit_mb=3072",
        "-print_final_stats=1",
    ]
    atheris.Setup([sys.argv[0], *libfuzzer, str(corpus)], one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
