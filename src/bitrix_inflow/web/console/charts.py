"""Bar charts drawn on the server as SVG: no script, nothing loaded from elsewhere, readable without JS."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 480, 150, 30, 22, 12


def bars(values: Sequence[int], labels: Sequence[str], *, title: str, tone: str = "") -> str:
    """One bar per value, labelled below every fourth; the tallest bar's value on the axis; ``title`` for screen
    readers and as a tooltip."""
    peak = max(values, default=0)
    scale = max(peak, 1)
    plot_w, plot_h = WIDTH - LEFT - 4, HEIGHT - BOTTOM - TOP
    step = plot_w / max(len(values), 1)
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 4}" y2="{TOP + plot_h}" stroke="#d9dee5"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end">{peak}</text>',
        f'<text x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end">0</text>',
    ]
    for index, (value, label) in enumerate(zip(values, labels, strict=True)):
        height = plot_h * value / scale
        x = LEFT + index * step + 1
        css = f"bar {tone}".strip()
        parts.append(
            f'<rect class="{css}" x="{x:.1f}" y="{TOP + plot_h - height:.1f}" width="{max(step - 2, 1):.1f}" '
            f'height="{height:.1f}"><title>{escape(label)}: {value}</title></rect>'
        )
        if index % 4 == 0:
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 6}">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
