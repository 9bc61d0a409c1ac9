"""The report's headline, its interval columns and figures, from hand-made metrics.json dicts:
HUME pairs, and TURTLE tasks of one and of three spaces beside them."""

import base64

import pandas as pd
import pytest

from hume_workflow.aggregate.recommend import RULE, Candidate, Recommendation
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
    method: str = "hume",
    spaces: tuple[str, ...] | None = None,
) -> dict:
    """A task's metrics.json (its chosen K) with the uncertainty keys, its method and spaces
    (default: the pair phi1, phi2), k and setting; the truth's values None when not
    ``labelled``."""

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
        **{"method": method, "spaces": list(spaces or (phi1, phi2))},
        **{"k": 3, "setting": "transductive"},
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
    labelled: bool = True,
    kmeans: tuple[float, ...] = (0.70, 0.79),
    names=("a", "b"),
    probes: tuple[float, ...] = (0.975, 0.944),
) -> dict:
    """Baselines of the spaces ``names``; k-means' ACC per space, the probe's (default 0.975
    and 0.944)."""
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
        for name, acc, probe in zip(names, kmeans, probes, strict=True)
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
        assert "At K = 3, the voting runs agree with the vote on 77.0 % of samples" in text
        assert "(95 % interval 75.0–79.0 %)" in text
        assert "best label-free score at this K is 0.900 (interval [0.880, 0.930]" in text
        assert "1 of 4 runs collapsed" in text
    assert "vote_acc" not in top.html
    assert is_png(top.png)


def test_the_collapse_warning_is_shown_verbatim():
    warned = fake_metrics(collapsed=(True, True, True, False), warning=WARNING)
    top = make_headline([warned, fake_metrics(phi1="b", phi2="a")], fake_baselines())
    assert top.html.count("class='warn'") == 1
    assert f"<p class='warn'>HUME a → b: {WARNING}</p>" in top.html
    assert WARNING in top.markdown
    assert "3 of 4 runs collapsed" in top.html


def test_pair_names_are_html_escaped():
    name = "<script>x</script>"
    pair = fake_metrics(phi1=name, warning="a <b> warning")
    top = make_headline([pair], fake_baselines(names=(name, "b")))
    assert "<script>" not in top.html and "HUME &lt;script&gt;x&lt;/script&gt; → b" in top.html
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
    assert markdown.index("# t") < markdown.index("Did it work?") < markdown.index("## Per task")
    assert "vote_acc_low" in pd.read_csv(out["summary_csv"]).columns


@pytest.fixture
def drawn(monkeypatch):
    """The matplotlib figures the figure functions draw, kept before they are encoded."""
    kept = []
    png = figures._png

    def keep(fig):
        kept.append(
            [
                (
                    ax.get_title(),
                    ax.get_legend_handles_labels()[1],
                    [t.get_text() for t in ax.get_yticklabels()],
                )
                for ax in fig.axes
            ]
        )
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
    title, labels, _ = drawn[0][0]
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
        assert len(labels) == 3 and any("k-means" in label for label in labels)
    else:
        assert not any("ACC" in label or "k-means" in label for label in labels)
        assert len(labels) == 2


def mixed_tasks(labelled: bool = True) -> list[dict]:
    """A HUME pair, a one-space and a three-space TURTLE task, in config order."""
    return [
        fake_metrics(labelled),
        fake_metrics(
            labelled, method="turtle", spaces=("a",), vote_acc=0.85, acc_interval=(0.81, 0.88)
        ),
        fake_metrics(
            labelled,
            method="turtle",
            spaces=("a", "b", "c"),
            vote_acc=0.70,
            acc_interval=(0.66, 0.74),
        ),
    ]


def mixed_baselines(labelled: bool = True) -> dict:
    """Baselines of the spaces a, b, c: k-means 0.70, 0.79, 0.60; the probe 0.975, 0.944, 0.9."""
    names, probes = ("a", "b", "c"), (0.975, 0.944, 0.9)
    return fake_baselines(labelled, kmeans=(0.70, 0.79, 0.60), names=names, probes=probes)


def fake_recommendation(ranked_by: str = "stability") -> Recommendation:
    """TURTLE a recommended at K = 3; TURTLE a + b + c chose K = 5 and its labels disagree."""
    candidates = [
        Candidate("hume", ["a", "b"], 3, 0.62, 0.50, ari=0.9, common=30),
        Candidate("turtle", ["a"], 3, 0.71, 0.60, ari=1.0, common=30),
        Candidate("turtle", ["a", "b", "c"], 5, 0.40, 0.30, ari=0.41, common=30),
    ]
    labels = "results/d/turtle/a/labels.csv"
    return Recommendation(
        "turtle", ["a"], 3, ranked_by, RULE, labels, candidates, "results/d/labels.csv"
    )


def test_summary_and_runs_name_every_task_by_method_and_task(tmp_path):
    tables = summary_tables(mixed_tasks(), mixed_baselines())
    summary, runs = tables["summary"], tables["runs"]
    assert summary.columns[:4].tolist() == ["method", "task", "phi1", "phi2"]
    assert summary.method.tolist() == ["hume", "turtle", "turtle"]
    assert summary.task.tolist() == ["a--b", "a", "a--b--c"]
    assert summary.phi1[0] == "a" and summary.phi2[0] == "b"
    assert summary.phi1[1:].isna().all() and summary.phi2[1:].isna().all()  # never a, a
    # the best baseline over the task's spaces; HUME's per-space ones on its row only
    assert summary.kmeans_acc_best.tolist() == [0.79, 0.70, 0.79]
    assert summary.probe_acc_best.tolist() == [0.975, 0.975, 0.975]
    assert summary.kmeans_acc_phi1.tolist()[0] == 0.70
    assert summary.kmeans_acc_phi1[1:].isna().all() and summary.probe_acc_phi2[1:].isna().all()
    assert runs.columns[:5].tolist() == ["method", "task", "phi1", "phi2", "k"]
    assert runs.groupby(["method", "task"]).size().to_dict() == {
        ("hume", "a--b"): 4,
        ("turtle", "a"): 4,
        ("turtle", "a--b--c"): 4,
    }
    out = {k: tmp_path / f"{k}.out" for k in ("summary_csv", "runs_csv", "markdown", "html")}
    write_report(tables, out, "t", headline=make_headline(mixed_tasks(), mixed_baselines()))
    written = pd.read_csv(out["summary_csv"])
    assert written.task.tolist() == ["a--b", "a", "a--b--c"]  # the folder names, as text
    assert written.phi1.isna().tolist() == [False, True, True]
    assert pd.read_csv(out["runs_csv"]).method.tolist() == ["hume"] * 4 + ["turtle"] * 8
    markdown = out["markdown"].read_text()
    for name in ("**HUME a → b**", "**TURTLE a**", "**TURTLE a + b + c**"):
        assert name in markdown


def test_without_a_hume_pair_the_pair_columns_are_left_out():
    tables = summary_tables(mixed_tasks()[1:], mixed_baselines())
    for table in tables.values():
        assert not {"phi1", "phi2", "kmeans_acc_phi1", "probe_acc_phi2"} & set(table.columns)
    assert {"method", "task", "kmeans_acc_best"} <= set(tables["summary"].columns)


def test_the_headline_names_both_methods_recommends_one_and_compares_them():
    top = make_headline(mixed_tasks(), mixed_baselines(), fake_recommendation())
    for text in (top.html, top.markdown):
        assert (
            "Recommended answer</b>: " if text is top.html else "**Recommended answer**: "
        ) + "TURTLE a at K = 3; its labels are results/d/labels.csv (a copy of " in text
        assert f"The rule picks {RULE}." in text
        assert "HUME a → b (K = 3, run agreement 0.620, kappa 0.500)" in text
        assert (
            "Where the tasks disagree (another K, or an ARI below 0.8 with the recommended labels "
            "on the samples both label): TURTLE a + b + c (K = 5; ARI 0.41 on 30 samples)." in text
        )
        # the best task of each method, side by side with the intervals
        assert "HUME vs TURTLE" in text
        assert (
            "HUME a → b (K = 3, run agreement 0.620, kappa 0.500): vote ACC 80.0 % (95 % "
            "interval 77.0–83.0 %), ARI 0.650 [0.600, 0.700], NMI 0.700 [0.650, 0.720]; "
            "TURTLE a (K = 3, run agreement 0.710, kappa 0.600): vote ACC 85.0 % (95 % "
            "interval 81.0–88.0 %)" in text
        )
        # each task keeps its own paragraph, against k-means on each of its spaces
        assert "k-means 70.0 % on a, 79.0 % on b, 60.0 % on c" in text
        assert "the vote falls below k-means on c" not in text
    markdown = top.markdown
    order = ["Recommended answer", "HUME vs TURTLE", "**HUME a → b**", "**TURTLE a + b + c**"]
    assert [markdown.index(s) for s in order] == sorted(markdown.index(s) for s in order)
    assert top.html.count("class='recommend'") == 2


def test_the_recommendation_says_the_fallback_and_when_all_agree():
    answer = fake_recommendation(ranked_by="kappa")
    agreeing = [c for c in answer.candidates if c.k == 3]
    answer = Recommendation(**{**vars(answer), "candidates": agreeing})
    text = make_headline(mixed_tasks()[:2], mixed_baselines(), answer).markdown
    assert "every task is ranked by kappa" in text
    assert "Every task agrees with it: the same K and labels at ARI ≥ 0.8" in text


def test_one_method_gets_no_comparison_and_one_task_nothing_to_choose():
    answer = fake_recommendation()
    turtle = [c for c in answer.candidates if c.method == "turtle"]
    text = make_headline(
        mixed_tasks()[1:],
        mixed_baselines(),
        Recommendation(**{**vars(answer), "candidates": turtle}),
    ).markdown
    assert " vs " not in text and "label): TURTLE a + b + c (K = 5;" in text
    alone = Recommendation(**{**vars(answer), "candidates": turtle[:1]})
    text = make_headline(mixed_tasks()[1:2], mixed_baselines(), alone).markdown
    assert "One task ran: nothing to choose." in text and "The rule picks" not in text


def test_unlabelled_comparison_gives_the_runs_agreement_not_acc():
    top = make_headline(mixed_tasks(False), mixed_baselines(False), fake_recommendation())
    assert "HUME vs TURTLE" in top.markdown and "ACC" not in top.markdown
    assert (
        "TURTLE a (K = 3, run agreement 0.710, kappa 0.600): the voting runs agree with the "
        "vote on 77.0 % of samples (95 % interval 75.0–79.0 %)" in top.markdown
    )


def test_overview_names_each_task_with_its_method(drawn):
    make_headline(mixed_tasks(), mixed_baselines())
    assert drawn[0][0][2] == ["HUME a → b", "TURTLE a", "TURTLE a + b + c"]


def test_a_sweeps_certainty_is_a_sentence_or_a_warning_when_k_is_not_identified():
    agreed = fake_metrics(labelled=False) | {"k_sentence": "AGREED.", "k_identified": True}
    unsure = fake_metrics(labelled=False, phi1="b", phi2="a") | {
        "k_sentence": "K is not identified: X.",
        "k_identified": False,
    }
    top = make_headline([agreed, unsure], fake_baselines(labelled=False))
    assert "AGREED." in top.markdown
    assert "<p class='warn'>HUME b → a: K is not identified: X.</p>" in top.html
    assert top.html.count("class='warn'") == 1


def test_the_k_panel_gives_the_deciding_criterion_its_own_axes(drawn):
    evidence = {
        k: {"stability": s, "kappa": 0.5, "outer_fit": f}
        for k, s, f in ((3, 0.4, -0.2), (4, 0.9, -6.8), (5, 0.6, 0.1))
    }
    assert is_png(figures.k_sweep(evidence, "stability", 4, None))
    (_, top, _), (_, rest, _) = drawn[0]
    assert top == ["chosen K = 4", "stability", "below: K not identified"]
    assert "stability" not in rest and "kappa" in rest
    assert "outer_fit (below -1: off the scale)" in rest
