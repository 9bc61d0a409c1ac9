"""The tiny config's report page, and a page at K = 1000 classes, opened in headless
Chromium: every image loads, no errors, a page of bounded size."""

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from fake_runs import write_fake_run
from PIL import Image

from hume_workflow.aggregate.selected_vote import vote_selected
from hume_workflow.aggregate.selection import select_runs
from hume_workflow.formats.run import LABELS, read_runs
from hume_workflow.report import figures
from hume_workflow.report.evaluate import evaluate_task
from hume_workflow.report.headline import make_headline
from hume_workflow.report.page import write_report
from hume_workflow.report.panels import BEST, WORST, pair_figures
from hume_workflow.report.tables import SHOWN_CLUSTERS, TOP_CONFUSED, summary_tables

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",
]
# Injected first in <head>: records script errors and console.error calls.
CATCH = (
    "<script>window.__errors=[];window.addEventListener('error',e=>__errors.push(String("
    "e.message||e.target&&e.target.src)),true);const __ce=console.error;console.error="
    "(...a)=>{__errors.push(a.join(' '));__ce(...a)};</script>"
)
# Injected last in <body>: once loaded, writes what it found into the DOM that is dumped.
CHECK = (
    "<script>window.addEventListener('load',()=>{const imgs=[...document.images];"
    "const broken=imgs.filter(i=>!i.complete||i.naturalWidth===0).length;"
    "const out=document.createElement('pre');out.id='browser-check';out.textContent="
    "JSON.stringify({images:imgs.length,broken:broken,errors:__errors});"
    "document.body.appendChild(out)});</script>"
)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (apt-get install chromium)"
)


@pytest.fixture(scope="module")
def page(finished):
    """The report page of the tiny config's run (the session's, shared; only read here)."""
    return finished / "results/tiny/report/index.html"


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def opened(html: str, tmp_path: Path) -> tuple[dict, str]:
    """``html`` opened in Chromium: (what the page found once loaded: "images", "broken",
    "errors"; the DOM it dumped)."""
    probe = tmp_path / "probe.html"
    probe.write_text(
        html.replace("<head>", "<head>" + CATCH, 1).replace("</body>", CHECK + "</body>")
    )
    proc = chromium(tmp_path, "--dump-dom", probe.as_uri())
    found = re.search(r"<pre id=\"browser-check\">(.*?)</pre>", proc.stdout)
    assert found, proc.stderr[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"')), proc.stdout


def test_every_image_loads_without_errors(page, tmp_path):
    html = page.read_text()
    assert html.count("<img") >= 16  # 8 panels for each of the 2 pairs
    check, dom = opened(html, tmp_path)
    assert check["images"] == html.count("<img") and check["broken"] == 0, check
    assert check["errors"] == [], check
    assert '<table border="1" class="dataframe" id="summary">' in dom
    assert "The paper" not in dom  # "tiny" is not a dataset of the paper


K, N, RUNS = 1000, 50_000, 20  # ImageNet's classes and validation set, 20 runs


def large_k_page(folder: Path) -> Path:
    """The report page (report/page.py's write_report, as make_report calls it) of a task
    at K = 1000: 20 fake runs that each mislabel 15 % of 50,000 samples at random, and all of
    them a third of the samples of classes 0..99 as the next class, voted and evaluated by
    the library; returns index.html."""
    rng = np.random.default_rng(3)
    truth = rng.integers(0, K, N)
    systematic = np.where((truth < 100) & (rng.random(N) < 1 / 3), truth + 1, truth)
    paths = []
    for seed in range(RUNS):
        labels = systematic.copy()
        noisy = rng.random(N) < 0.15
        labels[noisy] = rng.integers(0, K, noisy.sum())
        trace = {"loss": np.linspace(2, 1, 20), "entropy": np.linspace(6, 6.9, 20)}
        path = folder / f"seed{seed}.h5"
        ids = rng.permutation(K)
        paths.append(write_fake_run(path, seed, ids[labels], 1 - seed / 100, trace=trace))
    selection = select_runs(read_runs(paths, LABELS), top_n=None, num_classes=K)
    votes = vote_selected(selection, paths, K)
    metrics = evaluate_task(selection, paths, votes, truth, K) | {
        "method": "hume",
        "spaces": ["a", "b"],
        "k": K,
        "setting": "transductive",
    }
    base = {"dim": 8, "kmeans": {"acc": 0.5, "ari": 0.3, "nmi": 0.6}, "linear_probe_acc": 0.9}
    baselines = {"a": base, "b": base}
    names = [f"class {i}" for i in range(K)]
    shown = [
        index
        for cluster in figures.grid_clusters(votes)
        for _, index in figures.grid_samples(votes, cluster, BEST, WORST)
    ]  # the images the grid shows (panels.read_thumbnails)
    images = {int(i): rng.integers(0, 255, (8, 8, 3), dtype=np.uint8) for i in shown}
    panels = pair_figures(metrics, votes, read_runs(paths), images, names)
    files = ("summary.csv", "runs.csv", "clusters.csv", "summary.md", "index.html")
    keys = ("summary_csv", "runs_csv", "clusters_csv", "markdown", "html")
    out = {key: folder / "report" / name for key, name in zip(keys, files, strict=True)}
    tables = summary_tables([metrics], baselines, class_names=names)
    headline = make_headline([metrics], baselines)
    write_report(tables, out, "HUME on 1000 classes", {"HUME a → b": panels}, headline=headline)
    return out["html"]


def test_a_page_of_1000_classes_opens_and_stays_small(tmp_path):
    html = large_k_page(tmp_path).read_text()
    assert len(html.encode()) < 2_000_000
    assert html.count("<tr") < 150  # not a row per cluster
    assert html.count("<img") == 9  # the headline's figure, the task's eight
    check, dom = opened(html, tmp_path)
    assert check["images"] == 9 and check["broken"] == 0, check
    assert check["errors"] == [], check
    clusters = re.search(r'id="clusters">(.*?)</table>', dom, re.S).group(1)
    assert clusters.count("<tr>") == 3 * SHOWN_CLUSTERS
    confused = re.search(r'id="confused">(.*?)</table>', dom, re.S).group(1)
    assert confused.count("<tr>") == TOP_CONFUSED


def test_screenshot_shows_the_page(page, tmp_path):
    shot = tmp_path / "report.png"
    proc = chromium(tmp_path, "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri())
    assert shot.exists(), proc.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1200, 1600)
        grey = np.asarray(image.convert("L").resize((60, 80)))
        assert len(np.unique(grey)) > 20  # not a blank page
