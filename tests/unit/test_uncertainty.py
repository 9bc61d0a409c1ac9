"""Bootstrap intervals of a pair's results (report/uncertainty.py): the metrics they are made
of against scikit-learn, the replicates against a plain re-implementation drawing the same
random numbers, the coverage of the intervals on synthetic runs with a known answer, and what
evaluate_task writes."""

import json
import math
from itertools import permutations

import numpy as np
import pytest
from fake_runs import write_fake_run
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from hume_workflow.aggregate.alignment import majority_vote
from hume_workflow.aggregate.metrics import cluster_accuracy
from hume_workflow.aggregate.selected_vote import vote_selected
from hume_workflow.aggregate.selection import select_runs
from hume_workflow.aggregate.weights import KAPPA_FLOOR, run_weights
from hume_workflow.errors import InputError
from hume_workflow.formats.run import LABELS, read_runs
from hume_workflow.report.evaluate import evaluate_task, vote_by_n
from hume_workflow.report.uncertainty import (
    INTERVALS,
    Bootstrap,
    PairRuns,
    ari_nmi,
    bias_corrected_interval,
    bootstrap_pair,
    confusion_counts,
    matched_accuracy,
    percentile_interval,
    run_statistics,
)

# ---- bias-corrected intervals -----------------------------------------------------------------


def test_bias_corrected_interval_by_hand():
    """BC: z0 = Phi^-1(share of replicates below the point, ties half); the interval is the
    replicates' Phi(2 z0 -+ z) quantiles. Computed here with the standard library."""
    from statistics import NormalDist

    rng = np.random.default_rng(5)
    replicates = rng.normal(0.7, 0.05, size=400)
    for point in (0.7, 0.72, 0.66):
        share = ((replicates < point).sum() + 0.5 * (replicates == point).sum()) / 400
        z0, z = NormalDist().inv_cdf(share), NormalDist().inv_cdf(0.975)
        quantiles = [NormalDist().cdf(2 * z0 - z), NormalDist().cdf(2 * z0 + z)]
        expected = np.percentile(replicates, [100 * q for q in quantiles])
        got = bias_corrected_interval(replicates, point, 0.95)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    # the point at the replicates' median: the percentile interval
    median = float(np.median(replicates))
    np.testing.assert_allclose(
        bias_corrected_interval(replicates, median, 0.95),
        percentile_interval(replicates, 0.95),
        atol=1e-3,
    )
    # replicates all below the point: moved up, yet within the replicates
    low, high = bias_corrected_interval(replicates, 1.0, 0.95)
    assert percentile_interval(replicates, 0.95)[0] < low <= high <= replicates.max()
    assert bias_corrected_interval(replicates, float("nan"), 0.95) == percentile_interval(
        replicates, 0.95
    )


def test_unknown_interval_kind_names_the_key():
    with pytest.raises(InputError, match=r"config uncertainty.interval_kind='bca'"):
        Bootstrap(interval_kind="bca")


# ---- metrics from a confusion matrix ----------------------------------------------------------


def labeling_cases():
    """(labels, truth, num_classes): random labelings with as many, more and fewer clusters
    than classes, one cluster, one class, and identical or permuted-identical labelings."""
    rng = np.random.default_rng(0)
    cases = []
    for n, k, c in [(50, 3, 3), (80, 5, 3), (40, 2, 4), (30, 4, 4), (7, 3, 2), (200, 6, 6)]:
        cases.append((rng.integers(k, size=n), rng.integers(c, size=n), k))
    truth = rng.integers(4, size=60)
    cases += [
        (np.zeros(60, dtype=np.int64), truth, 4),  # a single cluster
        (truth.copy(), truth, 4),  # identical
        (np.array([2, 0, 3, 1])[truth], truth, 4),  # identical up to ids
        (rng.integers(3, size=60), np.zeros(60, dtype=np.int64), 3),  # a single class
        (np.zeros(20, dtype=np.int64), np.zeros(20, dtype=np.int64), 2),  # one and one
        (np.arange(12), np.arange(12) % 3, 12),  # every sample its own cluster
    ]
    noisy = truth.copy()
    noisy[:15] = (noisy[:15] + 1) % 4
    cases.append((noisy, truth, 4))
    return cases


@pytest.mark.parametrize("labels, truth, k", labeling_cases())
def test_matched_accuracy_equals_cluster_accuracy(labels, truth, k):
    """ACC from the confusion counts is the report's Hungarian ACC."""
    overlap = confusion_counts(labels, truth, k)
    assert overlap.shape == (k, truth.max() + 1) and overlap.sum() == len(labels)
    assert matched_accuracy(overlap) == pytest.approx(cluster_accuracy(labels, truth), abs=1e-12)


@pytest.mark.parametrize("labels, truth, k", labeling_cases())
def test_ari_nmi_equal_scikit_learn(labels, truth, k):
    """ARI and NMI from the confusion counts are scikit-learn's, to 1e-10."""
    ari, nmi = ari_nmi(confusion_counts(labels, truth, k))
    assert ari == pytest.approx(adjusted_rand_score(truth, labels), abs=1e-10)
    assert nmi == pytest.approx(normalized_mutual_info_score(truth, labels), abs=1e-10)


def test_percentile_interval_is_numpys_of_the_finite_values():
    """The central interval of the finite replicates; None when there are none."""
    rng = np.random.default_rng(1)
    values = rng.normal(size=101)
    mixed = np.concatenate([values, [np.nan, np.inf, -np.inf, np.nan]])
    rng.shuffle(mixed)
    for level in (0.95, 0.9, 0.5):
        tail = 50 * (1 - level)
        expected = np.percentile(values, [tail, 100 - tail])
        np.testing.assert_allclose(percentile_interval(mixed, level), expected, rtol=0, atol=0)
    assert percentile_interval(np.array([]), 0.95) is None
    assert percentile_interval(np.full(5, np.nan), 0.95) is None
    assert percentile_interval(np.array([0.3]), 0.95) == [0.3, 0.3]
    assert all(type(x) is float for x in percentile_interval(values, 0.95))


# ---- replicates against a plain re-implementation ---------------------------------------------


def best_permutation(labels: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """The lookup (k,) of the id permutation of ``labels`` agreeing most with ``reference``,
    over all k! of them; the test data make it unique."""
    agree = {p: int((np.array(p)[labels] == reference).sum()) for p in permutations(range(k))}
    winners = [p for p, a in agree.items() if a == max(agree.values())]
    assert len(winners) == 1, "test data must align unambiguously"
    return np.array(winners[0])


def brute_votes(aligned: list[np.ndarray], weights: np.ndarray, k: int) -> np.ndarray:
    """Per sample, the label of largest summed weight; ties: the first run's, else smallest."""
    columns = zip(*(labels.tolist() for labels in aligned), strict=True)
    weights = [float(w) for w in weights]
    votes = []
    for column in columns:  # one sample: the aligned label of each run
        totals = [0.0] * k
        for label, w in zip(column, weights, strict=True):
            totals[label] += w
        best = max(totals)
        tied = [c for c in range(k) if math.isclose(totals[c], best, rel_tol=1e-9)]
        votes.append(column[0] if column[0] in tied else tied[0])
    return np.array(votes)


def brute_weights(scores: np.ndarray, kappas: np.ndarray, weights: str) -> np.ndarray:
    """The vote weights of the voting runs: 1, the score, or max(kappa, KAPPA_FLOOR)."""
    if weights == "uniform":
        return np.ones(len(scores))
    if weights == "score":
        return np.array(scores, dtype=float)
    return np.array([max(x, KAPPA_FLOOR) for x in kappas])


def reference_bootstrap(runs: PairRuns, truth: np.ndarray, run_acc: np.ndarray, setup):
    """The replicates of every quantity, and of the vote-by-n curve, by plain loops: per
    replicate R runs drawn with replacement, then N samples (the order bootstrap_pair draws
    them in, from default_rng(seed)); the drawn runs ranked by score (ties: smaller index), the
    top n aligned to the best by brute-force permutation and voted with their weights."""
    rng = np.random.default_rng(setup.seed)
    labels, scores, k = runs.labels, runs.scores, runs.num_classes
    r, n = labels.shape
    perm = {(i, j): best_permutation(labels[i], labels[j], k) for i in range(r) for j in range(r)}
    reps = {name: [] for name in INTERVALS}
    curve = []  # per replicate: [(acc, agreement) for n = 1..R]
    for _ in range(setup.resamples):
        drawn = rng.integers(r, size=r)
        samples = rng.integers(n, size=n)
        ranked = sorted(drawn.tolist(), key=lambda i: (-scores[i], i))
        voting = ranked if runs.top_n is None else ranked[: runs.top_n]
        aligned = [perm[i, ranked[0]][labels[i][samples]] for i in ranked]
        weights = brute_weights(scores[voting], runs.kappas[voting], runs.weights)
        votes = brute_votes(aligned[: len(voting)], weights, k)
        kept = truth[samples] >= 0
        true = truth[samples][kept]
        reps["vote_acc"].append(cluster_accuracy(votes[kept], true))
        reps["vote_ari"].append(adjusted_rand_score(true, votes[kept]))
        reps["vote_nmi"].append(normalized_mutual_info_score(true, votes[kept]))
        reps["mean_agreement"].append(np.mean([a == votes for a in aligned[: len(voting)]]))
        reps["best_score"].append(max(scores[i] for i in drawn))
        acc, score = run_acc[drawn], scores[drawn]
        reps["run_acc_mean"].append(sum(acc) / r)
        reps["run_acc_max"].append(max(acc))
        constant = (acc == acc[0]).all() or (score == score[0]).all()
        reps["pearson"].append(np.nan if constant else pearsonr(score, acc).statistic)
        reps["spearman"].append(np.nan if constant else spearmanr(score, acc).statistic)
        all_weights = brute_weights(scores[ranked], runs.kappas[ranked], runs.weights)
        points = []
        for m in range(1, r + 1):
            v = brute_votes(aligned[:m], all_weights[:m], k)
            points.append((cluster_accuracy(v[kept], true), np.mean([a == v for a in aligned[:m]])))
        curve.append(points)
    return reps, np.array(curve)


def interval(values, level: float):
    """The central percentile interval of the finite values, or None."""
    values = np.array(values, dtype=float)
    values = values[np.isfinite(values)]
    tail = 50 * (1 - level)
    return list(np.percentile(values, [tail, 100 - tail])) if len(values) else None


def five_runs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels (5, 60), truth (60,) with some -1, run_acc (5,)): K=3 runs, noisy copies of the
    truth under random id permutations, each aligning to every other unambiguously."""
    rng = np.random.default_rng(3)
    classes = rng.integers(3, size=60)
    runs = []
    for noise in (0.1, 0.3, 0.2, 0.35, 0.25):  # ACC not monotone in the scores
        labels = classes.copy()
        redrawn = rng.random(60) < noise
        labels[redrawn] = rng.integers(3, size=redrawn.sum())
        runs.append(rng.permutation(3)[labels])
    truth = np.where(rng.random(60) < 0.1, -1, classes)
    known = truth >= 0
    run_acc = np.array([cluster_accuracy(lab[known], truth[known]) for lab in runs])
    return np.stack(runs), truth, run_acc


@pytest.mark.parametrize(
    "top_n, weights",
    [(None, "uniform"), (None, "kappa"), (2, "uniform"), (2, "kappa"), (1, "kappa")],
)
def test_intervals_equal_a_plain_reimplementation(top_n, weights):
    """Every interval, and the vote-by-n band, is the percentile interval of replicates made
    as documented: runs then samples drawn, re-ranked, top n re-voted with their weights
    (top_n=1: the vote is the best drawn run)."""
    labels, truth, run_acc = five_runs()
    scores = np.array([0.9, 0.8, 0.8, 0.6, 0.5])  # a tie: the smaller index first
    kappas = np.array([0.4, -0.1, 0.3, 0.0, 0.2])  # two clipped to 0
    runs = PairRuns(labels, scores, kappas, 3, top_n, weights)
    setup = Bootstrap(resamples=50, level=0.95, seed=11)
    result = bootstrap_pair(runs, truth, run_acc, setup)
    reps, curve = reference_bootstrap(runs, truth, run_acc, setup)
    assert set(result["intervals"]) == set(INTERVALS)
    for name in INTERVALS:
        expected = interval(reps[name], setup.level)
        got = result["intervals"][name]
        assert (got is None) == (expected is None), name
        if expected is not None:
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12, err_msg=name)
    assert result["intervals"]["pearson"] is not None
    if weights == "uniform":  # the curve's weights are those of all drawn runs (see below)
        for point in result["vote_by_n"]:
            n = point["n"]
            np.testing.assert_allclose(
                [point["acc_low"], point["acc_high"]], interval(curve[:, n - 1, 0], 0.95)
            )
            np.testing.assert_allclose(
                [point["agreement_low"], point["agreement_high"]],
                interval(curve[:, n - 1, 1], 0.95),
            )


def test_identical_runs_equal_to_the_truth_give_point_intervals():
    """R runs that are the truth (under other ids): every vote interval is [1, 1], and so
    are mean and best run ACC and the agreement; the correlations are undefined."""
    rng = np.random.default_rng(5)
    truth = rng.integers(3, size=60)
    labels = np.stack([np.array(p)[truth] for p in [(0, 1, 2), (2, 0, 1), (1, 2, 0), (0, 2, 1)]])
    runs = PairRuns(
        labels, np.array([0.9, 0.7, 0.6, 0.3]), np.array([0.5, 0.3, 0.2, 0.1]), 3, None, "kappa"
    )
    result = bootstrap_pair(runs, truth, np.ones(4), Bootstrap(resamples=40, seed=2))
    intervals = result["intervals"]
    for name in (
        "vote_acc",
        "vote_ari",
        "vote_nmi",
        "mean_agreement",
        "run_acc_mean",
        "run_acc_max",
    ):
        assert intervals[name] == pytest.approx([1.0, 1.0], abs=1e-12), name
    assert intervals["pearson"] is None and intervals["spearman"] is None
    low, high = intervals["best_score"]
    assert 0.3 <= low <= high == 0.9  # the best run is drawn in most replicates
    for point in result["vote_by_n"]:
        assert [point["acc_low"], point["acc_high"]] == pytest.approx([1.0, 1.0])
        assert [point["agreement_low"], point["agreement_high"]] == pytest.approx([1.0, 1.0])


def test_vote_by_n_bands():
    """One band per n = 1..R, low <= high; one run always agrees with itself; no ACC band
    without truth (None or all unknown)."""
    labels, truth, run_acc = five_runs()
    runs = PairRuns(labels, np.linspace(0.9, 0.5, 5), np.linspace(0.5, 0.1, 5), 3, 3, "score")
    setup = Bootstrap(resamples=30, seed=4)
    bands = bootstrap_pair(runs, truth, run_acc, setup)["vote_by_n"]
    assert [b["n"] for b in bands] == [1, 2, 3, 4, 5]
    for b in bands:
        assert b["acc_low"] <= b["acc_high"] and b["agreement_low"] <= b["agreement_high"]
        assert 0 <= b["acc_low"] and b["acc_high"] <= 1
    assert [bands[0]["agreement_low"], bands[0]["agreement_high"]] == [1.0, 1.0]
    assert bands[-1]["agreement_low"] < 1
    for no_truth in (None, np.full(60, -1)):
        result = bootstrap_pair(runs, no_truth, None, setup)
        for b in result["vote_by_n"]:
            assert b["acc_low"] is None and b["acc_high"] is None
            assert b["agreement_low"] <= b["agreement_high"]
        for name in ("vote_acc", "vote_ari", "vote_nmi", "run_acc_mean", "pearson", "spearman"):
            assert result["intervals"][name] is None
        assert result["intervals"]["mean_agreement"] is not None


# ---- coverage on synthetic runs with a known answer -------------------------------------------

# A 95 % interval covers the true value in about 95 % of independent datasets, the percentile
# bootstrap a little less (about 93 % for the means below). Over m datasets the count covered
# is Binomial(m, ~0.93): "at least 80 %" fails by chance with probability about 1 % for
# m = 20 and 0.15 % for m = 40 (4 % and 1.5 % even at a true coverage of 0.90), while an
# interval that ignores a source of spread (the samples, or the runs) covers far less often.
# The seeds are fixed, so the outcome is the same on every run. The mean width is checked
# too, against the normal approximation, so that an interval too wide to be wrong also fails.
COVERAGE = [(20, 100), pytest.param(40, 200, marks=pytest.mark.slow)]


def flipped(truth: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """``truth`` with an i.i.d. Bernoulli(rate) set of samples moved to another class, drawn
    uniformly (K=3)."""
    labels = truth.copy()
    wrong = rng.random(len(truth)) < rate
    labels[wrong] = (truth[wrong] + rng.integers(1, 3, size=wrong.sum())) % 3
    return labels


@pytest.mark.parametrize("repetitions, resamples", COVERAGE)
def test_sample_bootstrap_covers_the_population_acc(repetitions, resamples):
    """Three identical runs, wrong on an i.i.d. 20 % of N=300 samples: the population ACC is
    0.8, and only the samples vary; the 95 % vote-ACC interval covers it about 95 % of the
    time, with about the width 2 * 1.96 * sqrt(0.8 * 0.2 / 300) = 0.089."""
    covered, widths = 0, []
    for rep in range(repetitions):
        rng = np.random.default_rng(1000 + rep)
        truth = rng.integers(3, size=300)
        labels = rng.permutation(3)[flipped(truth, 0.2, rng)]
        runs = PairRuns(
            np.stack([labels] * 3), np.array([0.9, 0.8, 0.7]), np.ones(3), 3, None, "uniform"
        )
        result = bootstrap_pair(runs, truth, None, Bootstrap(resamples, 0.95, rep))
        low, high = result["intervals"]["vote_acc"]
        covered += low <= 0.8 <= high
        widths.append(high - low)
    assert covered >= 0.8 * repetitions
    assert 0.06 < np.mean(widths) < 0.12


@pytest.mark.parametrize("repetitions, resamples", COVERAGE)
def test_run_bootstrap_covers_the_population_mean_run_acc(repetitions, resamples):
    """R=16 runs, each wrong on an i.i.d. share q_i ~ Uniform(0.1, 0.3) of N=100 samples: run
    ACC is about 1 - q_i, the population mean run ACC 0.8; the 95 % interval of the mean run
    ACC (which varies with the drawn runs only) covers it about 95 % of the time, with about
    the width 2 * 1.96 * sd / sqrt(16), sd^2 = 0.2^2 / 12 + 0.16 / 100: 0.069."""
    covered, widths = 0, []
    for rep in range(repetitions):
        rng = np.random.default_rng(2000 + rep)
        truth = rng.integers(3, size=100)
        labels = np.stack([flipped(truth, q, rng) for q in rng.uniform(0.1, 0.3, size=16)])
        run_acc = np.array([cluster_accuracy(lab, truth) for lab in labels])
        np.testing.assert_allclose(run_acc, (labels == truth).mean(axis=1))  # ids match
        scores = np.sort(rng.random(16))[::-1]
        runs = PairRuns(labels, scores, np.ones(16), 3, None, "uniform")
        result = bootstrap_pair(runs, None, run_acc, Bootstrap(resamples, 0.95, rep))
        low, high = result["intervals"]["run_acc_mean"]
        covered += low <= 0.8 <= high
        widths.append(high - low)
    assert covered >= 0.8 * repetitions
    assert 0.045 < np.mean(widths) < 0.095


# ---- evaluate_task ----------------------------------------------------------------------------


@pytest.fixture
def run_files(tmp_path):
    """Four runs over samples 10..29 (as tests/unit/test_aggregate_report.py), with kappa:
    run s flips the first 3*s labels of the truth, under ids shifted by s."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 40)
    eval_idx = np.arange(10, 30)
    paths = []
    for seed, (score, kappa) in enumerate([(0.6, 0.5), (0.9, 0.3), (0.7, -0.1), (0.8, 0.2)]):
        labels = truth[eval_idx].copy()
        labels[: 3 * seed] = (labels[: 3 * seed] + 1) % 3
        labels = (labels + seed) % 3
        path = tmp_path / f"seed{seed}.h5"
        write_fake_run(path, seed, labels, score, kappa=kappa, eval_indices=eval_idx)
        paths.append(path)
    return paths, truth


def evaluate(paths, truth, top_n, weights, bootstrap):
    """evaluate_task of the runs selected and voted as configured."""
    manifest = select_runs(read_runs(paths, LABELS), top_n=top_n, num_classes=3, weights=weights)
    votes = vote_selected(manifest, paths, 3)
    return evaluate_task(manifest, paths, votes, truth, 3, bootstrap)


def test_evaluate_task_writes_the_intervals(run_files):
    """metrics["uncertainty"] holds every interval, JSON-clean, and each vote-by-n point its
    band; without a Bootstrap there is none."""
    paths, truth = run_files
    setup = Bootstrap(resamples=30, seed=3)
    metrics = evaluate(paths, truth, 3, "kappa", setup)
    spread = metrics["uncertainty"]
    assert spread["method"] == setup.method() and "30 resamples" in spread["method"]
    assert spread["resamples"] == 30 and spread["level"] == 0.95
    assert set(spread["intervals"]) == set(INTERVALS) and "vote_by_n" not in spread
    json.dumps(spread, allow_nan=False)
    for name, bounds in spread["intervals"].items():
        assert bounds is not None and bounds[0] <= bounds[1], name
    accs = [r["acc"] for r in metrics["runs"]]
    assert min(accs) <= spread["intervals"]["run_acc_mean"][0]
    assert spread["intervals"]["run_acc_max"][1] <= max(accs)
    assert 0.6 <= spread["intervals"]["best_score"][0] <= spread["intervals"]["best_score"][1]
    assert [p["n"] for p in metrics["vote_by_n"]] == [1, 2, 3, 4]
    for point in metrics["vote_by_n"]:
        assert {"acc", "mean_agreement", "acc_low", "acc_high"} <= set(point)
        assert point["acc_low"] <= point["acc_high"]
        assert point["agreement_low"] <= point["agreement_high"]
    assert "uncertainty" not in evaluate(paths, truth, 3, "kappa", None)


def test_evaluate_task_unlabelled_intervals(run_files):
    """Without any known label the intervals needing truth are None; the label-free ones
    (agreement, best score) are still there."""
    paths, truth = run_files
    metrics = evaluate(paths, np.full_like(truth, -1), None, "score", Bootstrap(20, seed=1))
    intervals = metrics["uncertainty"]["intervals"]
    for name in ("vote_acc", "vote_ari", "vote_nmi", "run_acc_mean", "run_acc_max"):
        assert intervals[name] is None, name
    assert intervals["pearson"] is None and intervals["spearman"] is None
    assert intervals["mean_agreement"] is not None and intervals["best_score"] is not None
    for point in metrics["vote_by_n"]:
        assert point["acc_low"] is None and point["acc_high"] is None
        assert point["agreement_low"] is not None
    json.dumps(metrics["uncertainty"], allow_nan=False)


# ---- regressions ------------------------------------------------------------------------


def test_vote_by_n_at_top_n_is_the_vote():
    """The vote-by-n point at n = top_n is the vote that was written, with kappa weights too:
    here the top 3 runs have kappa <= 0 (so all weigh 1 in the vote) and the 4th has 0.3."""
    truth = np.tile([0, 1, 2], 4)
    labels = np.stack([truth.copy() for _ in range(4)])
    labels[0, 0] = 1  # the best run is wrong on sample 0; the next two outvote it
    scores, kappas = np.array([0.9, 0.8, 0.7, 0.6]), np.array([-0.1, 0.0, -0.2, 0.3])
    voted, _ = majority_vote(labels[:3], 3, run_weights(scores[:3], kappas[:3], "kappa"))
    assert cluster_accuracy(voted, truth) == 1.0
    curve = vote_by_n(PairRuns(labels, scores, kappas, 3, 3, "kappa"), truth)
    assert curve[2]["acc"] == 1.0


def test_pearson_of_equal_accuracies_is_undefined():
    """Runs drawn with equal ACC have no score-ACC correlation (NaN, left out)."""
    values = run_statistics(np.array([0.9, 0.8, 0.7]), np.full(3, 0.8))
    assert np.isnan(values["pearson"]) and np.isnan(values["spearman"])
