"""The report's headline: did it work? Per pair, in words, the vote against the baselines
(with the truth) or the runs' agreement and score (without), and one figure of all pairs."""

from __future__ import annotations

import html
from dataclasses import dataclass

import pandas as pd

from hume_workflow.report import figures
from hume_workflow.report.tables import interval_level, summary_row

HEADING = "Did it work?"


@dataclass(frozen=True)
class Headline:
    """The headline's pieces: an HTML fragment (heading, method, a paragraph per pair,
    warnings), the same in Markdown, and the figure of every pair (base64 PNG)."""

    html: str
    markdown: str
    png: str
    caption: str


@dataclass(frozen=True)
class PairText:
    """A pair's headline: its name, its sentences and its collapse warning (None: none)."""

    name: str
    text: str
    warning: str | None


def make_headline(pairs: list[dict], baselines: dict[str, dict]) -> Headline:
    """The headline of ``pairs`` (each the metrics of its chosen K, as
    :func:`~hume_workflow.report.tables.summary_tables` takes them) and ``baselines``."""
    rows = [summary_row(p, baselines) for p in pairs]
    texts = [pair_text(p, row) for p, row in zip(pairs, rows, strict=True)]
    method = method_text(pairs)
    labelled = any(row["vote_acc"] is not None for row in rows)
    caption = (
        "Per pair: the vote's ACC (bar: its interval) beside k-means and the supervised linear "
        "probe on both spaces"
        if labelled
        else "Per pair: the voting runs' mean agreement with the vote and the best label-free "
        "score (bars: their intervals)"
    )
    return Headline(
        html=_html(texts, method),
        markdown=_markdown(texts, method),
        png=figures.overview(pd.DataFrame(rows)),
        caption=caption,
    )


def pair_text(p: dict, row: dict) -> PairText:
    """The headline of one pair from its metrics ``p`` and its summary ``row``."""
    level = interval_level(p)
    verdict = _unlabelled(row, level) if row["vote_acc"] is None else _labelled(row, level)
    name = f"{row['phi1']} → {row['phi2']}"
    return PairText(name, f"{verdict} {_runs(row)}", p.get("collapse_warning"))


def _labelled(row: dict, level: str) -> str:
    """The vote's ACC and interval, the baselines, and whether the vote beats k-means."""
    acc, low, high = row["vote_acc"], row["vote_acc_low"], row["vote_acc_high"]
    spaces = {row["phi1"]: "phi1", row["phi2"]: "phi2"}  # one entry when phi1 == phi2
    kmeans = ", ".join(f"{pct(row[f'kmeans_acc_{i}'])} on {s}" for s, i in spaces.items())
    probe = " and ".join(f"{pct(row[f'probe_acc_{i}'])} on {s}" for s, i in spaces.items())
    verdicts = "; ".join(
        against_kmeans(acc, low, high, row[f"kmeans_acc_{i}"], s) for s, i in spaces.items()
    )
    return (
        f"vote ACC {pct(acc)} ({level} interval {span(low, high)}); k-means {kmeans}; "
        f"supervised linear probe {probe}. {verdicts[:1].upper()}{verdicts[1:]}."
    )


def against_kmeans(
    acc: float, low: float | None, high: float | None, kmeans: float | None, space: str
) -> str:
    """Whether the vote's ACC beats k-means on ``space``: it does (or falls below it) when
    k-means' ACC lies outside the vote ACC's interval [low, high]."""
    if kmeans is None:
        return f"k-means on {space} has no ACC"
    points = 100 * (acc - kmeans)
    if low is None or high is None:
        return f"against k-means on {space} the difference is {points:+.1f} points (no interval)"
    if kmeans < low:
        return f"the vote beats k-means on {space} by {abs(points):.1f} points"
    if kmeans > high:
        return f"the vote falls below k-means on {space} by {abs(points):.1f} points"
    return f"against k-means on {space} the difference ({points:+.1f}) is inside the interval"


def _unlabelled(row: dict, level: str) -> str:
    """The label-free verdict: the runs' mean agreement and the best score, with intervals."""
    agreement = span(row["agreement_low"], row["agreement_high"])
    score = bracket(row["best_score_low"], row["best_score_high"], 3)
    return (
        "no ground truth. The voting runs agree with the vote on "
        f"{pct(row['vote_agreement'])} of samples on average ({level} interval {agreement}); "
        f"the best label-free score is {row['best_score']:.3f} (interval {score})."
    )


def _runs(row: dict) -> str:
    """How many runs, how many voted and how, the score-ACC correlation, the collapsed."""
    how = f" ({row['aggregation']} weights)" if row["aggregation"] else ""
    text = f"{row['runs']} runs, {row['voted']} voted{how}"
    if row["vote_acc"] is not None:
        r, low, high = row["pearson_score_acc"], row["pearson_low"], row["pearson_high"]
        known = f"= {r:.2f} (interval {bracket(low, high)})" if r is not None else ""
        text += f"; r(score, ACC) {known or 'not computable'}"
    text += "."
    if row["collapsed"]:
        text += f" {row['collapsed']} of {row['runs']} runs collapsed."
    return text


def method_text(pairs: list[dict]) -> str | None:
    """How the intervals were made (each distinct method once), None when not recorded."""
    methods = dict.fromkeys(u["method"].rstrip(".") for p in pairs if (u := p.get("uncertainty")))
    if not methods:
        return None
    return " ".join(f"Intervals: {method}." for method in methods)


def pct(value: float | None) -> str:
    """A fraction as a percentage with one decimal: "79.8 %"; "n/a" for None."""
    return "n/a" if value is None else f"{100 * value:.1f} %"


def span(low: float | None, high: float | None) -> str:
    """An interval of fractions in percent: "77.1–82.4 %"; "n/a" when unknown."""
    if low is None or high is None:
        return "n/a"
    return f"{100 * low:.1f}–{pct(high)}"


def bracket(low: float | None, high: float | None, digits: int = 2) -> str:
    """An interval of numbers: "[0.61, 0.98]"; "n/a" when unknown."""
    if low is None or high is None:
        return "n/a"
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def _html(texts: list[PairText], method: str | None) -> str:
    parts = [f"<h2>{HEADING}</h2>"]
    for t in texts:
        parts.append(f"<p><b>{html.escape(t.name)}</b>: {html.escape(t.text)}</p>")
        if t.warning:
            parts.append(f"<p class='warn'>{html.escape(t.name)}: {html.escape(t.warning)}</p>")
    if method:
        parts.append(f"<p class='method'>{html.escape(method)}</p>")
    return "\n".join(parts)


def _markdown(texts: list[PairText], method: str | None) -> str:
    parts = [f"## {HEADING}\n"]
    for t in texts:
        parts.append(f"**{t.name}**: {t.text}\n")
        if t.warning:
            parts.append(f"> **Warning** ({t.name}): {t.warning}\n")
    if method:
        parts.append(f"{method}\n")
    return "\n".join(parts)
