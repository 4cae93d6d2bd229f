"""Small inline SVG charts for the review pages (no chart library, nothing fetched): a radar of
scorecard items and lines over time with confidence bands. Every text is escaped."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#0969da", "#bf3989", "#1a7f37", "#9a6700")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    low: Sequence[float | None] | None = None
    high: Sequence[float | None] | None = None


def radar(labels: Sequence[str], values: Sequence[float], *, size: int = 420, title: str = "") -> Markup:
    """A radar (技能雷达图) of 0–100 values, one spoke per label."""
    n, c, r = len(labels), size / 2, size / 2 - 95
    if n < 3:
        return Markup("")

    def point(i: int, v: float) -> tuple[float, float]:
        a = -math.pi / 2 + 2 * math.pi * i / n
        return c + r * v / 100 * math.cos(a), c + r * v / 100 * math.sin(a)

    rings = "".join(
        f'<polygon points="{_pts([point(i, level) for i in range(n)])}" class="grid"/>'
        for level in (25, 50, 75, 100)
    )
    spokes = "".join(
        f'<line x1="{c}" y1="{c}" x2="{x:.1f}" y2="{y:.1f}" class="grid"/>'
        for x, y in (point(i, 100) for i in range(n))
    )
    texts = "".join(_label(point(i, 122), labels[i], values[i]) for i in range(n))
    outline = _pts([point(i, max(0.0, min(100.0, v))) for i, v in enumerate(values)])
    shape = f'<polygon points="{outline}" class="area"/>'
    return Markup(
        f'<svg class="chart radar" viewBox="0 0 {size} {size}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{rings}{spokes}{shape}{texts}</svg>"
    )


def _label(at: tuple[float, float], text: str, value: float) -> str:
    x, y = at
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle">{escape(text)}'
        f'<tspan x="{x:.1f}" dy="1.2em" class="value">{value:.0f}%</tspan></text>'
    )


def _pts(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def lines(
    labels: Sequence[str], series: Sequence[Series], *, width: int = 640, height: int = 220, title: str = ""
) -> Markup:
    """Lines of 0–100 values over ``labels`` (periods), each with an optional confidence band."""
    if not labels:
        return Markup("")
    left, right, top, bottom = 36, 12, 30, 28
    w, h = width - left - right, height - top - bottom
    step = w / max(1, len(labels) - 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + i * step, top + h * (1 - max(0.0, min(100.0, v)) / 100)

    parts = [
        f'<line x1="{left}" x2="{left + w}" y1="{xy(0, v)[1]:.1f}" y2="{xy(0, v)[1]:.1f}" class="grid"/>'
        f'<text x="{left - 4}" y="{xy(0, v)[1] + 4:.1f}" text-anchor="end">{v}</text>'
        for v in (0, 50, 100)
    ]
    every = max(1, len(labels) // 8)
    parts += [
        f'<text x="{xy(i, 0)[0]:.1f}" y="{height - 8}" text-anchor="middle">{escape(t)}</text>'
        for i, t in enumerate(labels)
        if i % every == 0
    ]
    for k, s in enumerate(series):
        parts.append(_series(s, xy, PALETTE[k % len(PALETTE)]))
    legend = "".join(
        f'<tspan fill="{PALETTE[k % len(PALETTE)]}">■ {escape(s.name)}</tspan> ' for k, s in enumerate(series)
    )
    parts.append(f'<text x="{left}" y="14" class="legend">{legend}</text>')
    return Markup(
        f'<svg class="chart lines" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{''.join(parts)}</svg>"
    )


def _series(s: Series, at: Callable[[int, float], tuple[float, float]], colour: str) -> str:
    out = []
    if s.low is not None and s.high is not None:
        upper = [at(i, v) for i, v in enumerate(s.high) if v is not None]
        lower = [at(i, v) for i, v in enumerate(s.low) if v is not None]
        if upper and lower:
            out.append(f'<polygon points="{_pts(upper + lower[::-1])}" fill="{colour}" opacity="0.15"/>')
    points = [at(i, v) for i, v in enumerate(s.values) if v is not None]
    if points:
        out.append(f'<polyline points="{_pts(points)}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in points]
    return "".join(out)
