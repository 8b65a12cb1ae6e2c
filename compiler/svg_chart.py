"""A small, dependency-free SVG chart of a compile's scores.

The chart plots every candidate an optimizer scored (in the order it scored them) and the
best score so far, against the baseline and compiled dev scores as reference lines. Without
candidates (optimizers that do not search) it shows the two dev scores as bars. Every piece of
text comes from data and is XML-escaped; numbers are formatted, never interpolated raw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 36, 40
TRIAL_COLOR, BEST_COLOR, BASE_COLOR, COMPILED_COLOR = "#4c78a8", "#f58518", "#9d9d9d", "#54a24b"


def score_chart(
    trials: Sequence[tuple[str, float]],
    baseline: float | None,
    compiled: float | None,
    title: str,
) -> str:
    """The chart as an SVG document; scores are percentages (0-100)."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="20" font-size="13" font-weight="bold">{escape(title)}</text>',
        *_axes(),
    ]
    points = [(label, _clamp(score)) for label, score in trials if math.isfinite(score)]
    if points:
        parts += _trials(points)
        parts += _reference(baseline, "baseline (dev)", BASE_COLOR)
        parts += _reference(compiled, "compiled (dev)", COMPILED_COLOR)
        parts += _legend()
    else:
        parts += _bars(baseline, compiled)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _clamp(score: float) -> float:
    return min(100.0, max(0.0, score))


def _y(score: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - _clamp(score) / 100)


def _x(index: int, count: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return LEFT + (span / 2 if count == 1 else span * index / (count - 1))


def _axes() -> list[str]:
    lines = []
    for tick in range(0, 101, 25):
        y = _y(tick)
        lines.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#eeeeee"/>'
        )
        lines.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    bottom = HEIGHT - BOTTOM
    lines.append(
        f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="#888888"/>'
    )
    return lines


def _trials(points: Sequence[tuple[str, float]]) -> list[str]:
    n = len(points)
    coords = [(_x(i, n), _y(score)) for i, (_, score) in enumerate(points)]
    best, running = [], -1.0
    for i, (_, score) in enumerate(points):
        running = max(running, score)
        best.append((_x(i, n), _y(running)))
    parts = [
        _polyline(coords, TRIAL_COLOR, "1.5"),
        _polyline(best, BEST_COLOR, "2.5"),
    ]
    for (label, score), (x, y) in zip(points, coords, strict=True):
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{TRIAL_COLOR}">'
            f"<title>{escape(label)}: {score:.1f}</title></circle>"
        )
    bottom = HEIGHT - BOTTOM
    parts.append(
        f'<text x="{LEFT}" y="{bottom + 16}">1</text>'
        f'<text x="{WIDTH - RIGHT}" y="{bottom + 16}" text-anchor="end">{n}</text>'
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{bottom + 30}" text-anchor="middle">'
        f"candidates, in the order they were scored</text>"
    )
    return parts


def _polyline(coords: Sequence[tuple[float, float]], color: str, width: str) -> str:
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    return f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="{width}"/>'


def _reference(score: float | None, label: str, color: str) -> list[str]:
    if score is None or not math.isfinite(score):
        return []
    y = _y(score)
    return [
        f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{color}" '
        f'stroke-dasharray="5,4"/>',
        f'<text x="{WIDTH - RIGHT - 4}" y="{y - 4:.1f}" text-anchor="end" fill="{color}">'
        f"{escape(label)} {score:.1f}</text>",
    ]


def _legend() -> list[str]:
    x = WIDTH - RIGHT - 260
    return [
        f'<rect x="{x}" y="10" width="12" height="3" fill="{TRIAL_COLOR}"/>',
        f'<text x="{x + 16}" y="15">candidate score</text>',
        f'<rect x="{x + 120}" y="10" width="12" height="3" fill="{BEST_COLOR}"/>',
        f'<text x="{x + 136}" y="15">best so far</text>',
    ]


def _bars(baseline: float | None, compiled: float | None) -> list[str]:
    parts = []
    bars = [("baseline (dev)", baseline, BASE_COLOR), ("compiled (dev)", compiled, COMPILED_COLOR)]
    width = 120
    for i, (label, score, color) in enumerate(bars):
        x = LEFT + 60 + i * (width + 80)
        if score is None or not math.isfinite(score):
            continue
        top = _y(score)
        parts.append(
            f'<rect x="{x}" y="{top:.1f}" width="{width}" height="{HEIGHT - BOTTOM - top:.1f}" '
            f'fill="{color}"/>'
        )
        parts.append(
            f'<text x="{x + width / 2:.0f}" y="{top - 4:.1f}" text-anchor="middle">'
            f"{_clamp(score):.1f}</text>"
        )
        parts.append(
            f'<text x="{x + width / 2:.0f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    parts.append(
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end" fill="#666666">'
        f"the optimizer scored no candidates</text>"
    )
    return parts
