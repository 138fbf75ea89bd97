"""The scale plot: cost against size as a small hand-written SVG (no plotting library).

Panels side by side, each with a log-scale x axis (enrolments) and a log-scale y axis,
one polyline per series, points marked, a legend. ``svg(panels)`` returns the text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

COLOURS = (
    "#1b6ca8",
    "#d1495b",
    "#edae49",
    "#00798c",
    "#6a4c93",
    "#2a9d3f",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
)
W, H = 360, 300  # one panel
LEFT, RIGHT, TOP, BOTTOM = 58, 12, 34, 92


@dataclass
class Panel:
    title: str
    unit: str
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


def _ticks(lo: float, hi: float) -> list[float]:
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    return [10.0**e for e in range(first, last + 1)]


def _label(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def _panel(p: Panel, x0: float) -> list[str]:
    points = [pt for s in p.series.values() for pt in s if pt[0] > 0 and pt[1] > 0]
    out = [
        f'<text x="{x0 + W / 2}" y="18" text-anchor="middle" font-weight="bold">'
        f"{escape(p.title)}</text>"
    ]
    if not points:
        return out
    xs = _ticks(min(x for x, _ in points), max(x for x, _ in points))
    ys = _ticks(min(y for _, y in points), max(y for _, y in points))
    if len(xs) < 2:
        xs = [xs[0], xs[0] * 10]
    if len(ys) < 2:
        ys = [ys[0], ys[0] * 10]
    left, right, top, bottom = x0 + LEFT, x0 + W - RIGHT, TOP, H - BOTTOM

    def px(x: float) -> float:
        span = math.log10(xs[-1]) - math.log10(xs[0])
        return left + (math.log10(x) - math.log10(xs[0])) / span * (right - left)

    def py(y: float) -> float:
        span = math.log10(ys[-1]) - math.log10(ys[0])
        return bottom - (math.log10(y) - math.log10(ys[0])) / span * (bottom - top)

    out.append(
        f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" '
        'fill="none" stroke="#999"/>'
    )
    for x in xs:
        out.append(
            f'<line x1="{px(x):.1f}" y1="{top}" x2="{px(x):.1f}" y2="{bottom}" stroke="#eee"/>'
        )
        out.append(
            f'<text x="{px(x):.1f}" y="{bottom + 14}" text-anchor="middle">{_label(x)}</text>'
        )
    for y in ys:
        out.append(
            f'<line x1="{left}" y1="{py(y):.1f}" x2="{right}" y2="{py(y):.1f}" stroke="#eee"/>'
        )
        out.append(f'<text x="{left - 4}" y="{py(y) + 4:.1f}" text-anchor="end">{_label(y)}</text>')
    out.append(
        f'<text x="{x0 + 14}" y="{(top + bottom) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 {x0 + 14} {(top + bottom) / 2})">{escape(p.unit)}</text>'
    )
    out.append(
        f'<text x="{(left + right) / 2}" y="{bottom + 30}" text-anchor="middle">'
        "enrolments (log)</text>"
    )
    for i, (name, pts) in enumerate(p.series.items()):
        colour = COLOURS[i % len(COLOURS)]
        good = sorted(pt for pt in pts if pt[0] > 0 and pt[1] > 0)
        if good:
            line = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in good)
            out.append(
                f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
            out += [
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>'
                for x, y in good
            ]
        ly = bottom + 46 + 13 * (i // 2)
        lx = left + (i % 2) * 150
        out.append(f'<rect x="{lx}" y="{ly - 8}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{lx + 14}" y="{ly + 1}">{escape(name)}</text>')
    return out


def svg(panels: list[Panel], caption: str = "") -> str:
    width, height = W * len(panels), H + (22 if caption else 0)
    body = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for i, p in enumerate(panels):
        body += _panel(p, i * W)
    if caption:
        body.append(f'<text x="8" y="{H + 14}" fill="#555">{escape(caption)}</text>')
    body.append("</svg>")
    return "\n".join(body) + "\n"
