"""What every training command does first: logging, and finding the shared data folder."""

from __future__ import annotations

import logging
from pathlib import Path

from training.datasets import default_data_dir

log = logging.getLogger("training")

TIMED = "%(asctime)s %(levelname)s %(name)s: %(message)s"
PLAIN = "%(message)s"


def setup_logging(fmt: str = TIMED) -> None:
    """INFO logging to stderr, jieba's start-up chatter silenced."""
    logging.basicConfig(level=logging.INFO, format=fmt)
    logging.getLogger("jieba").setLevel(logging.WARNING)


def find_data_dir(given: Path | None) -> Path | None:
    """``--data-dir``, else ``$QA_DATA_DIR``, else ``../shared/data``; None (and a logged error) if absent."""
    data_dir = given or default_data_dir()
    if not data_dir.is_dir():
        log.error("data folder %s not found; pass --data-dir or set QA_DATA_DIR", data_dir)
        return None
    return data_dir
