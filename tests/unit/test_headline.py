"""The report's headline, its interval columns and figures, from hand-made metrics.json dicts."""

import base64

import pandas as pd
import pytest

from hume_workflow.report import figures
from hume_workflow.report.headline import make_headline
from hume_workflow.report.page import write_report
from hume_workflow.report.tables import INTERVALS, TRUTH_COLUMNS, summary_tables

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
METHOD = (
    "95 % percentile bootstrap: 1000 resamples of the runs (with replacement, re-ranked and "
    "re-voted as configured) and of the samples"
)
WARNING = "7 of 8 runs collapsed: they use at most half the clusters; read the vote with care."


def fake_metrics(
    labelled: bool = True,
    phi1: str = "a",
    phi2: str = "b",
    vote_acc: float = 0.80,
    acc_interval: tuple[float, float] = (0.77, 0.83),
    collapsed: tuple[bool, ...] = (False, False, True, False),
    warning: str | None = None,
    top_n: int | None = None,
    weights: str = "uniform",
) -> dict:
    """A pair's metrics.json (its chosen K) with the uncertainty keys, plus phi1, phi2, k and
    setting; the truth's values None when not ``labelled``."""

    def known(value):
        return value if labelled else None

    scores, accs = [0.9, 0.7, 0.2, 0.5], [0.82, 0.75, 0.40, 0.60]
    runs = [
        {
            **{"seed": seed, "score": score, "acc": known(acc), "ari": known(acc)},
            **{"nmi": known(acc), "selected": seed != 2, "degenerate": False},
            **{"collapsed": flag, "wall_time_s": 1.0},
        }
        for seed, (score, acc, flag) in enumerate(zip(scores, accs, collapsed, strict=True))
    ]
    intervals = {
        "vote_acc": known(list(acc_interval)),
        "vote_ari": known([0.6, 0.7]),
        "vote_nmi": known([0.65, 0.72]),
        "run_acc_mean": known([0.5, 0.7]),
        "run_acc_max": known([0.78, 0.86]),
        "pearson": known([0.61, 0.98]),
        "spearman": known([0.4, 1.0]),
        "mean_agreement": [0.75, 0.79],
        "best_score": [0.88, 0.93],
    }
    curve = [
        {
            **{"n": n, "acc": known(0.7 + 0.03 * n), "acc_low": known(0.65 + 0.03 * n)},
            **{"acc_high": known(0.75 + 0.03 * n), "mean_agreement": 1 - 0.05 * n},
            **{"agreement_low": 0.97 - 0.05 * n, "agreement_high": 1.0 - 0.04 * n},
        }
        for n in range(1, 5)
    ]
    return {
        **{"phi1": phi1, "phi2": phi2, "k": 3, "setting": "transductive"},
        **{"n_runs": 4, "n_selected": 3, "selection_note": None},
        "vote": {
            **{"acc": known(vote_acc), "ari": known(0.65), "nmi": known(0.7)},
            "mean_agreement": 0.77,
            "clusters": [{"cluster": c, "size": 10, "agreement": 0.77} for c in range(3)],
        },
        "score_acc_pearson": known(0.89),
        "score_acc_spearman": known(0.8),
        "vote_by_n": curve,
        "coverage": [],
        "confusion": None,
        "runs": runs,
        "uncertainty": {"method": METHOD, "resamples": 1000, "level": 0.95, "intervals": intervals},
        "n_collapsed": sum(collapsed),
        "collapse_warning": warning,
        "aggregation": {"top_n": top_n, "weights": weights},
    }


def fake_baselines(
    labelled: bool = True, kmeans: tuple[float, float] = (0.70, 0.79), names=("a", "b")
) -> dict:
    """Baselines of the two spaces; k-means' ACC per space, the probe's 0.975 and 0.944."""
    return {
        name: {
            "dim": 4,
            "kmeans": {
                "acc": acc if labelled else None,
                "ari": 0.5 if labelled else None,
                "nmi": 0.5 if labelled else None,
            },
            "linear_probe_acc": probe if labelled else None,
        }
        for name, acc, probe in zip(names, kmeans, (0.975, 0.944), strict=True)
    }


def is_png(encoded: str) -> bool:
    return base64.b64decode(encoded).startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("kmeans", "verdict"),
    [
        (0.70, "beats"),  # below the interval [0.77, 0.83]
        (0.77, "inside"),  # on its edge: not outside
        (0.79, "inside"),
        (0.90, "falls below"),  # above it
    ],
)
def test_the_verdict_against_kmeans_follows_the_interval(kmeans, verdict):
    text = make_headline([fake_metrics()], fake_baselines(kmeans=(kmeans, 0.79))).markdown
    points = 100 * (0.80 - kmeans)
    phrases = {
        "beats": f"the vote beats k-means on a by {abs(points):.1f} points",
        "falls below": f"the vote falls below k-means on a by {abs(points):.1f} points",
        "inside": f"against k-means on a the difference ({points:+.1f}) is inside the interval",
    }
    assert phrases[verdict].lower() in text.lower()
    for other, phrase in phrases.items():
        if other != verdict:
            assert phrase.lower() not in text.lower()
    # k-means on b (0.79) lies inside [0.77, 0.83] in every case
    assert "against k-means on b the difference (+1.0) is inside the interval" in text


def test_labelled_headline_in_words():
    pairs = [fake_metrics(), fake_metrics(phi1="b", phi2="a", top_n=3, weights="kappa")]
    top = make_headline(pairs, fake_baselines())
    for text in (top.html, top.markdown):
        assert "vote ACC 80.0 % (95 % interval 77.0–83.0 %)" in text
        assert "k-means 70.0 % on a, 79.0 % on b" in text
        assert "supervised linear probe 97.5 % on a and 94.4 % on b" in text
        assert "4 runs, 3 voted (all, uniform weights)" in text
        assert "4 runs, 3 voted (top 3, kappa weights)" in text
        assert "r(score, ACC) = 0.89 (interval [0.61, 0.98])" in text
        assert text.count("1 of 4 runs collapsed") == 2
        assert text.count(METHOD) == 1 and text.count("Intervals: ") == 1
    assert "class='warn'" not in top.html and "Warning" not in top.markdown
    assert is_png(top.png)


def test_no_collapsed_runs_no_words_about_them():
    top = make_headline([fake_metrics(collapsed=(False,) * 4)], fake_baselines())
    assert "collapsed" not in top.markdown


def test_unlabelled_headline_says_agreement_and_score_not_acc():
    top = make_headline([fake_metrics(labelled=False)], fake_baselines(labelled=False))
    for text in (top.html, top.markdown):
        assert "ACC" not in text and "k-means" not in text
        assert "agree with the vote on 77.0 % of samples on average" in text
        assert "(95 % interval 75.0–79.0 %)" in text
        assert "best label-free score is 0.900 (interval [0.880, 0.930])" in text
        assert "1 of 4 runs collapsed" in text
    assert "vote_acc" not in top.html
    assert is_png(top.png)


def test_the_collapse_warning_is_shown_verbatim():
    warned = fake_metrics(collapsed=(True, True, True, False), warning=WARNING)
    top = make_headline([warned, fake_metrics(phi1="b", phi2="a")], fake_baselines())
    assert top.html.count("class='warn'") == 1
    assert f"<p class='warn'>a → b: {WARNING}</p>" in top.html
    assert WARNING in top.markdown
    assert "3 of 4 runs collapsed" in top.html


def test_pair_names_are_html_escaped():
    name = "<script>x</script>"
    pair = fake_metrics(phi1=name, warning="a <b> warning")
    top = make_headline([pair], fake_baselines(names=(name, "b")))
    assert "<script>" not in top.html and "&lt;script&gt;x&lt;/script&gt; → b" in top.html
    assert "a &lt;b&gt; warning" in top.html
    assert name in top.markdown  # Markdown is plain text


def interval_columns(truth: bool) -> set[str]:
    """The summary's interval columns (those that need the truth, or those that do not)."""
    return {
        f"{prefix}_{end}"
        for prefix in INTERVALS.values()
        for end in ("low", "high")
        if (f"{prefix}_low" in TRUTH_COLUMNS) == truth
    }


def test_summary_has_interval_columns_collapsed_and_aggregation():
    pairs = [fake_metrics(), fake_metrics(phi1="b", phi2="a", top_n=3, weights="kappa")]
    tables = summary_tables(pairs, fake_baselines())
    summary = tables["summary"]
    assert interval_columns(True) | interval_columns(False) <= set(summary.columns)
    expected = pairs[0]["uncertainty"]["intervals"]
    row = summary.iloc[0]
    for name, prefix in INTERVALS.items():
        assert [row[f"{prefix}_low"], row[f"{prefix}_high"]] == expected[name]
    assert summary.aggregation.tolist() == ["all, uniform", "top 3, kappa"]
    assert summary.collapsed.tolist() == [1, 1]
    assert tables["runs"].collapsed.tolist() == [False, False, True, False] * 2


def test_unlabelled_summary_drops_the_truths_intervals(tmp_path):
    tables = summary_tables([fake_metrics(labelled=False)], fake_baselines(labelled=False))
    columns = set(tables["summary"].columns)
    assert interval_columns(True) and not interval_columns(True) & columns
    assert {"agreement_low", "agreement_high", "best_score_low", "best_score_high"} <= columns
    out = {k: tmp_path / f"{k}.out" for k in ("summary_csv", "runs_csv", "markdown", "html")}
    write_report(tables, out, "t")
    assert set(pd.read_csv(out["summary_csv"]).columns) == columns
    assert "collapsed" in pd.read_csv(out["runs_csv"]).columns


def test_the_headline_comes_first_on_the_page_and_in_markdown(tmp_path):
    pairs = [fake_metrics(warning=WARNING)]
    tables = summary_tables(pairs, fake_baselines())
    out = {k: tmp_path / f"{k}.out" for k in ("summary_csv", "runs_csv", "markdown", "html")}
    write_report(tables, out, "t", headline=make_headline(pairs, fake_baselines()))
    page = out["html"].read_text()
    order = ["<h1>", "Did it work?", "class='warn'", "<img", "bootstrap interval", 'id="summary"']
    positions = [page.index(s) for s in order]
    assert positions == sorted(positions)
    assert page.count(METHOD) == 1
    markdown = out["markdown"].read_text()
    assert markdown.index("# t") < markdown.index("Did it work?") < markdown.index("## HUME per")
    assert "vote_acc_low" in pd.read_csv(out["summary_csv"]).columns


@pytest.fixture
def drawn(monkeypatch):
    """The matplotlib figures the figure functions draw, kept before they are encoded."""
    kept = []
    png = figures._png

    def keep(fig):
        kept.append([(ax.get_title(), ax.get_legend_handles_labels()[1]) for ax in fig.axes])
        return png(fig)

    monkeypatch.setattr(figures, "_png", keep)
    return kept


@pytest.mark.parametrize("labelled", [True, False])
def test_vote_by_n_draws_the_bootstrap_band(drawn, labelled):
    metrics = fake_metrics(labelled=labelled)
    assert is_png(figures.vote_by_n(metrics, labelled))
    assert "95 % bootstrap band" in drawn[0][0][1]


def test_score_vs_acc_shows_the_interval_of_r_and_the_collapsed_runs(drawn):
    assert is_png(figures.score_vs_acc(fake_metrics()))
    title, labels = drawn[0][0]
    assert "Pearson r = 0.89 [0.61, 0.98]" in title and "Spearman ρ = 0.80 [0.40, 1.00]" in title
    assert "collapsed" in labels
    assert is_png(figures.score_vs_acc(fake_metrics(collapsed=(False,) * 4)))
    assert "collapsed" not in drawn[1][0][1]


@pytest.mark.parametrize("labelled", [True, False])
def test_overview_marks_every_pair(drawn, labelled):
    pairs = [fake_metrics(labelled), fake_metrics(labelled, phi1="b", phi2="a")]
    png = make_headline(pairs, fake_baselines(labelled)).png
    assert is_png(png)
    labels = drawn[0][0][1]
    if labelled:
        assert len(labels) == 5 and any("k-means" in label for label in labels)
    else:
        assert not any("ACC" in label or "k-means" in label for label in labels)
        assert len(labels) == 2
