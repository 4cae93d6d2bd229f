"""The base of every job kind's payload: read back from a job with a typed error when malformed."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, ValidationError

from qa_pipeline.errors import E, InputError
from qa_pipeline.store.jobs import Job


class JobPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @classmethod
    def of(cls, job: Job) -> Self:
        try:
            return cls.model_validate(job.payload)
        except ValidationError as exc:
            raise InputError(
                E.BAD_FIELD, f"job {job.id} has a malformed payload: {exc.errors()[0]['msg']}"
            ) from None
