"""report.html: one self-contained page that shows an instructor how the class did.

Charts are inline SVG and the styles are inline CSS: the file opens offline, from an e-mail
attachment or a course drive, and prints. No JavaScript. Everything that comes from a
submission (names, error messages) is cleaned and escaped (``safetext.escape_html``): a file
named ``<script>.ipynb`` stays text, and a lone surrogate cannot make the page unwritable.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

from grader.feedback import FEEDBACK_FOLDER
from grader.safetext import escape_html as escape

if TYPE_CHECKING:
    from grader.batch_data import BatchEntry, BatchSummary

BINS = 10  # score histogram: ten bins of 10% of the maximum
WIDTH = 760  # SVG user units; the charts scale to the page width
GOOD, FAIR, POOR = "#2f9e6e", "#e0a526", "#d4553f"
STATUS_LABEL = {"graded": "graded", "error": "error", "timeout": "timed out"}

CSS = """
:root { --ink:#1d2430; --muted:#5b6677; --line:#e3e7ee; --bg:#f5f7fa; --card:#fff;
        --accent:#3a6ea5; --good:#2f9e6e; --fair:#e0a526; --poor:#d4553f; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
       font:15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width:1040px; margin:0 auto; padding:28px 20px 48px; }
header h1 { margin:0 0 4px; font-size:26px; }
header p { margin:0; color:var(--muted); }
.tiles { display:grid; grid-template-columns:repeat(auto-fit, minmax(140px, 1fr)); gap:12px;
         margin:20px 0 8px; }
.tile { background:var(--card); border:1px solid var(--line); border-radius:10px;
        padding:12px 14px; }
.tile .value { font-size:26px; font-weight:650; }
.tile .label { color:var(--muted); font-size:13px; }
.tile.bad .value { color:var(--poor); } .tile.warn .value { color:#b7791f; }
.tile.ok .value { color:var(--good); }
section { background:var(--card); border:1px solid var(--line); border-radius:10px;
          padding:18px 20px; margin-top:18px; }
section h2 { margin:0 0 2px; font-size:18px; }
section p.hint { margin:0 0 12px; color:var(--muted); font-size:13px; }
svg { display:block; width:100%; height:auto; }
svg text { font-family:inherit; fill:var(--ink); }
svg .muted { fill:var(--muted); }
table { width:100%; border-collapse:collapse; font-size:14px; }
th, td { text-align:left; padding:7px 10px; border-bottom:1px solid var(--line);
         vertical-align:top; }
th { color:var(--muted); font-weight:600; font-size:12px; text-transform:uppercase;
     letter-spacing:.03em; }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td.reason { white-space:pre-wrap; word-break:break-word; font-size:13px; }
td { overflow-wrap:anywhere; } code.file { color:var(--muted); }
code { font-family:ui-monospace, "DejaVu Sans Mono", monospace; font-size:12.5px; }
.badge { display:inline-block; white-space:nowrap; padding:1px 8px; border-radius:999px;
         font-size:12px; font-weight:600; color:#fff; }
.badge.error { background:var(--poor); } .badge.timeout { background:#b7791f; }
.badge.graded { background:var(--good); }
.empty { color:var(--muted); font-style:italic; margin:0; }
details summary { cursor:pointer; font-weight:600; font-size:18px; }
footer { color:var(--muted); font-size:12px; margin-top:18px; text-align:center; }
@media print { body { background:#fff; } section { break-inside:avoid; } }
"""


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _colour(fraction: float) -> str:
    return GOOD if fraction >= 0.8 else FAIR if fraction >= 0.5 else POOR


def histogram(scores: Sequence[float], max_score: float) -> list[int]:
    """Counts in BINS equal bins of the maximum; a full score lands in the last bin."""
    counts = [0] * BINS
    for score in scores:
        fraction = score / max_score if max_score > 0 else 0.0
        counts[min(BINS - 1, max(0, int(fraction * BINS)))] += 1
    return counts


def _histogram_svg(counts: Sequence[int], max_score: float) -> str:
    height, left, bottom, top = 240, 44, 40, 22
    plot_w, plot_h = WIDTH - left - 12, height - bottom - top
    tick_step = max(1, -(-max(counts) // 4))  # whole submissions per gridline
    peak = tick_step * 4
    step = plot_w / len(counts)
    parts = [
        f'<svg class="chart" id="score-distribution" viewBox="0 0 {WIDTH} {height}" '
        'role="img" aria-label="Score distribution">'
    ]
    for tick in range(5):
        value = tick_step * tick
        y = top + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{left}" x2="{WIDTH - 12}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#e3e7ee" stroke-width="1"/>'
            f'<text class="muted" x="{left - 8}" y="{y + 4:.1f}" font-size="11" '
            f'text-anchor="end">{value}</text>'
        )
    for i, count in enumerate(counts):
        x = left + i * step + 4
        bar_h = plot_h * count / peak
        y = top + plot_h - bar_h
        low, high = max_score * i / BINS, max_score * (i + 1) / BINS
        label = f"{_fmt(low)}–{_fmt(high)}"
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{step - 8:.1f}" '
            f'height="{bar_h:.1f}" rx="3" fill="{_colour((i + 0.5) / BINS)}">'
            f"<title>{count} submission{'' if count == 1 else 's'} scored {label}</title></rect>"
        )
        if count:
            parts.append(
                f'<text x="{x + (step - 8) / 2:.1f}" y="{y - 5:.1f}" font-size="12" '
                f'font-weight="600" text-anchor="middle">{count}</text>'
            )
        parts.append(
            f'<text class="muted" x="{x + (step - 8) / 2:.1f}" y="{height - bottom + 16}" '
            f'font-size="11" text-anchor="middle">{label}</text>'
        )
    parts.append(
        f'<text class="muted" x="{left + plot_w / 2:.1f}" y="{height - 6}" font-size="12" '
        f'text-anchor="middle">score (out of {_fmt(max_score)})</text></svg>'
    )
    return "".join(parts)


def _bars_svg(
    chart_id: str, label: str, rows: Sequence[tuple[str, float, str, str]], label_width: int
) -> str:
    """Horizontal bars: (label, fraction of the track, text at the bar's end, colour)."""
    row_h, top = 30, 6
    height = top * 2 + row_h * len(rows)
    track_x, track_w = label_width + 12, WIDTH - label_width - 12 - 90
    parts = [
        f'<svg class="chart" id="{chart_id}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(label)}">'
    ]
    for i, (name, fraction, value, colour) in enumerate(rows):
        y = top + i * row_h
        shown = name if len(name) <= label_width // 7 else name[: label_width // 7 - 1] + "…"
        parts.append(
            f'<text x="{label_width}" y="{y + 19}" font-size="13" text-anchor="end">'
            f"<title>{escape(name)}</title>{escape(shown)}</text>"
            f'<rect x="{track_x}" y="{y + 6}" width="{track_w}" height="18" rx="4" '
            'fill="#eef1f5"/>'
            f'<rect class="bar" x="{track_x}" y="{y + 6}" width="{track_w * fraction:.1f}" '
            f'height="18" rx="4" fill="{colour}"/>'
            f'<text x="{track_x + track_w + 8}" y="{y + 19}" font-size="13" '
            f'font-weight="600">{escape(value)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _pass_rates(summary: BatchSummary) -> str:
    n = len(summary.entries)
    rows = []
    for name, points in zip(summary.test_names, summary.test_points, strict=True):
        passed = sum(
            1
            for e in summary.entries
            for t in e.result.tests
            if t.name == name and t.status == "passed"
        )
        rate = passed / n if n else 0.0
        rows.append((f"{name} ({_fmt(points)} pt)", rate, f"{rate:.0%}", _colour(rate)))
    return _bars_svg("pass-rates", "Pass rate per test", rows, 300)


def _misconceptions(summary: BatchSummary) -> str:
    counts = {
        mid: sum(1 for e in summary.entries if mid in e.result.misconceptions)
        for mid, _ in summary.misconceptions
    }
    found = sorted(
        ((mid, title) for mid, title in summary.misconceptions if counts[mid]),
        key=lambda item: (-counts[item[0]], item[0]),
    )
    if not found:
        return '<p class="empty">No known mistake was found in any submission.</p>'
    n = len(summary.entries)
    rows = [
        (mid, counts[mid] / n, f"{counts[mid]} ({counts[mid] / n:.0%})", "#3a6ea5")
        for mid, _ in found
    ]
    chart = _bars_svg("misconception-counts", "Submissions per misconception", rows, 220)
    legend = "".join(
        f"<tr><td><code>{escape(mid)}</code></td><td>{escape(title)}</td>"
        f'<td class="num">{counts[mid]}</td></tr>'
        for mid, title in found
    )
    return (
        f'{chart}<table class="legend"><thead><tr><th>id</th><th>mistake</th>'
        f'<th class="num">submissions</th></tr></thead><tbody>{legend}</tbody></table>'
    )


def _name(entry: BatchEntry) -> str:
    """The submission's name, linked to its feedback page, and under it the file graded when
    the name does not say it (a folder's notebook, or a name shortened or made safe for
    OUTDIR/<name>.json)."""
    name, file = entry.name, entry.result.submission
    page = escape(f"{FEEDBACK_FOLDER}/{quote(name)}.html")
    link = f'<a href="{page}">{escape(name)}</a>'
    if not file or file == name or file.rsplit(".", 1)[0] == name:
        return link
    return f'{link}<br><code class="file">{escape(file)}</code>'


def _status_badge(entry: BatchEntry) -> str:
    return f'<span class="badge {entry.status}">{STATUS_LABEL[entry.status]}</span>'


def _problems(summary: BatchSummary) -> str:
    problems = [e for e in summary.entries if e.status != "graded"]
    if not problems:
        return '<p class="empty">Every submission was graded normally.</p>'
    body = "".join(
        f'<tr class="problem-row"><td>{_name(e)}</td><td>{_status_badge(e)}</td>'
        f'<td class="num">{_fmt(e.result.score)}</td>'
        f'<td class="reason">{escape(e.reason)}</td></tr>'
        for e in problems
    )
    return (
        '<table id="problems"><thead><tr><th>submission</th><th>status</th>'
        f'<th class="num">score</th><th>reason</th></tr></thead><tbody>{body}</tbody></table>'
    )


def _function_averages(summary: BatchSummary) -> str:
    """Average score per graded function, as a share of its points (several only)."""
    n = len(summary.entries)
    rows = []
    for function, points in summary.functions:
        total = sum(summary.subtotal(e, function) for e in summary.entries)
        share = total / (n * points) if n and points else 0.0
        average = total / n if n else 0.0
        rows.append((function, share, f"{_fmt(average)} / {_fmt(points)}", _colour(share)))
    return _bars_svg("function-averages", "Average score per function", rows, 220)


def _all_rows(summary: BatchSummary) -> str:
    functions = [f for f, _ in summary.functions]
    body = "".join(
        f'<tr class="submission-row"><td>{_name(e)}</td>'
        f'<td class="num">{_fmt(e.result.score)} / {_fmt(e.result.max_score)}</td>'
        + "".join(f'<td class="num">{_fmt(summary.subtotal(e, f))}</td>' for f in functions)
        + f"<td>{_status_badge(e)}</td>"
        f"<td>{' '.join(f'<code>{escape(m)}</code>' for m in e.result.misconceptions)}</td></tr>"
        for e in summary.entries
    )
    heads = "".join(f'<th class="num">{escape(f)}</th>' for f in functions)
    return (
        '<table id="submissions"><thead><tr><th>submission</th><th class="num">score</th>'
        f"{heads}<th>status</th><th>mistakes found</th></tr></thead><tbody>{body}</tbody></table>"
    )


def _roster(summary: BatchSummary) -> str:
    """Unmatched and ambiguous submissions, and the students with none (--roster only)."""
    report = summary.roster
    if report is None:
        return ""
    match = report.match
    rows = [
        *(
            (name, "unmatched", "no roster row has this name, id or e-mail")
            for name in match.unmatched
        ),
        *((name, "ambiguous", why) for name, why in match.ambiguous),
        *(
            (
                student.name,
                "no submission",
                "left out of the gradebooks"
                if report.absent == "skip"
                else "0 points in the gradebooks",
            )
            for student in match.absent
        ),
    ]
    counts = (
        f"{len(match.matched)} of {len(report.roster.students)} students matched; "
        f"{len(match.unmatched)} unmatched and {len(match.ambiguous)} ambiguous submissions; "
        f"{len(match.absent)} students without a submission."
    )
    if not rows:
        return f'<p class="empty">{escape(counts)} Nothing to resolve.</p>'
    body = "".join(
        f'<tr class="roster-row"><td>{escape(who)}</td><td>{escape(what)}</td>'
        f'<td class="reason">{escape(why)}</td></tr>'
        for who, what, why in rows
    )
    return (
        f'<p>{escape(counts)}</p><table id="roster"><thead><tr><th>submission or student</th>'
        f"<th>problem</th><th>detail</th></tr></thead><tbody>{body}</tbody></table>"
    )


def _tiles(summary: BatchSummary, scores: Sequence[float], max_score: float) -> str:
    n = len(scores)
    full = sum(1 for s in scores if max_score > 0 and s >= max_score)
    errors, timeouts = summary.count("error"), summary.count("timeout")
    tiles = [
        ("", str(n), "submissions"),
        ("", _fmt(statistics.fmean(scores)) if scores else "–", f"mean score / {_fmt(max_score)}"),
        ("", _fmt(statistics.median(scores)) if scores else "–", "median score"),
        ("ok", str(full), "full marks"),
        ("bad" if errors else "", str(errors), "errors"),
        ("warn" if timeouts else "", str(timeouts), "timed out"),
    ]
    return (
        '<div class="tiles">'
        + "".join(
            f'<div class="tile {cls}"><div class="value">{value}</div>'
            f'<div class="label">{label}</div></div>'
            for cls, value, label in tiles
        )
        + "</div>"
    )


def render_report(summary: BatchSummary) -> str:
    """The whole page as one string."""
    scores = [e.result.score for e in summary.entries]
    max_score = max((e.result.max_score for e in summary.entries), default=0.0)
    title = f"{summary.assignment}: class report"
    sections = [
        (
            "Score distribution",
            "How many submissions fall in each tenth of the maximum score.",
            _histogram_svg(histogram(scores, max_score), max_score),
        ),
        *(
            [
                (
                    "Score per function",
                    "Average points per graded function: the function most of the class "
                    "struggles with has the shortest bar.",
                    _function_averages(summary),
                )
            ]
            if summary.functions
            else []
        ),
        (
            "Pass rate per test",
            "Share of submissions that passed each hidden test: low bars are the topics to "
            "revisit.",
            _pass_rates(summary),
        ),
        (
            "Mistakes found",
            "Submissions whose wrong answers match a known misconception (diagnosis ids as "
            "in summary.csv).",
            _misconceptions(summary),
        ),
        (
            "Errored or timed out",
            "Submissions that could not be graded normally, and why.",
            _problems(summary),
        ),
    ]
    if summary.warnings:
        notes = "".join(f"<li>{escape(w)}</li>" for w in summary.warnings)
        sections.insert(
            0,
            (
                "Notes from the grader",
                "What was not graded, or not graded as asked: read these first.",
                f'<ul id="notes">{notes}</ul>',
            ),
        )
    if summary.roster is not None:
        sections.append(
            (
                "Roster",
                f"Matching against {summary.roster.roster.path.name}: submissions no student "
                "matched (or several did) are in no gradebook until resolved by hand.",
                _roster(summary),
            )
        )
    body = "".join(
        f'<section><h2>{escape(h)}</h2><p class="hint">{escape(hint)}</p>{content}</section>'
        for h, hint, content in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>"
        f"<header><h1>{escape(title)}</h1><p>{len(summary.entries)} submissions graded "
        f"with the hidden tests, in {summary.seconds:.1f} s on {summary.jobs} workers.</p>"
        f"</header>{_tiles(summary, scores, max_score)}{body}"
        f"<section><details><summary>All submissions ({len(summary.entries)})</summary>"
        f"{_all_rows(summary)}</details></section>"
        "<footer>Generated by dl-grader <code>grader batch</code>. Each name links to the "
        "student's feedback page; per-submission details are in the &lt;name&gt;.json files "
        "next to this page.</footer></main></body></html>\n"
    )
