"""The status page's charts: inline SVG line charts, no script, no external resource."""

from __future__ import annotations

import html
import time

Series = list[tuple[int, float]]  # (time_ms, value), oldest first


def chart(lines: list[tuple[str, Series]], unit: str) -> str:
    """An inline SVG line chart of one or more series sharing the time and value axes."""
    points = [p for _, series in lines for p in series]
    if not points:
        return '<p class="empty">No measurements in this period yet.</p>'
    width, height, pad = 600, 160, 30
    t0, t1 = min(t for t, _ in points), max(t for t, _ in points)
    top = max(v for _, v in points) * 1.1 or 1.0
    span = max(t1 - t0, 1)

    def xy(t: int, v: float) -> str:
        x = pad + (t - t0) / span * (width - 2 * pad)
        y = height - pad - v / top * (height - 2 * pad)
        return f"{x:.1f},{y:.1f}"

    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(unit)}">',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'class="axis"/>',
        f'<text x="2" y="{pad}" class="label">{top:.0f} {html.escape(unit)}</text>',
        f'<text x="{pad}" y="{height - 8}" class="label">{when(t0)}</text>',
        f'<text x="{width - pad}" y="{height - 8}" class="label" text-anchor="end">'
        f"{when(t1)}</text>",
    ]
    for index, (name, series) in enumerate(lines):
        if series:
            coords = " ".join(xy(t, v) for t, v in series)
            parts.append(
                f'<polyline class="line{index}" points="{coords}"><title>{html.escape(name)}'
                "</title></polyline>"
            )
    legend = " ".join(
        f'<span class="key{i}">■ {html.escape(name)}</span>' for i, (name, _) in enumerate(lines)
    )
    return "".join(parts) + f"</svg><p>{legend}</p>"


def when(time_ms: float) -> str:
    """A moment as the household reads it, in the device's local time."""
    return time.strftime("%a %d %b %H:%M", time.localtime(time_ms / 1000))
