"""The QC report delivered beside the data (``qc_report.html``): one self-contained page
with inline SVG charts, no scripts and no external assets. Pure: QC values in, HTML out.
Annotators appear under their per-client pseudonyms only."""
from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

from annoflow.results import QCStats
from qc.checks import CheckResult
from qc.gold import wilson_interval
from qc.pipeline import QCResult
from qc.review import ReviewSummary

RED, GREY, GREEN, INK = "#c0392b", "#95a5a6", "#27ae60", "#2c3e50"


def _title_width(title: str) -> int:
    """Room for a chart's bold title (about 10 px a character at the page's size)."""
    return int(10 * len(title)) + 10


def _bars(rows: list[tuple[str, float, str]], *, title: str, unit: str, vmax: float,
          line: float | None = None, line_label: str = "",
          intervals: list[tuple[float, float]] | None = None, fmt=None) -> str:
    """Horizontal bars: (label, value, colour); ``intervals``: a whisker (low, high) per
    bar, drawn over it (an interval of nan is left out)."""
    h, left, width = 18, 150, 360
    height = 30 + h * len(rows) + 10
    out = [f'<svg width="{max(left + width + 80, _title_width(title))}" height="{height}" role="img" '
           f'aria-label="{escape(title)}">',
           f'<text x="0" y="16" font-weight="bold" fill="{INK}">{escape(title)}</text>']
    for i, (label, value, colour) in enumerate(rows):
        y = 26 + i * h
        w = 0 if np.isnan(value) else max(1.0, width * min(value, vmax) / vmax)
        shown = "n/a" if np.isnan(value) else fmt(value) if fmt else \
            f"{value:.0f}{unit}" if unit == " s" else f"{value:.0%}"
        out += [f'<text x="{left - 6}" y="{y + 12}" text-anchor="end" font-size="12">{escape(label)}</text>',
                f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{h - 5}" fill="{colour}"/>',
                f'<text x="{left + w + 4:.1f}" y="{y + 12}" font-size="11">{shown}</text>']
        lo, hi = intervals[i] if intervals else (np.nan, np.nan)
        if not (np.isnan(lo) or np.isnan(hi)):
            x0, x1, ym = left + width * lo / vmax, left + width * hi / vmax, y + h / 2
            out.append(f'<path class="interval" d="M{x0:.1f} {ym - 4:.1f}v8M{x0:.1f} {ym:.1f}'
                       f'H{x1:.1f}M{x1:.1f} {ym - 4:.1f}v8" stroke="{INK}" fill="none">'
                       f'<title>95% interval {lo:.0%} to {hi:.0%}</title></path>')
    if line is not None:
        x = left + width * line / vmax
        out += [f'<line x1="{x:.1f}" y1="22" x2="{x:.1f}" y2="{height - 6}" stroke="{INK}" '
                f'stroke-dasharray="4 3"/>',
                f'<text x="{x + 3:.1f}" y="{height - 2}" font-size="10">{escape(line_label)}</text>']
    return "\n".join(out + ["</svg>"])


def _histogram(values: pd.Series, *, title: str, bins: int = 10) -> str:
    counts, edges = np.histogram(values.astype(float), bins=bins, range=(0.0, 1.0))
    top = max(int(counts.max()), 1)
    w, hgt, left = 36, 120, 30
    top_pad = 36  # room for the title and the tallest bar's count
    out = [f'<svg width="{max(left + w * bins + 20, _title_width(title))}" height="{hgt + top_pad + 26}" '
           f'role="img" aria-label="{escape(title)}">',
           f'<text x="0" y="16" font-weight="bold" fill="{INK}">{escape(title)}</text>']
    for i, c in enumerate(counts):
        bh = hgt * c / top
        x = left + i * w
        out += [f'<rect x="{x}" y="{top_pad + hgt - bh:.1f}" width="{w - 3}" height="{bh:.1f}" fill="{GREEN}"/>',
                f'<text x="{x + w / 2 - 2:.0f}" y="{top_pad + hgt - bh - 3:.1f}" font-size="10" '
                f'text-anchor="middle">{c}</text>']
    out += [f'<text x="{left}" y="{hgt + top_pad + 16}" font-size="11">0</text>',
            f'<text x="{left + w * bins - 10}" y="{hgt + top_pad + 16}" font-size="11">1</text>']
    return "\n".join(out + ["</svg>"])


def _heatmap(matrix: pd.DataFrame, *, title: str) -> str:
    """A square of cells coloured by value in [-1, 1] (red low, green high; grey: n/a)."""
    n, cell, left = len(matrix), 16, 150
    longest = max((len(str(c)) for c in matrix.columns), default=0)
    out = [f'<svg width="{max(left + cell * n + 20, _title_width(title))}" '
           f'height="{40 + cell * n + 7 * longest + 10}" role="img" '
           f'aria-label="{escape(title)}">',
           f'<text x="0" y="16" font-weight="bold" fill="{INK}">{escape(title)}</text>']
    for i, (a, row) in enumerate(matrix.iterrows()):
        y = 26 + i * cell
        out.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end" font-size="11">'
                   f'{escape(str(a))}</text>')
        for j, v in enumerate(row.to_numpy(dtype=float)):
            if np.isnan(v):
                fill = "#ecf0f1"
            else:  # -1 red .. 0 white .. 1 green
                t = max(-1.0, min(1.0, v))
                r, g, b = ((255, int(255 * (1 + t)), int(255 * (1 + t))) if t < 0 else
                           (int(255 * (1 - t) + 39 * t), int(255 * (1 - t) + 174 * t),
                            int(255 * (1 - t) + 96 * t)))
                fill = f"rgb({r},{g},{b})"
            shown = "n/a" if np.isnan(v) else f"{v:.2f}"
            out.append(f'<rect x="{left + j * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                       f'fill="{fill}"><title>{escape(str(a))} / {escape(str(matrix.columns[j]))}: '
                       f'{shown}</title></rect>')
    for j, b in enumerate(matrix.columns):
        x, y = left + j * cell + 11, 30 + n * cell
        out.append(f'<text x="{x}" y="{y}" font-size="11" transform="rotate(90 {x} {y})">'
                   f'{escape(str(b))}</text>')
    return "\n".join(out + ["</svg>"])


#: the Cohen's kappa matrix is drawn up to this many annotators (the manifest has it all)
MAX_HEATMAP = 40
#: confusion matrices are drawn for answers with at most this many labels
MAX_CONFUSION_LABELS = 8


def _scatter(points: list[tuple[str, float, float, str]], *, title: str, x_label: str,
             y_label: str, line: float | None = None) -> str:
    """(label, x, y, colour) points; x on a log scale (seconds), y in [0, 1]."""
    pts = [p for p in points if not (np.isnan(p[1]) or np.isnan(p[2])) and p[1] > 0]
    w, h, left, top = 420, 220, 50, 30
    out = [f'<svg width="{max(left + w + 30, _title_width(title))}" height="{top + h + 45}" role="img" '
           f'aria-label="{escape(title)}">',
           f'<text x="0" y="16" font-weight="bold" fill="{INK}">{escape(title)}</text>',
           f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#ddd"/>']
    if pts:
        lx = np.log10([p[1] for p in pts])
        lo, hi = float(lx.min()) - 0.1, float(lx.max()) + 0.1
        for (label, x, y, colour), v in zip(pts, lx):
            cx, cy = left + w * (v - lo) / (hi - lo), top + h * (1 - min(max(y, 0.0), 1.0))
            out.append(f'<circle class="point" cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{colour}">'
                       f'<title>{escape(label)}: {x:.0f} s, {y:.0%}</title></circle>')
        for v in range(int(np.ceil(lo)), int(np.floor(hi)) + 1):
            cx = left + w * (v - lo) / (hi - lo)
            out.append(f'<text x="{cx:.1f}" y="{top + h + 14}" font-size="10" '
                       f'text-anchor="middle">{10 ** v:g} s</text>')
    for frac in (0.0, 0.5, 1.0):
        out.append(f'<text x="{left - 4}" y="{top + h * (1 - frac) + 4:.1f}" font-size="10" '
                   f'text-anchor="end">{frac:.0%}</text>')
    if line is not None:
        y = top + h * (1 - line)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + w}" y2="{y:.1f}" stroke="{INK}" '
                   f'stroke-dasharray="4 3"/>')
    out += [f'<text x="{left + w / 2}" y="{top + h + 32}" font-size="11" text-anchor="middle">'
            f'{escape(x_label)}</text>',
            f'<text x="12" y="{top + h / 2}" font-size="11" text-anchor="middle" '
            f'transform="rotate(-90 12 {top + h / 2})">{escape(y_label)}</text>']
    return "\n".join(out + ["</svg>"])


def _ranking_chart(ranked: pd.DataFrame) -> str:
    """Bradley–Terry scores with their 95% intervals, best first (each connected group of
    models its own block: across groups no comparison orders them)."""
    title = "Bradley–Terry ranking of the models compared, with 95% intervals"
    r = ranked.sort_values(["component", "rank"], kind="stable")
    lo, hi = float(r["ci_low"].min()), float(r["ci_high"].max())
    span = max(hi - lo, 1e-9)
    h, left, width = 20, 180, 360
    out = [f'<svg width="{max(left + width + 90, _title_width(title))}" '
           f'height="{44 + h * len(r)}" role="img" aria-label="{escape(title)}">',
           f'<text x="0" y="16" font-weight="bold" fill="{INK}">{escape(title)}</text>']
    x0 = left + width * (0 - lo) / span
    out.append(f'<line x1="{x0:.1f}" y1="24" x2="{x0:.1f}" y2="{30 + h * len(r)}" '
               f'stroke="#ddd"/>')
    for i, row in enumerate(r.itertuples()):
        y = 32 + i * h
        xs = [left + width * (v - lo) / span for v in (row.ci_low, row.score, row.ci_high)]
        group = f" (group {int(row.component) + 1})" if r["component"].nunique() > 1 else ""
        out += [f'<text x="{left - 6}" y="{y + 4}" text-anchor="end" font-size="12">'
                f'{int(row.rank)}. {escape(str(row.model))}{escape(group)}</text>',
                f'<path class="interval" d="M{xs[0]:.1f} {y:.1f}H{xs[2]:.1f}" stroke="{INK}"/>',
                f'<circle cx="{xs[1]:.1f}" cy="{y:.1f}" r="4" fill="{GREEN}"><title>'
                f'{escape(str(row.model))}: score {row.score:.2f} ({row.ci_low:.2f} to '
                f'{row.ci_high:.2f}), {row.wins:g} wins of {int(row.comparisons)}</title></circle>',
                f'<text x="{xs[2] + 6:.1f}" y="{y + 4}" font-size="11">{row.score:+.2f}</text>']
    return "\n".join(out + ["</svg>"])


def _confusions(confusion: pd.DataFrame, names: dict[str, str], excluded: set[str]) -> str:
    """One small matrix per annotator: rows the reference label, columns theirs; a cell's
    shade is its share of the row."""
    labels = sorted(set(confusion["reference"]) | set(confusion["label"]), key=str)
    cell, gap, head = 14, 26, 16
    side = cell * len(labels)
    workers = sorted(confusion["worker"].unique(), key=lambda x: names.get(x, x))
    # each block as wide as its matrix or its annotator's name (10 px type: ~6.5 px a letter)
    block = max(side, int(6.5 * max(len(str(names.get(w, w))) for w in workers))) + gap
    per_row = max(1, 840 // block)
    rows = -(-len(workers) // per_row)
    title = "Confusion per annotator (rows: gold answer or delivered label; columns: theirs)"
    out = [f'<svg width="{max(per_row * block + 10, _title_width(title))}" '
           f'height="{48 + rows * (side + head + gap)}" role="img" aria-label="{escape(title)}">',
           f'<text x="0" y="16" font-weight="bold" fill="{INK}">{escape(title)}</text>',
           f'<text x="0" y="32" font-size="11">labels in order, top to bottom and left to right: '
           f'{escape(", ".join(map(str, labels)))}; green: agrees, red: differs; darker: a '
           f'larger share of the row</text>']
    index = {lab: i for i, lab in enumerate(labels)}
    for k, wk in enumerate(workers):
        x0 = (k % per_row) * block
        y0 = 48 + (k // per_row) * (side + head + gap)
        name = names.get(wk, wk)
        out.append(f'<text x="{x0}" y="{y0 + 11}" font-size="10" '
                   f'fill="{RED if wk in excluded else INK}">{escape(name)}</text>')
        m = confusion[confusion["worker"] == wk]
        totals = m.groupby("reference")["n"].sum()
        for r in m.itertuples():
            share = r.n / totals[r.reference]
            i, j = index[r.reference], index[r.label]
            colour = GREEN if r.reference == r.label else RED
            out.append(f'<rect class="cell" x="{x0 + j * cell}" y="{y0 + head + i * cell}" '
                       f'width="{cell - 1}" height="{cell - 1}" fill="{colour}" '
                       f'fill-opacity="{0.15 + 0.85 * share:.2f}"><title>{escape(name)}: '
                       f'{escape(str(r.reference))} answered {escape(str(r.label))} {int(r.n)} '
                       f'time(s)</title></rect>')
    return "\n".join(out + ["</svg>"])


def _agreement_charts(result: QCResult, names: dict[str, str], colour: dict[str, str]) -> list[str]:
    a = result.agreement
    if a is None:
        return []
    parts = []
    if len(a.items):
        parts.append(_histogram(a.items, title="Agreement per item (share of agreeing pairs)"))
    loo = a.alpha_without.rename(index=lambda w: names.get(w, w))
    if loo.notna().any() and not np.isnan(result.alpha):
        # zoomed on the range the values take: the differences are what matters
        lo = min(float(loo.min()), result.alpha) - 0.02
        top = max(float(loo.max()), result.alpha) + 0.02
        parts.append("<p>Alpha with each annotator left out: a bar right of the overall line "
                     "means the others agree better without them.</p>")
        parts.append(_bars([(w, v - lo, colour.get(w, GREY)) for w, v in loo.items()],
                           title=f"Alpha without each annotator (overall {result.alpha:.3f})",
                           unit="", vmax=top - lo, line=result.alpha - lo,
                           line_label=f"overall {result.alpha:.3f}",
                           fmt=lambda v: f"{v + lo:.3f}"))
    if 1 < len(a.cohen) <= MAX_HEATMAP:
        m = a.cohen.rename(index=lambda w: names.get(w, w), columns=lambda w: names.get(w, w))
        parts.append(_heatmap(m, title="Cohen's kappa between annotators (nominal, 5+ shared "
                                       "judgments)"))
    return parts


def _review_chart(review: ReviewSummary, names: dict[str, str]) -> list[str]:
    """L4: the share accepted as it was, overall and per reviewer, with 95% Wilson
    intervals, against the bar that gates delivery."""
    by = review.by_reviewer()
    lo, hi = wilson_interval(by["accept"].to_numpy(), by["reviewed"].to_numpy())
    all_lo, all_hi = review.interval
    rows = [("all reviews", float(review.acceptance), GREEN if review.acceptance >= review.min_acceptance else RED)]
    rows += [(names.get(str(r), str(r)), float(n.accept / n.reviewed), GREY) for r, n in by.iterrows()]
    bar = review.min_acceptance
    return [f"<h2>Expert review (L4)</h2><p>{review.reviewed} of {review.sampled} sampled items "
            f"reviewed: {review.count('accept')} accepted as they were, "
            f"{review.count('correct')} corrected (the reviewer's answer is delivered), "
            f"{review.count('reject')} rejected (an item rejected is judged again once and its "
            f"new result reviewed; what is rejected then is not delivered)"
            + (f"; {review.unreadable} reviews could not be read" if review.unreadable else "")
            + ".</p>",
            _bars(rows, title="Review acceptance: share accepted as it was, with 95% Wilson "
                              "intervals", unit="", vmax=1.0, line=bar,
                  line_label=f"minimum {bar:.0%}",
                  intervals=[(all_lo, all_hi), *zip(lo, hi)])]


def qc_report_html(*, title: str, request_id: str, result: QCResult, stats: QCStats,
                   names: dict[str, str], min_gold_accuracy: float,
                   checks: list[CheckResult] | None = None,
                   rankings: pd.DataFrame | None = None) -> str:
    w = result.workers.copy()
    w.index = [names.get(i, i) for i in w.index]
    colour = {i: RED if ex else GREY for i, ex in w["excluded"].items()}
    parts = [f"<h1>QC report: {escape(title)}</h1>",
             f"<p>Request <code>{escape(request_id)}</code>. "
             f"{stats.annotators} annotators, {stats.annotators_excluded} excluded (red); "
             f"{stats.judgments_kept} of {stats.judgments} judgments kept; "
             f"{stats.items_delivered} items delivered, {stats.items_unresolved} unresolved.</p>"]
    if stats.krippendorff_alpha is not None:
        parts.append(f"<p>Krippendorff's alpha ({escape(str(stats.agreement_level))}): "
                     f"<b>{stats.krippendorff_alpha:.3f}</b>"
                     + "".join(f"; {escape(k)} {v:.3f}" for k, v in
                               (stats.krippendorff_alpha_by_field or {}).items()
                               if v is not None) + "</p>")
    if w["accuracy"].notna().any():
        parts.append(_bars([(i, r.accuracy, colour[i]) for i, r in w.iterrows()],
                           title="Accuracy on hidden gold items, with 95% Wilson intervals",
                           unit="", vmax=1.0, line=min_gold_accuracy,
                           line_label=f"minimum {min_gold_accuracy:.0%}",
                           intervals=list(zip(w["accuracy_ci_low"], w["accuracy_ci_high"]))
                           if "accuracy_ci_low" in w else None))
    if "est_accuracy" in w and w["est_accuracy"].notna().any():
        parts.append(_bars([(i, r.est_accuracy, colour[i]) for i, r in w.iterrows()],
                           title="Accuracy from gold and agreement with the others, with 95% "
                                 "Wilson intervals (the exclusion rule's figure)",
                           unit="", vmax=1.0, line=min_gold_accuracy,
                           line_label=f"minimum {min_gold_accuracy:.0%}",
                           intervals=list(zip(w["est_ci_low"], w["est_ci_high"]))))
    accuracy = w["est_accuracy"] if "est_accuracy" in w else w["accuracy"]
    if w["median_lead_time_s"].notna().any() and accuracy.notna().any():
        parts.append(_scatter([(i, r.median_lead_time_s, accuracy[i], colour[i])
                               for i, r in w.iterrows()],
                              title="Accuracy against speed", line=min_gold_accuracy,
                              x_label="median seconds per judgment (log scale)",
                              y_label="accuracy"))
    if w["median_lead_time_s"].notna().any():
        vmax = float(np.nanmax(w["median_lead_time_s"]))
        parts.append(_bars([(i, r.median_lead_time_s, colour[i]) for i, r in w.iterrows()],
                           title="Median seconds per judgment", unit=" s", vmax=max(vmax, 1.0)))
    if "left_share" in w and w["left_share"].notna().any():
        pooled = float(w["left_share"].mean())
        parts.append(_bars([(i, r.left_share, colour[i]) for i, r in w.iterrows()],
                           title="Position bias: share of picks on the left response",
                           unit="", vmax=1.0, line=pooled,
                           line_label=f"annotators' mean {pooled:.0%}"))
    if "swap_consistency" in w and w["swap_consistency"].notna().any():
        sw = w[w["swap_consistency"].notna()]
        n = sw["swap_probes"].to_numpy(dtype=float)
        lo, hi = wilson_interval(np.round(sw["swap_consistency"].to_numpy(dtype=float) * n), n)
        parts.append(_bars([(i, r.swap_consistency, colour[i]) for i, r in sw.iterrows()],
                           title="Self-consistency: same answer with the sides swapped, "
                                 "95% Wilson intervals",
                           unit="", vmax=1.0, intervals=list(zip(lo, hi))))
    parts += _agreement_charts(result, names, colour)
    c = result.confusion
    if len(c) and len(set(c["reference"]) | set(c["label"])) <= MAX_CONFUSION_LABELS \
            and c["worker"].nunique() <= MAX_HEATMAP:
        parts.append(_confusions(c, names, set(result.workers.index[result.workers["excluded"]])))
    if rankings is not None and len(rankings):
        parts.append(_ranking_chart(rankings))
    if result.review is not None and result.review.reviewed:
        parts += _review_chart(result.review, names)
    if "confidence" in result.outcome and len(result.outcome):
        parts.append(_histogram(result.outcome["confidence"],
                                title="Confidence of the delivered labels"))
    rows = "".join(f"<tr><td>{escape(c.layer)}</td><td>{escape(c.name)}</td>"
                   f"<td>{'pass' if c.passed else escape(c.severity)}</td>"
                   f"<td>{escape(c.summary)}</td></tr>" for c in (checks or result.checks))
    parts.append(f"<h2>Checks</h2><table><tr><th>layer</th><th>check</th><th>result</th>"
                 f"<th>summary</th></tr>{rows}</table>")
    ex = "".join(f"<li><code>{escape(i)}</code>: {escape(str(r.exclusion_reason))}</li>"
                 for i, r in w[w["excluded"]].iterrows())
    if ex:
        parts.append(f"<h2>Excluded annotators</h2><ul>{ex}</ul>")
    style = ("body{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto;color:#2c3e50}"
             "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px 8px;"
             "text-align:left;font-size:13px}svg{display:block;margin:1.2em 0}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>QC report: "
            f"{escape(request_id)}</title><style>{style}</style></head><body>"
            + "\n".join(parts) + "</body></html>")
