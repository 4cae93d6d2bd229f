"""Built-in stages. Importing this package registers them with :data:`qa_pipeline.pipeline.registry`."""

import importlib
import logging

log = logging.getLogger(__name__)

_BUILTIN = (
    "asr",
    "normalize",
    "pii",
    "recording",
    "segment",
    "timing",
    "negativity",
    "sentiment",
    "emotion",
    "rubric",
    "indices",
)

for _name in _BUILTIN:
    try:
        importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as exc:  # a stage module not written yet must not break the others
        if exc.name != f"{__name__}.{_name}":
            raise
        log.debug("stage module %s not present", _name)
