"""Sample conversation records for the importer tests."""

from __future__ import annotations

import random
from typing import Any


def call_record(ident: str = "c1", **extra: Any) -> dict[str, Any]:
    """A small call with Chinese text, timings and extra top-level fields."""
    return {
        "id": ident,
        "channel": "call",
        "agent_id": "A01",
        "team": "T1",
        "turns": [
            {"speaker": "agent", "text": "您好，星联通信客服，工号二零六。", "start": 0.5, "end": 3.0},
            {"speaker": "customer", "text": "  我的话费怎么扣了两次？烦死了。 ", "start": 3.5, "end": 7.25},
            {"speaker": "agent", "text": "非常抱歉，我马上帮您查一下。", "start": 8.0, "end": 10.0},
        ],
        **extra,
    }


def wav_bytes() -> bytes:
    """A WAV header followed by noise: a binary file someone might rename to .jsonl."""
    header = b"RIFF" + (1036).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
    return header + bytes(16) + b"data" + random.Random(1).randbytes(1000)
