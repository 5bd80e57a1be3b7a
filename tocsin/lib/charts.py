"""Small charts drawn on the server as SVG: a line chart and a bar chart.

No script and no third-party host: the page carries the chart as markup. Each chart is an
accessible image (``role="img"`` with a ``<title>`` and a ``<desc>`` that says what it
shows in words) and comes with its numbers as rows, for the data table the page puts under
it (``templates/_chart.html``), which screen readers and people who prefer numbers read.
The SVG scales to its box (a ``viewBox`` and ``width="100%"``), so it fits a 360 px phone.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils.formats import number_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

WIDTH, HEIGHT = 320, 180
# The plot inside the picture: room for the value labels on the left, the unit above
# them, the x labels below.
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 22, 26
# Most x labels drawn under a chart; the others are in the table.
MAX_X_LABELS = 6
# Colours with enough contrast on white, and a dash for every other series, so two lines
# part without colour.
COLOURS = ("#b3261e", "#1f5f99", "#2e7d32", "#6a1b9a")
DASHES = ("", "5 3", "2 2", "8 3 2 3")
MUTED = "#666"
# The widest bar drawn.
MAX_BAR = 28
GRID = "#ddd"

_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    """One named row of values, one per label; None where there is no value."""

    name: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class Chart:
    """A drawn chart: its SVG, its legend and its numbers, for ``templates/_chart.html``."""

    title: str
    desc: str
    axis: str
    labels: tuple[str, ...]
    series: tuple[Series, ...]
    unit: str
    svg: SafeString
    legend: SafeString = field(default_factory=lambda: _markup(""))

    def rows(self) -> list[tuple[str, list[str]]]:
        """Return each label with its values as text ("—" for none), for the table."""
        return [
            (label, [number(s.values[i] if i < len(s.values) else None) for s in self.series])
            for i, label in enumerate(self.labels)
        ]


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    axis: str = "",
    unit: str = "",
    desc: str = "",
    ticks: Sequence[str] | None = None,
) -> Chart:
    """Return a line chart of ``series`` over ``labels`` (weeks, say); a None breaks the
    line. ``ticks``: shorter labels to write under the chart (the table keeps ``labels``)."""
    return _chart("line", title, labels, series, axis=axis, unit=unit, desc=desc, ticks=ticks)


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    axis: str = "",
    unit: str = "",
    desc: str = "",
    ticks: Sequence[str] | None = None,
) -> Chart:
    """Return a bar chart: one group of bars per label, one bar per series."""
    return _chart("bar", title, labels, series, axis=axis, unit=unit, desc=desc, ticks=ticks)


def _chart(
    kind: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    axis: str,
    unit: str,
    desc: str,
    ticks: Sequence[str] | None,
) -> Chart:
    labels = tuple(str(label) for label in labels)
    series = tuple(series)
    desc = desc or describe(labels, series, unit=unit)
    key = f"chart-{next(_ids)}"
    top = nice_ceiling(max((v for s in series for v in s.values if v is not None), default=0) or 1)
    fractional = any(not float(v).is_integer() for v in _values(series))
    axes = _axes(
        tuple(ticks) if ticks is not None else labels,
        top,
        unit,
        centred=kind == "bar",
        fractional=fractional,
    )
    body = _bars(labels, series, top) if kind == "bar" else _lines(labels, series, top)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" class="chart" aria-labelledby="{key}-title {key}-desc" '
        f'font-family="system-ui, sans-serif" font-size="11">'
        f'<title id="{key}-title">{escape(title)}</title>'
        f'<desc id="{key}-desc">{escape(desc)}</desc>'
        f"{axes}{body}"
        f"{_nothing_yet() if not _values(series) else ''}</svg>"
    )
    return Chart(
        title=title,
        desc=desc,
        axis=axis,
        labels=labels,
        series=series,
        unit=unit,
        svg=_markup(svg),
        legend=_legend(series, kind) if len(series) > 1 else _markup(""),
    )


def describe(labels: Sequence[str], series: Sequence[Series], *, unit: str = "") -> str:
    """Return the chart in words: per series its first, last and highest value."""
    parts = []
    for s in series:
        known = [(label, v) for label, v in zip(labels, s.values, strict=False) if v is not None]
        if not known:
            parts.append(gettext("%(name)s: no data yet.") % {"name": s.name})
            continue
        high_label, high = max(known, key=lambda pair: pair[1])
        parts.append(
            gettext(
                "%(name)s: %(first)s (%(first_label)s) to %(last)s (%(last_label)s), "
                "highest %(high)s (%(high_label)s)."
            )
            % {
                "name": s.name,
                "first": _with_unit(known[0][1], unit),
                "first_label": known[0][0],
                "last": _with_unit(known[-1][1], unit),
                "last_label": known[-1][0],
                "high": _with_unit(high, unit),
                "high_label": high_label,
            }
        )
    return " ".join(parts)


def nice_ceiling(value: float) -> float:
    """Return the smallest 1, 2 or 5 times a power of ten at or above ``value``."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power + 1e-9:
            return step * power
    return 10 * power  # pragma: no cover (the loop ends at 10)


def _values(series: Sequence[Series]) -> list[float]:
    return [v for s in series for v in s.values if v is not None]


def number(value: float | None) -> str:
    """Return ``value`` as the charts write it: whole numbers without decimals, others with
    one, in the active language's format; "—" for none."""
    if value is None:
        return "—"
    if float(value).is_integer():
        return number_format(int(value))
    return number_format(value, decimal_pos=1)


def _tick(value: float) -> str:
    """Return a grid line's value as exactly as it is (0.25, not 0.2), in the active
    language's format: ticks are 1, 2 or 5 times a power of ten and their halves."""
    for decimals in range(4):
        if abs(value * 10**decimals - round(value * 10**decimals)) < 1e-9:
            break
    return number_format(round(value, decimals), decimal_pos=decimals)


def _with_unit(value: float, unit: str) -> str:
    return f"{number(value)} {unit}".strip()


def _plot_x(i: int, n: int) -> float:
    width = WIDTH - LEFT - RIGHT
    if n <= 1:
        return LEFT + width / 2
    return LEFT + width * i / (n - 1)


def _plot_y(value: float, top: float) -> float:
    height = HEIGHT - TOP - BOTTOM
    return TOP + height * (1 - value / top)


def _axes(labels: Sequence[str], top: float, unit: str, *, centred: bool, fractional: bool) -> str:
    """Return the value grid (0, half, top) and the x labels (at most MAX_X_LABELS):
    under each point of a line, or ``centred`` under each group of bars."""
    parts = []
    # Counts have no halves: the middle line is drawn only where it is a whole number.
    levels = (0, top / 2, top) if float(top / 2).is_integer() or fractional else (0, top)
    for value in levels:
        y = _plot_y(value, top)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">'
            f"{escape(_tick(value))}</text>"
        )
    if unit:
        # Above the top value's label (drawn from 4 below the top line), not beside it.
        parts.append(
            f'<text x="2" y="{TOP - 10}" fill="{MUTED}" font-size="9">{escape(unit)}</text>'
        )
    n = len(labels)
    step = max(1, math.ceil(n / MAX_X_LABELS))
    for i in range(0, n, step):
        x = _bar_centre(i, n) if centred else _plot_x(i, n)
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle" fill="{MUTED}">'
            f"{escape(labels[i])}</text>"
        )
    return "".join(parts)


def _bar_centre(i: int, n: int) -> float:
    width = WIDTH - LEFT - RIGHT
    return LEFT + width * (i + 0.5) / max(n, 1)


def _lines(labels: Sequence[str], series: Sequence[Series], top: float) -> str:
    parts = []
    n = len(labels)
    for k, s in enumerate(series):
        colour, dash = COLOURS[k % len(COLOURS)], DASHES[k % len(DASHES)]
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        run: list[str] = []
        points = []
        for i, v in enumerate(list(s.values)[:n]):
            if v is None:
                parts.append(_polyline(run, colour, dashed))
                run = []
                continue
            x, y = _plot_x(i, n), _plot_y(v, top)
            run.append(f"{x:.1f},{y:.1f}")
            points.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}">'
                f"<title>{escape(labels[i])}: {escape(s.name)} {escape(number(v))}</title>"
                f"</circle>"
            )
        parts.append(_polyline(run, colour, dashed))
        parts.extend(points)
    return "".join(parts)


def _polyline(run: list[str], colour: str, dashed: str) -> str:
    if len(run) < 2:
        return ""
    return (
        f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
        f'stroke-width="2"{dashed}/>'
    )


def _bars(labels: Sequence[str], series: Sequence[Series], top: float) -> str:
    parts = []
    n = max(len(labels), 1)
    group = (WIDTH - LEFT - RIGHT) / n
    gap = min(4.0, group * 0.2)
    # A few groups get bars of a readable width, centred, not one bar across the chart.
    bar = min((group - gap) / max(len(series), 1), MAX_BAR)
    inset = (group - bar * len(series)) / 2
    base = _plot_y(0, top)
    for k, s in enumerate(series):
        colour = COLOURS[k % len(COLOURS)]
        # Every other series lighter, so neighbouring bars part without colour.
        opacity = ' fill-opacity="0.6"' if k % 2 else ""
        for i, v in enumerate(list(s.values)[: len(labels)]):
            if v is None:
                continue
            x = LEFT + group * i + inset + bar * k
            y = _plot_y(v, top)
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bar - 1, 1):.1f}" '
                f'height="{max(base - y, 0):.1f}" fill="{colour}"{opacity}>'
                f"<title>{escape(labels[i])}: {escape(s.name)} {escape(number(v))}</title>"
                f"</rect>"
            )
    return "".join(parts)


def _nothing_yet() -> str:
    words = gettext("No data yet")
    return (
        f'<text x="{(WIDTH + LEFT) / 2:.0f}" y="{HEIGHT / 2:.0f}" text-anchor="middle" '
        f'fill="{MUTED}">{escape(words)}</text>'
    )


def _legend(series: Sequence[Series], kind: str) -> SafeString:
    """Return a list naming each series beside a swatch drawn like its line or bar."""
    items = []
    for k, s in enumerate(series):
        colour, dash = COLOURS[k % len(COLOURS)], DASHES[k % len(DASHES)]
        if kind == "bar":
            opacity = ' fill-opacity="0.6"' if k % 2 else ""
            mark = f'<rect x="2" y="2" width="16" height="10" fill="{colour}"{opacity}/>'
        else:
            dashed = f' stroke-dasharray="{dash}"' if dash else ""
            mark = (
                f'<line x1="0" x2="20" y1="7" y2="7" stroke="{colour}" stroke-width="2"{dashed}/>'
            )
        items.append(
            f'<li><svg xmlns="http://www.w3.org/2000/svg" width="20" height="14" '
            f'viewBox="0 0 20 14" aria-hidden="true">{mark}</svg> {escape(s.name)}</li>'
        )
    return _markup(f'<ul class="chart-legend">{"".join(items)}</ul>')


def _markup(built: str) -> SafeString:
    """Mark markup built here as safe: every text in it (titles, names, labels, numbers)
    went through ``escape``; the rest are this module's own tags and numbers."""
    return mark_safe(built)  # noqa: S308
