"""Reporting periods and date bounds in the contact centre's local time."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from qa_pipeline.errors import InputError
from qa_pipeline.periods import check_order, next_period, parse_bound, period_start

BEIJING = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def test_a_bound_without_zone_is_local_time() -> None:
    bound = parse_bound("2026-04-08", "from", BEIJING)
    assert bound == datetime(2026, 4, 7, 16, tzinfo=UTC)
    assert parse_bound("2026-04-08T20:11:00+00:00", "from", BEIJING) == datetime(
        2026, 4, 8, 20, 11, tzinfo=UTC
    )
    assert parse_bound(" ", "from", BEIJING) is None


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "1899-12-31"])
def test_bad_bounds_name_the_field(value: str) -> None:
    with pytest.raises(InputError) as err:
        parse_bound(value, "to", BEIJING)
    assert err.value.field == "to"


def test_from_must_precede_to() -> None:
    with pytest.raises(InputError):
        check_order(datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))


def test_days_weeks_and_months_start_at_local_midnight() -> None:
    early = datetime(2026, 4, 7, 23, 30, tzinfo=UTC)  # 07:30 on Wednesday 8 April in Beijing
    assert period_start(early, "day", BEIJING) == datetime(2026, 4, 8, tzinfo=BEIJING)
    assert period_start(early, "week", BEIJING) == datetime(2026, 4, 6, tzinfo=BEIJING)  # Monday
    assert period_start(early, "month", BEIJING) == datetime(2026, 4, 1, tzinfo=BEIJING)
    assert period_start(early, "day", UTC) == datetime(2026, 4, 7, tzinfo=UTC)


def test_next_period_rolls_over_years_and_daylight_saving() -> None:
    assert next_period(datetime(2026, 12, 1, tzinfo=BEIJING), "month") == datetime(2027, 1, 1, tzinfo=BEIJING)
    spring = next_period(datetime(2026, 3, 8, tzinfo=NEW_YORK), "day")  # a 23-hour day
    assert spring == datetime(2026, 3, 9, tzinfo=NEW_YORK)
    length = spring.astimezone(UTC) - datetime(2026, 3, 8, tzinfo=NEW_YORK).astimezone(UTC)
    assert length.total_seconds() == 23 * 3600
