"""The report at ImageNet's scale, K = 1000 classes: 50,000 evaluated samples, 20 runs voted
and evaluated by the real code path; figures that read, tables cut to what a person reads,
every cluster in clusters.csv, the most confused pairs right, metrics.json compact."""

import base64
import io
import json
import re
from itertools import combinations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from fake_runs import write_fake_run
from PIL import Image
from scipy.optimize import linear_sum_assignment

from hume_workflow.aggregate.selected_vote import vote_selected
from hume_workflow.aggregate.selection import select_runs
from hume_workflow.formats.io import read_json, write_json
from hume_workflow.formats.run import LABELS, read_runs
from hume_workflow.report import figures
from hume_workflow.report.evaluate import evaluate_task
from hume_workflow.report.headline import make_headline
from hume_workflow.report.page import write_report
from hume_workflow.report.panels import pair_figures
from hume_workflow.report.tables import (
    LARGE_K,
    SHOWN_CLUSTERS,
    TOP_CONFUSED,
    shown_clusters,
    summary_tables,
)

K, N, RUNS = 1000, 50_000, 20
NAMES = [f"class {i}" for i in range(K)]
BASE = {"dim": 8, "kmeans": {"acc": 0.5, "ari": 0.3, "nmi": 0.6}, "linear_probe_acc": 0.9}
OUT = ("summary_csv", "runs_csv", "clusters_csv", "markdown", "html")


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    """A task at K = 1000: (metrics of its chosen K as the report reads them, its vote table,
    the truth, its runs by seed). Classes 0..39 are each voted as class c + 500 for a share
    of their samples growing with c (the same samples in every run, so the vote keeps the
    error); every run also mislabels 15 % of the samples at random, under its own ids."""
    folder = tmp_path_factory.mktemp("large_k")
    rng = np.random.default_rng(7)
    truth = rng.choice(K, N, p=rng.dirichlet(np.full(K, 20.0)))  # uneven class sizes
    systematic = truth.copy()
    confused = (truth < 40) & (rng.random(N) < 0.1 + 0.01 * truth)
    systematic[confused] = truth[confused] + 500
    paths = []
    for seed in range(RUNS):
        labels = systematic.copy()
        noisy = rng.random(N) < 0.15
        labels[noisy] = rng.integers(0, K, noisy.sum())
        ids = rng.permutation(K)  # each run names its clusters its own way
        path = folder / f"seed{seed}.h5"
        trace = {"loss": np.linspace(2, 1, 30) + seed / 10, "entropy": np.linspace(6, 6.9, 30)}
        score = 0.9 - seed / 100
        paths.append(write_fake_run(path, seed, ids[labels], score, num_classes=K, trace=trace))
    selection = select_runs(read_runs(paths, LABELS), top_n=None, num_classes=K)
    votes = vote_selected(selection, paths, K)
    metrics = evaluate_task(selection, paths, votes, truth, K, bootstrap=None)
    metrics |= {"method": "hume", "spaces": ["a", "b"], "k": K, "setting": "transductive"}
    return metrics, votes, truth, read_runs(paths)


@pytest.fixture(scope="module")
def report(task, tmp_path_factory):
    """The task's report page as make_report writes it (figures, tables, headline), from
    the metrics: {output key: path}."""
    metrics, votes, _, runs = task
    folder = tmp_path_factory.mktemp("report")
    out = {key: folder / name for key, name in zip(OUT, REPORT_FILES, strict=True)}
    baselines = {"a": BASE, "b": BASE}
    tables = summary_tables([metrics], baselines, class_names=NAMES)
    panels = pair_figures(metrics, votes, runs, {}, NAMES)
    headline = make_headline([metrics], baselines)
    write_report(tables, out, "HUME on big", {"HUME a → b": panels}, headline=headline)
    return out


REPORT_FILES = ("summary.csv", "runs.csv", "clusters.csv", "summary.md", "index.html")


def test_the_task_is_at_imagenet_scale(task):
    metrics, votes, _, _ = task
    assert len(votes) == N and metrics["n_runs"] == RUNS
    assert len(metrics["vote"]["clusters"]) == K and len(metrics["confusion"]) == K
    assert 0.8 < metrics["vote"]["acc"] < 1


def captured(monkeypatch) -> list[plt.Figure]:
    """The figures the report draws from now on, kept open (figures._png closes them)."""
    kept: list[plt.Figure] = []

    def keep(fig: plt.Figure) -> str:
        kept.append(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=figures.DPI, bbox_inches="tight")
        return base64.b64encode(buf.getvalue()).decode("ascii")

    monkeypatch.setattr(figures, "_png", keep)
    return kept


def overlaps(fig: plt.Figure) -> list[tuple[str, str]]:
    """Pairs of visible texts of one axis of ``fig`` (its x tick labels, its y tick labels,
    its annotations) whose boxes overlap."""
    renderer = fig.canvas.get_renderer()
    found = []
    for ax in fig.axes:
        for group in (ax.get_xticklabels(), ax.get_yticklabels(), ax.texts):
            shown = [t for t in group if t.get_visible() and t.get_text()]
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in shown]
            found += [
                (a, b) for (a, box), (b, other) in combinations(boxes, 2) if box.overlaps(other)
            ]
    return found


def test_every_panel_reads_at_k_1000(task, monkeypatch):
    metrics, votes, _, runs = task
    drawn = captured(monkeypatch)
    panels = pair_figures(metrics, votes, runs, {}, NAMES)
    assert len(drawn) == len(panels) == 7
    for (caption, png), fig in zip(panels, drawn, strict=True):
        with Image.open(io.BytesIO(base64.b64decode(png))) as image:
            width, height = image.size
        assert 100 < width <= 1000 and 100 < height <= 400, caption  # not a 12-inch matrix
        assert overlaps(fig) == [], caption
        ticks = [t for ax in fig.axes for t in ax.get_xticklabels() if t.get_text()]
        assert len(ticks) <= 2 * figures.MAX_TICK_LABELS, caption  # not one per cluster
    captions = [caption for caption, _ in panels]
    assert "1000 classes" in captions[2] and "blocks of 20 classes" in captions[2]
    assert "largest first" in captions[3]


def test_cluster_sizes_are_ranked_above_large_k_and_bars_below(task, monkeypatch):
    metrics, *_ = task
    drawn = captured(monkeypatch)
    figures.cluster_sizes(metrics)
    (points,) = drawn[-1].axes[0].collections
    sizes = sorted((c["size"] for c in metrics["vote"]["clusters"]), reverse=True)
    np.testing.assert_array_equal(points.get_offsets()[:, 1], sizes)  # size by rank
    few = {"vote": {"clusters": metrics["vote"]["clusters"][:LARGE_K]}}
    figures.cluster_sizes(few)
    assert len(drawn[-1].axes[0].patches) == LARGE_K  # a bar per cluster, as before
    assert overlaps(drawn[-1]) == []


def test_coverage_labels_of_100_runs_do_not_overlap(monkeypatch):
    """101 thresholds, as 100 voting runs give: the labels that are drawn leave room."""
    t = np.linspace(1, 0, 101)
    curve = [{"threshold": x, "coverage": 1 - x**2, "acc": 0.7 + 0.3 * x} for x in t]
    drawn = captured(monkeypatch)
    figures.coverage({"coverage": curve})
    labels = drawn[-1].axes[0].texts
    assert 5 <= len(labels) < 20
    assert overlaps(drawn[-1]) == []
    by_n = [{"n": n, "acc": 0.9, "mean_agreement": 0.8} for n in range(1, 101)]
    figures.vote_by_n({"vote_by_n": by_n, "runs": [{"acc": 0.8}]}, labelled=True)
    assert overlaps(drawn[-1]) == []


def independent_confusion(votes: pd.DataFrame, truth: np.ndarray) -> np.ndarray:
    """(K, K) true class x vote cluster matched to its class (Hungarian on the counts)."""
    true = truth[votes.sample_index.to_numpy()]
    label = votes.label.to_numpy()
    contingency = np.zeros((K, K), np.int64)
    np.add.at(contingency, (label, true), 1)
    clusters, classes = linear_sum_assignment(contingency, maximize=True)
    matched = np.empty(K, np.int64)
    matched[clusters] = classes
    counts = np.zeros((K, K), np.int64)
    np.add.at(counts, (true, matched[label]), 1)
    return counts


def test_most_confused_pairs_are_right(task):
    metrics, votes, truth, _ = task
    counts = independent_confusion(votes, truth)
    np.testing.assert_array_equal(np.diag(counts), np.diag(np.array(metrics["confusion"])))
    wrong = [
        (-int(counts[i, j]), i, j)
        for i, j in zip(*np.nonzero(counts), strict=True)
        if i != j  # every off-diagonal cell that holds a sample
    ]
    top = sorted(wrong)[:TOP_CONFUSED]
    table = summary_tables([metrics], {"a": BASE, "b": BASE}, class_names=NAMES)["confused"]
    assert len(table) == TOP_CONFUSED
    assert table.true_class.tolist() == [i for _, i, _ in top]
    assert table.voted_as.tolist() == [j for _, _, j in top]
    assert table["count"].tolist() == [-c for c, _, _ in top]
    shares = [-c / counts[i].sum() for c, i, _ in top]
    np.testing.assert_allclose(table.share_of_true_class, shares)
    assert table.true_name.tolist() == [NAMES[i] for _, i, _ in top]
    assert table.voted_as_name.tolist() == [NAMES[j] for _, _, j in top]
    assert set(table.voted_as - table.true_class) == {500}  # the planted confusions


def test_clusters_table_is_cut_on_the_page_and_whole_in_the_csv(task, report):
    metrics, *_ = task
    clusters = pd.DataFrame(metrics["vote"]["clusters"])
    written = pd.read_csv(report["clusters_csv"])
    assert len(written) == K
    pd.testing.assert_frame_equal(written[["cluster", "size", "agreement"]], clusters)
    assert (written.k == K).all() and (written.task == "a--b").all()
    shown = shown_clusters(summary_tables([metrics], {"a": BASE, "b": BASE})["clusters"])
    assert len(shown) == 3 * SHOWN_CLUSTERS
    by_list = {name: part for name, part in shown.groupby("shown")}
    largest = clusters.sort_values(["size", "cluster"], ascending=[False, True]).head(10)
    assert by_list["largest"].cluster.tolist() == largest.cluster.tolist()
    assert by_list["smallest"]["size"].max() == clusters["size"].nsmallest(10).max()
    least = clusters.agreement.nsmallest(SHOWN_CLUSTERS)
    np.testing.assert_allclose(by_list["least agreed"].agreement, least)


def test_page_and_markdown_stay_small(report):
    page = report["html"].read_text()
    markdown = report["markdown"].read_text()
    assert len(page) < 1_000_000 and len(markdown.splitlines()) < 200
    rows = re.findall(
        r'<table border="1" class="dataframe" id="clusters">(.*?)</table>', page, re.S
    )
    assert rows[0].count("<tr>") == 3 * SHOWN_CLUSTERS  # the three lists
    assert page.count("<tr>") < 200
    assert 'id="confused"' in page and "Most confused class pairs" in markdown
    assert "every cluster: clusters.csv" in page
    assert page.count("<img") == 8  # the headline's figure and the task's seven


def test_small_k_keeps_every_cluster_and_no_confused_table(task):
    metrics, *_ = task
    few = {**metrics, "vote": {**metrics["vote"], "clusters": metrics["vote"]["clusters"][:20]}}
    few["confusion"] = [row[:20] for row in metrics["confusion"][:20]]
    tables = summary_tables([few], {"a": BASE, "b": BASE}, class_names=NAMES)
    assert "confused" not in tables
    assert shown_clusters(tables["clusters"]) is tables["clusters"]


def test_metrics_json_is_compact_and_reads_back(task, tmp_path):
    metrics, *_ = task
    path = tmp_path / "metrics.json"
    write_json(path, metrics)
    text = path.read_text()
    assert read_json(path) == metrics
    indented = json.dumps(metrics, indent=2, sort_keys=True)
    assert len(indented) > 9_000_000  # one number per line: the 1000 x 1001 matrix
    assert len(text) < len(indented) / 2 and len(text) < 4_000_000
    assert len(text.splitlines()) < 10_000  # a line per matrix row, not per number
    assert not re.search(r"^\s*-?\d+(\.\d+)?,?$", text, re.M)  # no line holds one number
    assert '"confusion": [\n    [' in text


def test_small_json_stays_indented_and_reads_back(tmp_path):
    doc = {
        "seed": 3,
        "spaces": ["a", "b"],
        "rows": [[1, 2], [3, 4]],
        "runs": [{"acc": 0.5, "note": "é"}, {"acc": None}],
        "empty": {"list": [], "dict": {}},
        "nested": [[1, [2]], 3],
    }
    path = tmp_path / "doc.json"
    write_json(path, doc)
    assert read_json(path) == doc
    text = path.read_text()
    assert '\n  "spaces": ["a", "b"]\n}' in text and "\n    [1, 2],\n" in text
    assert '\n  "runs": [\n    {\n      "acc": 0.5,' in text
    objects = {"a": {"b": 1}, "c": [{"d": "e"}]}  # no list of scalars: as json.dumps does
    write_json(path, objects)
    assert path.read_text() == json.dumps(objects, indent=2, sort_keys=True) + "\n"
