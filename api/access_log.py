"""The server's access log never carries personal data: a phone number in a path or query
(``/v1/conversations/138…``) is masked like everywhere else before the line is written."""

from __future__ import annotations

import logging
from urllib.parse import unquote

from qa_pipeline.text.pii import mask_value

ACCESS_LOGGER = "uvicorn.access"


class MaskPii(logging.Filter):
    """Masks every string argument of a log record (uvicorn passes the path as one of them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):  # the path decoded first: 138%201234%205678 is a phone too
            record.args = tuple(mask_value(unquote(a)) if isinstance(a, str) else a for a in record.args)
        record.msg = mask_value(record.msg) if isinstance(record.msg, str) else record.msg
        return True


def install() -> None:
    """Add the filter to uvicorn's access logger once per process."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, MaskPii) for f in logger.filters):
        logger.addFilter(MaskPii())
