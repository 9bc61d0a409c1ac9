"""The report page: tables and figures written as one HTML file."""

from __future__ import annotations

import html
import os
from pathlib import Path

import pandas as pd

from hume_workflow.formats.io import atomic_path
from hume_workflow.report.headline import Headline
from hume_workflow.report.tables import LARGE_K, SHOWN_CLUSTERS, TITLES, shown_clusters


def write_report(
    tables: dict[str, pd.DataFrame],
    out: dict[str, str | os.PathLike],
    title: str,
    figures: dict[str, list[tuple[str, str]]] | None = None,
    extra: dict[str, pd.DataFrame] | None = None,
    beside_summary: dict[str, pd.DataFrame] | None = None,
    headline: Headline | None = None,
) -> None:
    """Write ``summary.csv``, ``runs.csv``, ``clusters.csv``, a Markdown file and an HTML page
    (each atomically). The Markdown and the page list a task's clusters whole up to
    :data:`~hume_workflow.report.tables.LARGE_K` of them, else only its extremes
    (:func:`~hume_workflow.report.tables.shown_clusters`); clusters.csv lists every one.

    Args:
        out: paths for keys "summary_csv", "runs_csv", "markdown", "html" and optionally
            "clusters_csv" (the clusters table, whole).
        figures: section title -> [(caption, base64 PNG)], inlined in the page.
        extra: further tables (heading -> table) at the end: provenance, wall times.
        beside_summary: tables (heading -> table) right after the summary: the paper's numbers.
        headline: did it work, per task (:func:`~hume_workflow.report.headline.make_headline`),
            first on the page and in the Markdown.
    """
    csvs = [("summary_csv", "summary"), ("runs_csv", "runs")]
    csvs += [("clusters_csv", "clusters")] if "clusters_csv" in out else []
    for key, name in csvs:
        with atomic_path(out[key]) as tmp:
            tables[name].to_csv(tmp, index=False)
    markdown = [f"# {title}\n"]
    page = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if headline is not None:
        markdown.append(headline.markdown)
        figure = _figure(headline.caption, headline.png)
        page += ["<section class='headline'>", headline.html, figure, "</section>"]
    intervals = (
        "Every interval (the <code>_low</code> and <code>_high</code> columns, the bands and "
        "bars of the figures) is a bootstrap interval (95 % unless the headline says otherwise), "
        "made as the headline says."
    )
    if "vote_acc" in tables["summary"].columns:
        page.append(
            "<p>ACC is computed after Hungarian matching of clusters to classes. "
            "<code>pearson_score_acc</code> is the correlation, across runs, between the "
            f"label-free generalisation score and ACC: HUME's central claim is that it is high. "
            f"{intervals}</p>"
        )
    else:
        page.append(
            "<p><b>No ground truth</b> (an unlabelled dataset): the panels and columns that "
            f"need it are left out; cluster sizes, agreement and image grids remain. {intervals}"
            "</p>"
        )
    sections = [(TITLES["summary"], tables["summary"], "summary")]
    sections += [(heading, table, None) for heading, table in (beside_summary or {}).items()]
    sections += _listed(tables, out.get("clusters_csv"))
    sections += [(heading, table, None) for heading, table in (extra or {}).items()]
    for i, (heading, table, table_id) in enumerate(sections):
        blank = table.astype(object).where(table.notna(), "")  # a missing value: empty
        text = blank.to_markdown(index=False, floatfmt=".4f")
        markdown += [f"## {heading}\n", text, ""]
        page += [f"<h2>{html.escape(heading)}</h2>", "<div class='wide'>"]
        page += [table.to_html(index=False, float_format=_fmt, na_rep="n/a", table_id=table_id)]
        page.append("</div>")
        if i == len(beside_summary or {}) and figures:  # after the summary and the paper's
            page.append(_figure_sections(figures))
    page.append("</body></html>")
    with atomic_path(out["markdown"]) as tmp:
        tmp.write_text("\n".join(markdown) + "\n")
    with atomic_path(out["html"]) as tmp:
        Path(tmp).write_text("\n".join(page) + "\n")


def _listed(
    tables: dict[str, pd.DataFrame], clusters_csv: str | os.PathLike | None
) -> list[tuple[str, pd.DataFrame, str]]:
    """(heading, table, id) of the tables after the summary, the clusters as the page shows
    them (:func:`~hume_workflow.report.tables.shown_clusters`); the heading of a cut one
    says so, and names ``clusters_csv``, which holds them all."""
    listed = []
    for name, table in tables.items():
        heading = TITLES[name]
        if name == "clusters":
            table = shown_clusters(table)
        if name == "clusters" and "shown" in table.columns:
            where = "" if clusters_csv is None else f"; every cluster: {Path(clusters_csv).name}"
            heading += (
                f" (of a task of more than {LARGE_K} clusters, the {SHOWN_CLUSTERS} largest, "
                f"smallest and least agreed{where})"
            )
        if name != "summary":
            listed.append((heading, table, name))
    return listed


def _fmt(x: float) -> str:
    return f"{x:.4f}"


def _figure_sections(figures: dict[str, list[tuple[str, str]]]) -> str:
    parts = []
    for heading, panels in figures.items():
        parts += [f"<h2>{html.escape(heading)}</h2>", "<div class='figs'>"]
        parts += [_figure(caption, png) for caption, png in panels]
        parts.append("</div>")
    return "\n".join(parts)


def _figure(caption: str, png: str) -> str:
    """A captioned figure, its base64 PNG inlined."""
    return (
        f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{png}'>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}"
    "table{border-collapse:collapse;font-size:13px}"
    "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f3f3f3}"
    ".wide{overflow-x:auto}.figs{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}"
    "figure{margin:0;border:1px solid #e3e3e3;padding:6px;background:#fff}"
    "figcaption{font-size:12px;color:#555;max-width:420px}img{display:block;max-width:100%}"
    ".headline{max-width:1000px}.headline figure{display:inline-block}"
    ".warn{background:#fdecea;border-left:4px solid #D55E00;padding:6px 10px}"
    ".method{font-size:13px;color:#555}"
    ".recommend{background:#eaf3fa;border-left:4px solid #0072B2;padding:6px 10px}"
)
