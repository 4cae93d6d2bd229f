"""Chinese public holidays, make-up working days (调休) and configured peak seasons of a period, so
the KPI system can discount the distortion they bring (holiday queues, 双十一 volumes).

Public holidays come from the maintained ``chinesecalendar`` package (years it covers; a period
outside them is marked ``calendar_known: false``). Peaks are month-day ranges from the scoring config.
"""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
from pydantic import BaseModel, Field

HOLIDAY_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}


class Peak(BaseModel):
    """A yearly peak season, e.g. ``{name: 双十一, start: "11-01", end: "11-12"}`` (inclusive)."""

    name: str
    start: str = Field(pattern=r"^\d\d-\d\d$")
    end: str = Field(pattern=r"^\d\d-\d\d$")

    def covers(self, day: date) -> bool:
        key = day.strftime("%m-%d")
        if self.start <= self.end:
            return self.start <= key <= self.end
        return key >= self.start or key <= self.end  # wraps the new year


class PeriodCalendar(BaseModel):
    holiday_days: int = 0
    holidays: list[str] = Field(default_factory=list)
    makeup_workdays: int = 0
    peaks: list[str] = Field(default_factory=list)
    calendar_known: bool = True

    @property
    def distorted(self) -> bool:
        return bool(self.holiday_days or self.makeup_workdays or self.peaks)


def period_calendar(first: date, end: date, peaks: list[Peak]) -> PeriodCalendar:
    """Holidays, make-up working days and peaks of the local days ``[first, end)``."""
    out = PeriodCalendar()
    day = first
    while day < end:
        _mark(out, day)
        out.peaks += [p.name for p in peaks if p.covers(day) and p.name not in out.peaks]
        day += timedelta(days=1)
    return out


def _mark(out: PeriodCalendar, day: date) -> None:
    try:
        holiday, name = chinese_calendar.get_holiday_detail(day)
        workday = chinese_calendar.is_workday(day)
    except NotImplementedError:  # a year the package has no data for
        out.calendar_known = False
        return
    if holiday and name:
        out.holiday_days += 1
        zh = HOLIDAY_ZH.get(name, name)
        if zh not in out.holidays:
            out.holidays.append(zh)
    if workday and day.weekday() >= 5:
        out.makeup_workdays += 1
