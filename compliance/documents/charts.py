"""Charts for reports, as inline SVG written here in Python: no JavaScript, no plotting library, no network.

A chart is a picture of numbers the report also gives as a table (the fallback for screen readers, for readers who
prefer numbers and for print): each chart has a <title> and a <desc>, and writes its values as text labels, so the
PDF (WeasyPrint draws inline SVG) and a browser show the same thing. Every text is escaped. Pure functions: numbers
in, SVG markup out.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

#: Severity colours, most serious first (a sequential red-to-blue scheme that also prints in grey).
SEVERITY_COLOURS = {"Priority": "#b2182b", "Major": "#ef8a62", "Minor": "#f4c9a8", "Observation": "#92c5de"}
#: Colours that need dark text on them.
_LIGHT = {"#f4c9a8", "#92c5de", "#d9d9d9"}
FONT = "font-family=\"Helvetica, Arial, sans-serif\""
DETECTED_COLOUR = "#4a7fb0"
FOUND_COLOUR = "#b2182b"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _wrap(label: str, width: int) -> list[str]:
    """A label cut into at most two lines of about `width` characters (the second shortened with "...")."""
    if len(label) <= width:
        return [label]
    cut = label.rfind(" ", 0, width + 1)
    cut = cut if cut > 0 else width
    rest = label[cut:].strip()
    if len(rest) > width:
        rest = rest[:width - 1].rstrip() + "\u2026"
    return [label[:cut].strip(), rest]


def _open(ident: str, width: int, height: int, title: str, description: str) -> list[str]:
    return [f'<svg class="chart" id="{_e(ident)}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-labelledby="{_e(ident)}-title {_e(ident)}-desc" {FONT} font-size="12">',
            f'<title id="{_e(ident)}-title">{_e(title)}</title>',
            f'<desc id="{_e(ident)}-desc">{_e(description)}</desc>']


def _legend(series: Sequence[str], colours: Sequence[str], x: int, y: int) -> list[str]:
    out = []
    for name, colour in zip(series, colours):
        out.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 17}" y="{y}">{_e(name)}</text>')
        x += 30 + 7 * len(name)
    return out


def stacked_bars(ident: str, title: str, rows: Sequence[tuple[str, Sequence[int]]], series: Sequence[str],
                 colours: Sequence[str] | None = None, width: int = 760, label_width: int = 300) -> str:
    """Horizontal bars, one per row, each cut into one segment per series (e.g. open findings by severity per
    category), with each segment's count written on it where it fits and the row's total after the bar."""
    colours = list(colours or [SEVERITY_COLOURS.get(name, "#999999") for name in series])
    bar_height, gap, top = 22, 12, 34
    height = top + len(rows) * (bar_height + gap) + 6
    largest = max((sum(values) for _, values in rows), default=0) or 1
    span = width - label_width - 50
    description = "; ".join(f"{label}: " + ", ".join(f"{name} {value}" for name, value in zip(series, values))
                            for label, values in rows)
    out = _open(ident, width, height, title, description or "no data")
    out += _legend(series, colours, label_width, 16)
    for n, (label, values) in enumerate(rows):
        y = top + n * (bar_height + gap)
        lines = _wrap(label, label_width // 7)
        first = y + bar_height / 2 + 4 - (6 if len(lines) > 1 else 0)
        spans = "\n".join(f'<tspan x="{label_width - 8}" y="{first + i * 13:.0f}">{_e(line)}</tspan>'
                        for i, line in enumerate(lines))
        out.append(f'<text text-anchor="end">{spans}</text>')
        x = float(label_width)
        for name, value, colour in zip(series, values, colours):
            if not value:
                continue
            length = span * value / largest
            out.append(f'<rect x="{x:.1f}" y="{y}" width="{length:.1f}" height="{bar_height}" fill="{colour}">'
                       f'<title>{_e(label)}, {_e(name)}: {value}</title></rect>')
            if length >= 8 * len(str(value)) + 4:
                ink = "#000000" if colour in _LIGHT else "#ffffff"
                out.append(f'<text x="{x + length / 2:.1f}" y="{y + bar_height / 2 + 4:.0f}" text-anchor="middle" '
                           f'fill="{ink}">{value}</text>')
            x += length
        out.append(f'<text x="{x + 6:.1f}" y="{y + bar_height / 2 + 4:.0f}" font-weight="bold">{sum(values)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def bars_and_line(ident: str, title: str, points: Sequence[tuple[str, int, int | None]],
                  bar_name: str, line_name: str, width: int = 760, height: int = 260) -> str:
    """One bar per period (e.g. findings detected in the month) and a line across the periods (e.g. findings still
    found by the month's last run; None where no run was made, which leaves a gap), both labelled with their
    values."""
    left, right, top, bottom = 44, 16, 40, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    largest = max([p[1] for p in points] + [p[2] for p in points if p[2] is not None] + [1])
    slot = plot_w / max(len(points), 1)
    description = "; ".join(f"{label}: {bar_name} {bar}, {line_name} {'no run' if line is None else line}"
                            for label, bar, line in points)
    out = _open(ident, width, height, title, description or "no data")
    out += _legend([bar_name, line_name], [DETECTED_COLOUR, FOUND_COLOUR], left, 16)

    def y_of(value: float) -> float:
        return top + plot_h - plot_h * value / largest

    for tick in sorted({0, largest // 2, largest}):
        y = y_of(tick)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#dddddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555555">{tick}</text>')
    rotate = slot < 52
    line_points: list[list[tuple[float, float, int]]] = [[]]
    for n, (label, bar, line) in enumerate(points):
        centre = left + slot * (n + 0.5)
        bar_w = max(min(slot * 0.55, 40), 2)
        if bar:
            y = y_of(bar)
            out.append(f'<rect x="{centre - bar_w / 2:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                       f'height="{top + plot_h - y:.1f}" fill="{DETECTED_COLOUR}"><title>{_e(label)}, '
                       f'{_e(bar_name)}: {bar}</title></rect>')
            # Inside the bar's top when it is tall enough, so that it never meets the line's label above.
            inside = top + plot_h - y >= 18 and bar_w >= 7 * len(str(bar))
            out.append(f'<text x="{centre:.1f}" y="{y + 13 if inside else y - 4:.1f}" text-anchor="middle" '
                       f'fill="{"#ffffff" if inside else DETECTED_COLOUR}" font-size="11">{bar}</text>')
        base = top + plot_h + 16
        if rotate:
            out.append(f'<text x="{centre:.1f}" y="{base:.0f}" text-anchor="end" font-size="11" '
                       f'transform="rotate(-45 {centre:.1f} {base:.0f})">{_e(label)}</text>')
        else:
            out.append(f'<text x="{centre:.1f}" y="{base:.0f}" text-anchor="middle" font-size="11">{_e(label)}</text>')
        if line is None:
            if line_points[-1]:
                line_points.append([])
        else:
            line_points[-1].append((centre, y_of(line), line))
    for part in line_points:
        if len(part) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in part)
            out.append(f'<polyline points="{path}" fill="none" stroke="{FOUND_COLOUR}" stroke-width="2"/>')
        for x, y, value in part:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{FOUND_COLOUR}"/>')
            out.append(f'<text x="{x + 6:.1f}" y="{y - 6:.1f}" fill="{FOUND_COLOUR}" font-size="11" '
                       f'font-weight="bold">{value}</text>')
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#333333"/>')
    out.append("</svg>")
    return "\n".join(out)


def heat(value: int, largest: int) -> str:
    """A cell colour for a heat-map table: white for 0 to dark red for the largest value."""
    if not value or not largest:
        return "#ffffff"
    share = min(value / largest, 1.0)
    low, high = (0xfd, 0xe0, 0xdd), (0xb2, 0x18, 0x2b)
    r, g, b = (round(a + (z - a) * share) for a, z in zip(low, high))
    return f"#{r:02x}{g:02x}{b:02x}"


def heat_ink(value: int, largest: int) -> str:
    """Text colour readable on `heat(value, largest)`."""
    return "#ffffff" if largest and value / largest > 0.55 else "#000000"
