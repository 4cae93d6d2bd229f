"""Settings validation: QA_TIMEZONE."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from qa_pipeline.settings import Settings


def test_default_time_zone_is_china_standard_time() -> None:
    assert Settings().tz == ZoneInfo("Asia/Shanghai")


def test_time_zone_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_TIMEZONE", "Europe/Berlin")
    assert Settings().tz == ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize("value", ["Beijing", "+08:00", "", "../etc/passwd"])
def test_unknown_time_zone_is_refused_with_the_expected_form(value: str) -> None:
    with pytest.raises(ValidationError, match="IANA time zone name"):
        Settings(timezone=value)
