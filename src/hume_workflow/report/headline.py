"""The report's headline: did it work? The recommended answer and the rule that picked it,
the best task of each method side by side when several methods ran, then per task, in words,
the vote against the baselines (with the truth) or the runs' agreement and score (without),
and one figure of all tasks."""

from __future__ import annotations

import html
from dataclasses import dataclass

import pandas as pd

from hume_workflow.aggregate.recommend import DISAGREEMENT_ARI, Candidate, Recommendation, best
from hume_workflow.report import figures
from hume_workflow.report.names import method_title, task_of, task_title
from hume_workflow.report.tables import interval, interval_level, summary_row

HEADING = "Did it work?"
RECOMMENDED = "Recommended answer"


@dataclass(frozen=True)
class Headline:
    """The headline's pieces: an HTML fragment (heading, the recommendation, a paragraph per
    task, warnings), the same in Markdown, and the figure of every task (base64 PNG)."""

    html: str
    markdown: str
    png: str
    caption: str


@dataclass(frozen=True)
class Paragraph:
    """One paragraph of the headline: its name (bold), its sentences, a warning (None: none)
    and its HTML class (None: a plain paragraph)."""

    name: str
    text: str
    warning: str | None = None
    css: str | None = None


def make_headline(
    pairs: list[dict], baselines: dict[str, dict], recommendation: Recommendation | None = None
) -> Headline:
    """The headline of ``pairs`` (each task's metrics of its chosen K, as
    :func:`~hume_workflow.report.tables.summary_tables` takes them), ``baselines`` and the
    ``recommendation`` of rule recommend (None: none is stated)."""
    rows = [summary_row(p, baselines) for p in pairs]
    texts = [pair_text(p, row, baselines) for p, row in zip(pairs, rows, strict=True)]
    if recommendation is not None:
        texts = [
            recommendation_text(recommendation),
            *method_comparison(recommendation, pairs),
            *texts,
        ]
    method = method_text(pairs)
    labelled = any(row["vote_acc"] is not None for row in rows)
    caption = (
        "Per task: the vote's ACC (bar: its interval) beside the best k-means and the best "
        "supervised linear probe over the task's spaces"
        if labelled
        else "Per task: the voting runs' mean agreement with the vote and the best label-free "
        "score (bars: their intervals)"
    )
    return Headline(
        html=_html(texts, method),
        markdown=_markdown(texts, method),
        png=figures.overview(pd.DataFrame(rows)),
        caption=caption,
    )


def pair_text(p: dict, row: dict, baselines: dict[str, dict]) -> Paragraph:
    """The headline of one task from its metrics ``p``, its summary ``row`` and the
    ``baselines`` of its spaces."""
    level = interval_level(p)
    method, spaces = task_of(p)
    if row["vote_acc"] is None:
        verdict = _unlabelled(row, level)
    else:
        verdict = _labelled(row, level, {s: baselines[s] for s in spaces})
    name = task_title(method, spaces)
    text, warnings = f"{verdict} {_runs(row)}", [p.get("collapse_warning")]
    if "k_sentence" in p:  # a sweep: how sure its choice of K is
        if p["k_identified"]:
            text += f" {p['k_sentence']}"
        else:
            warnings.insert(0, p["k_sentence"])
    warning = " ".join(w for w in warnings if w) or None
    return Paragraph(name, text, warning)


def recommendation_text(answer: Recommendation) -> Paragraph:
    """The recommended (method, task, K), where its labels are, the rule in one sentence,
    every task's value of the rule and where the tasks disagree with the answer."""
    name = task_title(answer.method, answer.spaces)
    copy = f"{answer.copy} (a copy of {answer.labels})" if answer.copy else answer.labels
    text = f"{name} at K = {answer.k}; its labels are {copy}."
    if len(answer.candidates) == 1:
        return Paragraph(RECOMMENDED, f"{text} One task ran: nothing to choose.", css="recommend")
    text += f" The rule picks {answer.rule}."
    if answer.ranked_by == "kappa":
        text += " Some task has a single run of its chosen K, so every task is ranked by kappa."
    values = "; ".join(
        f"{task_title(c.method, c.spaces)} {_rule_values(c)}" for c in answer.candidates
    )
    text += f" Per task, at its chosen K: {values}."
    disagree = answer.disagreeing()
    if disagree:
        text += (
            f" Where the tasks disagree (another K, or an ARI below {DISAGREEMENT_ARI:g} with "
            "the recommended labels on the samples both label): "
            f"{'; '.join(_disagreement(answer, c) for c in disagree)}."
        )
    else:
        text += (
            " Every task agrees with it: the same K and labels at ARI ≥ "
            f"{DISAGREEMENT_ARI:g} with the recommended ones on the samples both label."
        )
    return Paragraph(RECOMMENDED, text, css="recommend")


def _rule_values(c: Candidate) -> str:
    """ "(K = 10, run agreement 0.620, kappa 0.540)"; "n/a" where a value is unknown."""
    agreement = "n/a" if c.stability is None else f"{c.stability:.3f}"
    kappa = "n/a" if c.kappa is None else f"{c.kappa:.3f}"
    return f"(K = {c.k}, run agreement {agreement}, kappa {kappa})"


def _disagreement(answer: Recommendation, c: Candidate) -> str:
    """How task ``c`` disagrees with the answer: "HUME a → b (K = 5; ARI 0.41 on 30 samples)"."""
    parts = [] if c.k == answer.k else [f"K = {c.k}"]
    if c.ari is not None:
        parts.append(f"ARI {c.ari:.2f} on {c.common} samples")
    return f"{task_title(c.method, c.spaces)} ({'; '.join(parts)})"


def method_comparison(answer: Recommendation, pairs: list[dict]) -> list[Paragraph]:
    """When several methods ran: the best task of each by the same label-free rule, side by
    side, with the vote's ACC, ARI and NMI and their intervals (without the truth: the runs'
    agreement); [] for one method."""
    by_method: dict[str, list[Candidate]] = {}
    for c in answer.candidates:
        by_method.setdefault(c.method, []).append(c)
    if len(by_method) < 2:
        return []
    found = {(task_of(p)[0], tuple(task_of(p)[1])): p for p in pairs}
    parts = []
    for tasks in by_method.values():
        c = tasks[best(tasks)]
        p = found.get((c.method, tuple(c.spaces)))
        numbers = "not evaluated" if p is None else _vote_numbers(p)
        parts.append(f"{task_title(c.method, c.spaces)} {_rule_values(c)}: {numbers}")
    name = " vs ".join(method_title(m) for m in by_method)
    text = "the best task of each method by the same rule. " + "; ".join(parts) + "."
    return [Paragraph(name, text, css="recommend")]


def _vote_numbers(p: dict) -> str:
    """The vote's ACC, ARI and NMI with their intervals; without the truth, the voting runs'
    mean agreement with the vote and its interval."""
    level = interval_level(p)
    vote = p["vote"]
    if vote["acc"] is None:
        low, high = interval(p, "mean_agreement")
        return (
            f"the voting runs agree with the vote on {pct(vote['mean_agreement'])} of samples "
            f"({level} interval {span(low, high)})"
        )
    acc = f"vote ACC {pct(vote['acc'])} ({level} interval {span(*interval(p, 'vote_acc'))})"
    ari = f"ARI {_number(vote['ari'])} {bracket(*interval(p, 'vote_ari'), 3)}"
    nmi = f"NMI {_number(vote['nmi'])} {bracket(*interval(p, 'vote_nmi'), 3)}"
    return f"{acc}, {ari}, {nmi}"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _labelled(row: dict, level: str, baselines: dict[str, dict]) -> str:
    """The vote's ACC and interval, the baselines of each of the task's spaces (``baselines``:
    space -> its baselines, in the method's order) and whether the vote beats k-means on each."""
    acc, low, high = row["vote_acc"], row["vote_acc_low"], row["vote_acc_high"]
    kmeans = {s: b["kmeans"]["acc"] for s, b in baselines.items()}
    probe = {s: b["linear_probe_acc"] for s, b in baselines.items()}
    kmeans_text = ", ".join(f"{pct(v)} on {s}" for s, v in kmeans.items())
    probe_text = " and ".join(f"{pct(v)} on {s}" for s, v in probe.items())
    verdicts = "; ".join(against_kmeans(acc, low, high, v, s) for s, v in kmeans.items())
    return (
        f"vote ACC {pct(acc)} ({level} interval {span(low, high)}); k-means {kmeans_text}; "
        f"supervised linear probe {probe_text}. {verdicts[:1].upper()}{verdicts[1:]}."
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
    """The label-free verdict at the task's K: the runs' mean agreement and the best score,
    with intervals. Scores at different K are not comparable, so the K is named."""
    agreement = span(row["agreement_low"], row["agreement_high"])
    score = bracket(row["best_score_low"], row["best_score_high"], 3)
    return (
        f"no ground truth. At K = {row['k']}, the voting runs agree with the vote on "
        f"{pct(row['vote_agreement'])} of samples on average ({level} interval {agreement}); "
        f"the best label-free score at this K is {row['best_score']:.3f} (interval {score}; "
        "scores at different K are not comparable)."
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


def _html(texts: list[Paragraph], method: str | None) -> str:
    parts = [f"<h2>{HEADING}</h2>"]
    for t in texts:
        css = f" class='{t.css}'" if t.css else ""
        parts.append(f"<p{css}><b>{html.escape(t.name)}</b>: {html.escape(t.text)}</p>")
        if t.warning:
            parts.append(f"<p class='warn'>{html.escape(t.name)}: {html.escape(t.warning)}</p>")
    if method:
        parts.append(f"<p class='method'>{html.escape(method)}</p>")
    return "\n".join(parts)


def _markdown(texts: list[Paragraph], method: str | None) -> str:
    parts = [f"## {HEADING}\n"]
    for t in texts:
        parts.append(f"**{t.name}**: {t.text}\n")
        if t.warning:
            parts.append(f"> **Warning** ({t.name}): {t.warning}\n")
    if method:
        parts.append(f"{method}\n")
    return "\n".join(parts)
