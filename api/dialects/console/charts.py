"""Charts as SVG drawn on the server: no chart library in the page, nothing to load, readable without
JavaScript. Colours come from presentation attributes (the page's CSP allows no inline style); every label
goes through markupsafe's escape, as in the templates."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from store.adoption import Adoption

# Colour-blind-safe (Okabe-Ito), in order of use; "other" is grey.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
OTHER = "#8a8a8a"
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 240, 44, 28, 10
MAX_SERIES = len(PALETTE)


def _frame(title: str, body: list[str], legend: list[tuple[str, str]]) -> Markup:
    items = "".join(
        f'<g transform="translate({LEFT + (i % 4) * 170},{HEIGHT + 16 + (i // 4) * 18})">'
        f'<rect width="12" height="12" fill="{colour}"/>'
        f'<text x="18" y="11" font-size="12" fill="#222">{escape(label)}</text></g>'
        for i, (label, colour) in enumerate(legend)
    )
    rows = (len(legend) + 3) // 4
    return Markup(
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT + 20 + rows * 18}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(body)}{items}</svg>'
    )


def _axes(peak: float, labels: Sequence[str], fmt) -> list[str]:
    inner_h = HEIGHT - BOTTOM - TOP
    out = [f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH}" y2="{HEIGHT - BOTTOM}" stroke="#555"/>']
    for frac in (0, 0.5, 1):
        y = HEIGHT - BOTTOM - inner_h * frac
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#333">'
            f"{escape(fmt(peak * frac))}</text>"
        )
    step = max(1, len(labels) // 6)
    slot = (WIDTH - LEFT) / max(len(labels), 1)
    for i in range(0, len(labels), step):
        x = LEFT + slot * (i + 0.5)
        out.append(
            f'<text x="{x:.1f}" y="{HEIGHT - 10}" font-size="11" text-anchor="middle" fill="#333">'
            f"{escape(labels[i])}</text>"
        )
    return out


def stacked(title: str, labels: Sequence[str], series: dict[str, list[int]]) -> Markup:
    """Stacked columns, one per label; the first MAX_SERIES - 1 series by total, the rest as "other"."""
    ranked = sorted(series.items(), key=lambda kv: -sum(kv[1]))
    shown = ranked[: MAX_SERIES - 1] if len(ranked) > MAX_SERIES else ranked
    rest = ranked[len(shown) :]
    layers = [(name, values, PALETTE[i]) for i, (name, values) in enumerate(shown)]
    if rest:
        layers.append(("other", [sum(v[i] for _, v in rest) for i in range(len(labels))], OTHER))
    totals = [sum(values[i] for _, values, _ in layers) for i in range(len(labels))]
    peak = max(totals, default=0) or 1
    inner_h, slot = HEIGHT - BOTTOM - TOP, (WIDTH - LEFT) / max(len(labels), 1)
    body = _axes(peak, labels, lambda v: f"{v:,.0f}")
    for i in range(len(labels)):
        base = float(HEIGHT - BOTTOM)
        for name, values, colour in layers:
            h = inner_h * values[i] / peak
            if h > 0:
                base -= h
                body.append(
                    f'<rect x="{LEFT + slot * i + 1:.1f}" y="{base:.1f}" width="{max(slot - 2, 1):.1f}" '
                    f'height="{h:.1f}" fill="{colour}"><title>{escape(labels[i])} {escape(name)}: '
                    f"{values[i]:,}</title></rect>"
                )
    return _frame(title, body, [(name, colour) for name, _, colour in layers])


def lines(title: str, labels: Sequence[str], series: dict[str, list[float]], peak: float, fmt) -> Markup:
    """One polyline per series over the labels, on a 0..peak scale."""
    inner_h, slot = HEIGHT - BOTTOM - TOP, (WIDTH - LEFT) / max(len(labels), 1)
    body = _axes(peak, labels, fmt)
    legend = []
    for n, (name, values) in enumerate(list(series.items())[:MAX_SERIES]):
        colour = PALETTE[n]
        points = " ".join(
            f"{LEFT + slot * (i + 0.5):.1f},{HEIGHT - BOTTOM - inner_h * min(v / peak, 1):.1f}"
            for i, v in enumerate(values)
        )
        body.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        legend.append((name, colour))
    return _frame(title, body, legend)


def adoption(data: Adoption) -> Markup:
    labels = [d.strftime("%m-%d") for d in data.days]
    return stacked("Active users by app version per day", labels, data.versions)


def below_minimum(data: Adoption) -> Markup:
    labels = [d.strftime("%m-%d") for d in data.days]
    return lines(
        "Share of active users below each minimum version",
        labels,
        data.below_minimum,
        1.0,
        lambda v: f"{v:.0%}",
    )
