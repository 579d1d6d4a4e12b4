"""Charts as inline SVG drawn on the server: no script, no CDN, readable where foreign CDNs
are not."""

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from shequn.analytics.heatmap import Heatmap

WIDTH, HEIGHT, PAD = 640, 220, 36
# Room on the left for the scale's top value: "1,234,567" at font size 11.
LEFT = 64
COLOURS = ("#c82030", "#2f6db5", "#3a9a5b")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


def scale(value: float) -> str:
    """A chart value with grouped digits: 33493 → 33,493; 2.5 → 2.5."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0")


def bar_line_svg(labels: Sequence[str], series: Sequence[Series], *, title: str) -> str:
    """Bars for the first series, lines for the others, on one scale from zero."""
    top = max([1.0, *(v for s in series for v in s.values)])
    count = max(len(labels), 1)
    step = (WIDTH - LEFT - PAD) / count

    def y(value: float) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * value / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{LEFT}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#999"/>',
        f'<text x="{LEFT - 4}" y="{PAD}" text-anchor="end" font-size="11">{scale(top)}</text>',
    ]
    for index, series_of in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        points = [(LEFT + step * (i + 0.5), y(v)) for i, v in enumerate(series_of.values)]
        if index == 0:
            parts += [
                f'<rect x="{x - step * 0.35:.1f}" y="{top_y:.1f}" width="{step * 0.7:.1f}" '
                f'height="{HEIGHT - PAD - top_y:.1f}" fill="{colour}" opacity="0.75">'
                f"<title>{escape(labels[i])}: {scale(series_of.values[i])}</title></rect>"
                for i, (x, top_y) in enumerate(points)
            ]
        else:
            path = " ".join(f"{x:.1f},{top_y:.1f}" for x, top_y in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        parts.append(
            f'<text x="{WIDTH - PAD}" y="{14 + 14 * index}" text-anchor="end" font-size="12" '
            f'fill="{colour}">{escape(series_of.name)}</text>'
        )
    parts += [
        f'<text x="{LEFT + step * (i + 0.5):.1f}" y="{HEIGHT - PAD + 16}" text-anchor="middle" '
        f'font-size="11">{escape(label)}</text>'
        for i, label in enumerate(labels)
        if count <= 16 or i % 2 == 0
    ]
    parts.append("</svg>")
    return "".join(parts)


def heatmap_svg(heatmap: Heatmap, *, title: str, weekdays: Sequence[str]) -> str:
    """7 rows of 24 hours, darker where more members posted or reacted; best hours outlined."""
    cell, left, top = 24, 44, 22
    peak = max([1, *(c.interactions for c in heatmap.cells)])
    best = {b.hour for b in heatmap.best_times()}
    width, height = left + cell * 24 + 4, top + cell * 7 + 4
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" class="chart heatmap">',
        f"<title>{escape(title)}</title>",
    ]
    weights = {hour: "bold" if hour in best else "normal" for hour in range(24)}
    parts += [
        f'<text x="{left + cell * hour + cell / 2:.0f}" y="{top - 6}" text-anchor="middle" '
        f'font-size="10" font-weight="{weights[hour]}">{hour:02d}</text>'
        for hour in range(24)
    ]
    for weekday in range(1, 8):
        y = top + cell * (weekday - 1)
        parts.append(
            f'<text x="{left - 6}" y="{y + cell * 0.65:.0f}" text-anchor="end" font-size="11">'
            f"{escape(weekdays[weekday - 1])}</text>"
        )
        for hour in range(24):
            found = heatmap.cell(weekday, hour)
            strength = found.interactions / peak
            parts.append(
                f'<rect x="{left + cell * hour}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                f'fill="{COLOURS[0]}" fill-opacity="{0.06 + 0.94 * strength:.2f}" '
                f'data-weekday="{weekday}" data-hour="{hour}" data-count="{found.interactions}">'
                f"<title>{escape(weekdays[weekday - 1])} {hour:02d}:00 · "
                f"{found.interactions}</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)
