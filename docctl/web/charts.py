"""Small charts drawn on the server as inline SVG: no script, no external library, readable without colour (every
bar carries its numbers as text) and described for screen readers (<title>, <desc>)."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

# the palette of app.css (ok / warn / err), as SVG presentation attributes: the CSP forbids inline styles
COMPLETE = "#2e8b57"
DUE = "#d9a21b"
OVERDUE = "#b42318"
TRACK = "#e6e9ee"
INK = "#1d2430"
MUTED = "#5b6575"

LABEL_WIDTH = 230
BAR_WIDTH = 330
TEXT_WIDTH = 190
ROW = 28
BAR_HEIGHT = 16
TOP = 8


@dataclass(frozen=True)
class Bar:
    """One bar: required person-document pairs split into complete, due and overdue."""

    label: str
    complete: int
    due: int
    overdue: int
    percent: int | None  # complete as a whole percentage of required (None: nothing required)

    @property
    def required(self) -> int:
        return self.complete + self.due + self.overdue


def _short(text: str, limit: int = 26) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _segment(x: float, y: int, width: float, colour: str, tip: str) -> str:
    if width <= 0:
        return ""
    return (f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{BAR_HEIGHT}" fill="{colour}">'
            f"<title>{escape(tip)}</title></rect>")


def compliance_bars(bars: list[Bar], *, chart_id: str, title: str, description: str = "") -> Markup:
    """A horizontal stacked bar per row (complete, due, overdue), the percentage complete written beside it."""
    height = TOP * 2 + ROW * max(len(bars), 1)
    width = LABEL_WIDTH + BAR_WIDTH + TEXT_WIDTH
    summary = description or "; ".join(
        f"{b.label}: {'no training required' if b.percent is None else f'{b.percent} % complete'}"
        f" ({b.complete} of {b.required}, {b.overdue} overdue)" for b in bars)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d" font-size="13" '
        f'font-family="system-ui, sans-serif">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(summary)}</desc>',
    ]
    if not bars:
        parts.append(f'<text x="0" y="{TOP + 18}" fill="{MUTED}">Nothing to show.</text>')
    for index, b in enumerate(bars):
        y = TOP + index * ROW
        bar_y = y + (ROW - BAR_HEIGHT) // 2
        text_y = bar_y + BAR_HEIGHT - 3
        parts.append(f'<g><text x="{LABEL_WIDTH - 8}" y="{text_y}" text-anchor="end" fill="{INK}">'
                     f"<title>{escape(b.label)}</title>{escape(_short(b.label))}</text>")
        parts.append(f'<rect x="{LABEL_WIDTH}" y="{bar_y}" width="{BAR_WIDTH}" height="{BAR_HEIGHT}" '
                     f'fill="{TRACK}"/>')
        x = float(LABEL_WIDTH)
        if b.required:
            for count, colour, word in ((b.complete, COMPLETE, "complete"), (b.due, DUE, "due"),
                                        (b.overdue, OVERDUE, "overdue")):
                w = BAR_WIDTH * count / b.required
                parts.append(_segment(x, bar_y, w, colour, f"{b.label}: {count} of {b.required} {word}"))
                x += w
        shown = "—" if b.percent is None else f"{b.percent} %"
        detail = f" ({b.complete}/{b.required})" if b.required else " (none required)"
        overdue = f", {b.overdue} overdue" if b.overdue else ""
        parts.append(f'<text x="{LABEL_WIDTH + BAR_WIDTH + 8}" y="{text_y}" fill="{INK}">'
                     f'<tspan font-weight="700">{escape(shown)}</tspan>'
                     f'<tspan fill="{MUTED}">{escape(detail + overdue)}</tspan></text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every piece of text above is escaped
