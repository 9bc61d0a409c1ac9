"""The report's figures: small PNGs (Agg backend, Okabe-Ito colours), returned base64-encoded."""

from __future__ import annotations

import base64
import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm

from hume_workflow.aggregate.k_pick import AGREEMENT_MIN
from hume_workflow.report.names import row_title
from hume_workflow.report.tables import LARGE_K, interval, interval_level

# Okabe-Ito, safe for the common colour-vision deficiencies
BLUE, ORANGE, GREEN, VERMILION, GREY = "#0072B2", "#E69F00", "#009E73", "#D55E00", "#999999"
DPI = 80
MAX_TICK_LABELS = 20  # per axis: more (7 pt, on a 4.2 in axis) run into each other
MARKED_POINTS = 30  # a curve of more points is drawn as a line, without a marker per point
# the room a point label (7 pt, "≥0.75") takes, as a fraction of the axes' width and height
LABEL_ROOM = (0.12, 0.06)


def _png(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _axes(width: float = 4.2, height: float = 3.2) -> tuple[plt.Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=(width, height))
    ax.grid(alpha=0.3)
    return fig, ax


def score_vs_acc(metrics: dict) -> str:
    """Generalisation score against ACC, one point per run, the voting runs highlighted and
    the collapsed ones crossed; the title gives the correlations with their intervals."""
    runs = pd.DataFrame(metrics["runs"])
    collapsed = runs.get("collapsed", pd.Series(False, index=runs.index)).astype(bool)
    fig, ax = _axes()
    for selected, colour, label in ((False, GREY, "not voting"), (True, BLUE, "voting (top-n)")):
        part = runs[(runs.selected == selected) & ~collapsed]
        if len(part):
            ax.scatter(part.score, part.acc, c=colour, label=label, s=28, edgecolors="k", lw=0.4)
    if collapsed.any():
        part = runs[collapsed]
        ax.scatter(part.score, part.acc, c=VERMILION, marker="x", s=36, label="collapsed")
    pearson = _with_interval(metrics.get("score_acc_pearson"), interval(metrics, "pearson"))
    spearman = _with_interval(metrics.get("score_acc_spearman"), interval(metrics, "spearman"))
    ax.set_title(f"Pearson r = {pearson}\nSpearman ρ = {spearman}", fontsize=10)
    ax.set_xlabel("generalisation score (label-free)")
    ax.set_ylabel("ACC of the run")
    ax.legend(fontsize=8)
    return _png(fig)


def _with_interval(value: float | None, bounds: tuple[float | None, float | None]) -> str:
    """ "0.89 [0.61, 0.98]", "0.89" without an interval, "n/a" without a value."""
    if value is None:
        return "n/a"
    low, high = bounds
    return f"{value:.2f}" if low is None or high is None else f"{value:.2f} [{low:.2f}, {high:.2f}]"


def vote_by_n(metrics: dict, labelled: bool) -> str:
    """Vote ACC (or, without truth, mean agreement) of the top-n runs by score, with its
    bootstrap band."""
    curve = pd.DataFrame(metrics["vote_by_n"])
    fig, ax = _axes()
    column, band = ("acc", "acc") if labelled else ("mean_agreement", "agreement")
    ax.plot(curve.n, curve[column], _line(len(curve)), c=BLUE)
    low, high = (curve.get(f"{band}_{end}") for end in ("low", "high"))
    if low is not None and high is not None and low.notna().any():
        label = f"{interval_level(metrics)} bootstrap band"
        at = low.notna() & high.notna()  # above FULL_BAND_CLASSES the band has fewer n
        ax.fill_between(curve.n[at], low[at].astype(float), high[at].astype(float), color=BLUE,
                        alpha=0.2, lw=0, label=label)  # fmt: skip
    if labelled:
        runs = pd.DataFrame(metrics["runs"])
        ax.axhline(runs.acc.max(), c=ORANGE, ls="--", label="best single run")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    ax.set_xlabel("n (top runs by score in the vote)")
    ax.set_ylabel("vote ACC" if labelled else "mean agreement of the vote")
    ax.xaxis.get_major_locator().set_params(integer=True)
    return _png(fig)


def confusion(metrics: dict, class_names: list[str]) -> str:
    """Counts of true class against the vote's matched class: columns are the vote's clusters
    in the order of the classes they are matched to, so the diagonal holds the right labels.
    Above :data:`LARGE_K` classes, :func:`confusion_summary` instead."""
    counts = np.array(metrics["confusion"])
    n = counts.shape[0]
    if n > LARGE_K:
        return confusion_summary(counts)
    names = [class_names[i] if i < len(class_names) else str(i) for i in range(n)]
    side = min(12.0, 1.5 + 0.3 * n)
    fig, ax = plt.subplots(figsize=(side + 0.1, side))
    ax.imshow(counts, cmap="Blues")
    if n <= 20:
        high = counts.max() / 2
        for (i, j), v in np.ndenumerate(counts):
            if v:
                ax.text(j, i, v, ha="center", va="center", fontsize=7, c="w" if v > high else "k")
    cols = names + (["unmatched"] if counts.shape[1] > n else [])
    ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=7)
    ax.set_yticks(range(n), names, fontsize=7)
    ax.set_xlabel("vote (matched to classes)")
    ax.set_ylabel("true class")
    return _png(fig)


def confusion_summary(counts: np.ndarray) -> str:
    """The confusion of many classes, summarised: left, each class's recall (the share of
    its samples voted as it), sorted; right, the matrix pooled into blocks of
    :func:`confusion_block` consecutive classes (at most :data:`LARGE_K` a side), each cell
    the share of the true block's samples, on a log scale (the unmatched column left out).

    ``counts``: (n, n) or (n, n + 1) true class x matched vote class (metrics.json's
    ``confusion``); its most confused pairs are a table (report.tables.confused_pairs).
    """
    n = counts.shape[0]
    totals = counts.sum(axis=1)
    present = totals > 0
    recall = np.sort(np.diag(counts)[present] / totals[present])[::-1]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.4, 3.8), width_ratios=(1.1, 1))
    rank = np.arange(1, len(recall) + 1)
    left.plot(rank, recall, c=BLUE)
    left.fill_between(rank, recall, color=BLUE, alpha=0.2, lw=0)
    left.axhline(recall.mean(), c=ORANGE, ls="--", label=f"mean recall {recall.mean():.3f}")
    left.set_ylim(0, 1.02)
    left.set_xlim(1, max(2, len(recall)))
    left.set_xlabel(f"true class, by recall (rank 1 to {len(recall)})")
    left.set_ylabel("recall (share of the class voted as it)")
    left.grid(alpha=0.3)
    left.legend(fontsize=8, loc="lower left")
    block = confusion_block(n)
    cells = math.ceil(n / block)
    square = np.zeros((cells * block, cells * block))
    square[:n, :n] = counts[:, :n]
    pooled = square.reshape(cells, block, cells, block).sum(axis=(1, 3))
    rows = pooled.sum(axis=1, keepdims=True)
    share = np.divide(pooled, rows, out=np.zeros_like(pooled), where=rows > 0)
    floor = max(share[share > 0].min(), 1e-4) if (share > 0).any() else 1e-4
    image = right.imshow(np.ma.masked_equal(share, 0), cmap="Blues",
                         norm=LogNorm(vmin=floor, vmax=1),
                         extent=(0, cells * block, cells * block, 0))  # fmt: skip
    right.set_xlim(0, n)
    right.set_ylim(n, 0)
    right.set_title(f"blocks of {block} consecutive classes", fontsize=9)
    right.set_xlabel("vote (matched to classes), class id")
    right.set_ylabel("true class id")
    fig.colorbar(image, ax=right, label="share of the true block (log)")
    fig.tight_layout()
    return _png(fig)


def confusion_block(n: int) -> int:
    """Classes per cell of :func:`confusion_summary`'s pooled matrix of ``n`` classes: the
    fewest that leave at most :data:`LARGE_K` cells a side."""
    return math.ceil(n / LARGE_K)


def cluster_sizes(metrics: dict) -> str:
    """Size of every cluster of the vote, coloured by its mean agreement: a bar per cluster
    (at most :data:`MAX_TICK_LABELS` of them named), or above :data:`LARGE_K` clusters
    :func:`ranked_sizes`."""
    clusters = pd.DataFrame(metrics["vote"]["clusters"])
    if len(clusters) > LARGE_K:
        return ranked_sizes(clusters)
    fig, ax = _axes()
    positions = np.arange(len(clusters))
    bars = ax.bar(positions, clusters["size"], color=BLUE)
    step = max(1, math.ceil(len(clusters) / MAX_TICK_LABELS))
    names = [str(c) for c in clusters.cluster]
    ax.set_xticks(positions[::step], names[::step])
    for bar, agreement in zip(bars, clusters.agreement, strict=True):
        bar.set_alpha(0.35 + 0.65 * agreement)
    ax.set_xlabel("cluster of the vote (darker: higher mean agreement)")
    ax.set_ylabel("samples")
    ax.tick_params(axis="x", labelsize=7)
    return _png(fig)


def ranked_sizes(clusters: pd.DataFrame) -> str:
    """Every cluster's size by its rank, largest first, coloured by its mean agreement, the
    mean size dashed (a log scale when the sizes span more than a factor of 20).

    ``clusters``: metrics.json's ``vote.clusters`` (``cluster``, ``size``, ``agreement``).
    """
    ranked = clusters.sort_values(["size", "cluster"], ascending=[False, True])
    fig, ax = _axes(5.0, 3.2)
    rank = np.arange(1, len(ranked) + 1)
    points = ax.scatter(rank, ranked["size"], c=ranked["agreement"], cmap="viridis", vmin=0,
                        vmax=1, s=10, lw=0)  # fmt: skip
    mean = ranked["size"].mean()
    ax.axhline(mean, c=GREY, ls="--", lw=1, label=f"mean size {mean:.0f}")
    if ranked["size"].max() > 20 * max(ranked["size"].min(), 1):
        ax.set_yscale("log")
    fig.colorbar(points, ax=ax, label="mean agreement of the cluster")
    ax.set_xlabel(f"cluster of the vote, by size (rank 1 to {len(ranked)})")
    ax.set_ylabel("samples")
    ax.legend(fontsize=8)
    return _png(fig)


def agreement_histogram(agreement: np.ndarray) -> str:
    """How many runs agree with the vote, per sample."""
    fig, ax = _axes()
    values, counts = np.unique(agreement, return_counts=True)
    width = min(0.06, 0.8 * np.diff(values).min()) if len(values) > 1 else 0.06
    ax.bar(values, counts, width=width, color=GREEN)
    ax.set_xlim(-0.03, 1.03)
    ax.set_xlabel("agreement (fraction of voting runs that agree with the vote)")
    ax.set_ylabel("samples")
    return _png(fig)


def coverage(metrics: dict) -> str:
    """ACC of the samples kept when only those with agreement >= t are kept; the thresholds
    labelled where they leave room (:func:`spaced_points`)."""
    curve = pd.DataFrame(metrics["coverage"])
    fig, ax = _axes()
    ax.plot(curve.coverage, curve.acc, _line(len(curve)), c=VERMILION)
    for i in spaced_points(ax, curve.coverage.to_numpy(), curve.acc.to_numpy()):
        row = curve.iloc[i]
        ax.annotate(f"≥{row.threshold:.2f}", (row.coverage, row.acc), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")  # fmt: skip
    ax.set_xlabel("coverage (fraction of samples kept)")
    ax.set_ylabel("ACC of the kept samples")
    return _png(fig)


def spaced_points(ax: plt.Axes, x: np.ndarray, y: np.ndarray) -> list[int]:
    """The points of a curve drawn on ``ax`` that each take a label without overlapping
    another: in order, each at least :data:`LABEL_ROOM` away (across or up, as fractions of
    the axes) from every point kept before it."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    across = (x - x0) / ((x1 - x0) or 1)
    up = (y - y0) / ((y1 - y0) or 1)
    kept: list[int] = []
    for i in range(len(x)):
        if all(
            abs(across[i] - across[j]) >= LABEL_ROOM[0] or abs(up[i] - up[j]) >= LABEL_ROOM[1]
            for j in kept
        ):
            kept.append(i)
    return kept


def _line(points: int) -> str:
    """A curve's format: a marker per point up to :data:`MARKED_POINTS` points."""
    return "o-" if points <= MARKED_POINTS else "-"


def training_curves(traces: dict[str, dict], titles: dict[str, str]) -> str:
    """Outer loss and entropy of the mean label over the outer iterations, per run."""
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 2.8))
    for (name, trace), colour in zip(traces.items(), (BLUE, ORANGE), strict=False):
        for ax, key in zip(axes, ("loss", "entropy"), strict=True):
            if key in trace:
                ax.plot(np.asarray(trace[key]), c=colour, label=titles[name])
    for ax, label in zip(axes, ("outer loss", "entropy of the mean label"), strict=True):
        ax.set_xlabel("outer iteration")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def image_grid(votes: pd.DataFrame, images: dict[int, np.ndarray], best: int, worst: int) -> str:
    """Per cluster, its ``best`` most-agreed-upon images, a gap, then its ``worst`` least.

    Args:
        votes: ``sample_index``, ``label``, ``agreement``.
        images: sample index -> (H, W, C) uint8 image.
    """
    clusters = grid_clusters(votes)
    h, w, c = next(iter(images.values())).shape
    cols = best + 1 + worst
    mosaic = np.full(((h + 2) * len(clusters), (w + 2) * cols, 3), 255, dtype=np.uint8)
    for row, cluster in enumerate(clusters):
        ranked = grid_samples(votes, cluster, best, worst)
        for col, index in ranked:
            tile = images[index] if c == 3 else np.repeat(images[index], 3, axis=2)
            y, x = row * (h + 2) + 1, col * (w + 2) + 1
            mosaic[y : y + h, x : x + w] = tile
    fig, ax = plt.subplots(figsize=(0.8 + cols * 0.5, 0.5 + len(clusters) * 0.5))
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_yticks([r * (h + 2) + h / 2 for r in range(len(clusters))], [str(k) for k in clusters])
    ax.set_xticks([best * (w + 2) / 2, (best + 1 + worst / 2) * (w + 2)],
                  ["most agreed", "least agreed"])  # fmt: skip
    ax.set_ylabel("cluster")
    ax.tick_params(length=0, labelsize=8)
    for side in ax.spines.values():
        side.set_visible(False)
    return _png(fig)


def grid_clusters(votes: pd.DataFrame, max_rows: int = 20) -> list[int]:
    """The clusters an image grid shows: the ``max_rows`` largest, in id order."""
    sizes = votes.label.value_counts()
    return sorted(
        int(c) for c in sizes.sort_values(ascending=False, kind="stable").index[:max_rows]
    )


def grid_samples(votes: pd.DataFrame, cluster: int, best: int, worst: int) -> list[tuple[int, int]]:
    """(column, sample index) of a cluster's row: most agreed first, least agreed after a gap."""
    members = votes[votes.label == cluster].sort_values(
        ["agreement", "sample_index"], ascending=[False, True]
    )
    top = members.sample_index.tolist()[:best]
    rest = members.sample_index.tolist()[best:]
    bottom = rest[-worst:] if worst and rest else []
    return [(i, s) for i, s in enumerate(top)] + [(best + 1 + i, s) for i, s in enumerate(bottom)]


def k_sweep(
    evidence: dict[int, dict[str, float]],
    criterion: str,
    chosen: int,
    truth: dict[int, dict[str, float]] | None,
) -> str:
    """Above, the deciding criterion against K on its own scale (stability with the line
    below which K is not identified); below, the other label-free criteria on one scale
    floored at -1 (a criterion that falls below is named so in the legend), and beside them
    the vote's ACC and ARI when the truth is known. The chosen K is marked on both."""
    ks = sorted(evidence)
    fig, (top, rest) = plt.subplots(2, 1, figsize=(5.6, 5.0), sharex=True, height_ratios=(2, 3))
    for ax in (top, rest):
        ax.grid(alpha=0.3)
        ax.axvline(chosen, c=VERMILION, ls=":", lw=2, label=f"chosen K = {chosen}")
    top.plot(ks, [evidence[k][criterion] for k in ks], "o-", c=BLUE, lw=2.4, label=criterion)
    if criterion == "stability":
        top.axhline(AGREEMENT_MIN, c=GREY, ls="--", lw=1, label="below: K not identified")
    top.set_ylabel(f"{criterion} (deciding)")
    top.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    floor = -1.0
    for name in evidence[ks[0]]:
        if name == criterion:
            continue
        values = np.array([evidence[k][name] for k in ks], dtype=float)
        label = name if not (values < floor).any() else f"{name} (below {floor:g}: off the scale)"
        rest.plot(ks, np.maximum(values, floor), ".-", lw=1, label=label)
    if truth is not None:
        for name, colour in (("acc", "k"), ("ari", GREY)):
            values = [truth[k][name] for k in ks]
            rest.plot(ks, values, "s--", c=colour, lw=1.2, label=f"vote {name.upper()} (truth)")
    rest.set_ylim(bottom=max(floor - 0.05, rest.get_ylim()[0]))
    rest.set_xlabel("K (number of classes)")
    rest.set_ylabel("value (higher is better)")
    rest.set_xticks(ks)
    rest.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _png(fig)


# the headline figure's marks: (column, interval prefix or None, legend label, marker, colour)
LABELLED_MARKS = [
    ("vote_acc", "vote_acc", "vote ACC (interval)", "o", BLUE),
    ("kmeans_acc_best", None, "best k-means over the task's spaces", "<", ORANGE),
    ("probe_acc_best", None, "best linear probe over the task's spaces (supervised)", "s", GREEN),
]
UNLABELLED_MARKS = [
    ("vote_agreement", "agreement", "mean agreement with the vote (interval)", "o", BLUE),
    ("best_score", "best_score", "best label-free score (interval)", "s", VERMILION),
]


def overview(rows: pd.DataFrame) -> str:
    """One row per task, named with its method: the vote's ACC with its interval beside the
    best k-means and the best supervised linear probe over the task's spaces (one mark each
    whatever the number of spaces, 1 to n, so that tasks of every method share the marks;
    per space they are in the baselines table); without truth, the mean agreement and the
    best score with their intervals.

    ``rows``: the summary's columns (:func:`~hume_workflow.report.tables.summary_row`).
    """
    labelled = "vote_acc" in rows and rows["vote_acc"].notna().any()
    fig, ax = _axes(5.6, 1.0 + 0.45 * len(rows))
    y = np.arange(len(rows))
    for column, prefix, label, marker, colour in LABELLED_MARKS if labelled else UNLABELLED_MARKS:
        if prefix is not None:  # the interval as a bar (a percentile one may miss the value)
            low, high = (rows[f"{prefix}_{end}"].astype(float) for end in ("low", "high"))
            known = (low.notna() & high.notna()).to_numpy()
            ax.hlines(y[known], low[known], high[known], colors=colour, lw=2.5, alpha=0.6)
        value = rows[column].astype(float)
        ax.scatter(value, y, marker=marker, c=colour, s=40, label=label, zorder=3)
    ax.set_yticks(y, [row_title(row) for row in rows.to_dict("records")])
    ax.set_ylim(len(rows) - 0.5, -0.5)  # the first task on top
    ax.set_xlabel("ACC" if labelled else "agreement / label-free score")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _png(fig)
