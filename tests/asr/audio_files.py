"""Write small test audio files (WAV with the stdlib ``wave`` module, other formats with PyAV)."""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np

# suffix -> (codec, container format or None to infer from the suffix)
ENCODERS: dict[str, tuple[str, str | None]] = {
    ".mp3": ("libmp3lame", None),
    ".flac": ("flac", None),
    ".ogg": ("libopus", None),
    ".m4a": ("aac", "ipod"),
}


def tone(rate: int, seconds: float, freq: float, start: float = 0.0, end: float | None = None) -> np.ndarray:
    """int16 sine of ``freq`` Hz between ``start`` and ``end`` seconds, silence elsewhere."""
    t = np.arange(int(rate * seconds)) / rate
    on = (t >= start) & (t < (seconds if end is None else end))
    return (np.sin(2 * np.pi * freq * t) * 8000 * on).astype(np.int16)


def write_wav(path: Path, channels: np.ndarray, rate: int) -> Path:
    """``channels``: int16 array (n_channels, n_samples)."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels.shape[0])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.ascontiguousarray(channels.T).tobytes())
    return path


def write_audio(path: Path, channels: np.ndarray, rate: int) -> Path:
    """Encode ``channels`` (int16, (n_channels, n_samples)) to the format named by the suffix."""
    if path.suffix == ".wav":
        return write_wav(path, channels, rate)
    codec, fmt = ENCODERS[path.suffix]
    layout = "mono" if channels.shape[0] == 1 else "stereo"
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        assert isinstance(stream, av.AudioStream)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(channels.T).reshape(1, -1), format="s16", layout=layout
        )
        frame.sample_rate = rate
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path
