"""Label-free criteria to choose K (aggregate.k_choice) and the kappa they read, each checked
against a computation written here from its definition (pair counts, confusion matrices,
per-sample distances), not against the library's own helpers."""

from __future__ import annotations

import dataclasses
import math
from itertools import combinations
from math import comb

import h5py
import numpy as np
import pandas as pd
import pytest
from fake_runs import blobs, fake_run, write_fake_run

from hume_workflow.aggregate.k_choice import (
    SILHOUETTE_SAMPLES,
    choose_task_k,
    k_evidence,
    outer_fit,
    silhouette_rows,
    stability,
    vote_silhouette,
)
from hume_workflow.aggregate.k_pick import AGREEMENT_MIN, choose_k, k_certainty
from hume_workflow.choices import K_CRITERIA, PAIRWISE_K_CRITERIA
from hume_workflow.errors import InputError
from hume_workflow.formats.io import write_h5
from hume_workflow.formats.k_choice import read_k_choice, write_k_choice
from hume_workflow.formats.run import RUN_ARRAYS, RunRecord, read_run
from hume_workflow.formats.votes import write_vote

# ---- independent references -------------------------------------------------------------------


def pairs_within(counts: np.ndarray) -> int:
    """Pairs of samples that fall in the same cell, summed over the cells of ``counts``."""
    return sum(comb(int(c), 2) for c in np.ravel(counts))


def ari_by_pairs(a: np.ndarray, b: np.ndarray) -> float:
    """Adjusted Rand index (Hubert & Arabie) from the contingency table's pair counts."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1), dtype=np.int64)
    for i, j in zip(ia, ib, strict=True):
        table[i, j] += 1
    index = pairs_within(table)
    rows, cols = pairs_within(table.sum(1)), pairs_within(table.sum(0))
    expected = rows * cols / comb(len(a), 2)
    return (index - expected) / ((rows + cols) / 2 - expected)


def silhouette_by_hand(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean over the samples of (b - a) / max(a, b), Euclidean; clusters of two or more."""
    values = []
    for i in range(len(x)):
        dist = np.sqrt(((x - x[i]) ** 2).sum(1))
        own = labels == labels[i]
        a = dist[own].sum() / (own.sum() - 1)  # the zero distance to itself is in the sum
        b = min(dist[labels == c].mean() for c in np.unique(labels) if c != labels[i])
        values.append((b - a) / max(a, b))
    return float(np.mean(values))


# ---- stability --------------------------------------------------------------------------------


def test_stability_is_the_mean_pairwise_adjusted_rand_index():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 4, 200)
    # partly agreeing labelings (ARI well away from 0 and 1), with differing numbers of clusters
    labelings = [
        np.where(rng.random(200) < noise, rng.integers(0, k, 200), base % k)
        for noise, k in ((0.1, 4), (0.3, 4), (0.2, 3), (0.5, 5))
    ]
    by_hand = [ari_by_pairs(a, b) for a, b in combinations(labelings, 2)]
    assert len(by_hand) == 6 and 0.05 < min(by_hand) and max(by_hand) < 0.95
    assert stability(labelings) == pytest.approx(np.mean(by_hand), abs=1e-12)
    assert stability(labelings[:3]) == pytest.approx(np.mean(by_hand[:2] + by_hand[3:4]))


def test_stability_of_one_labeling_is_nan_and_of_relabelled_copies_one():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 5, 100)
    assert math.isnan(stability([base]))
    assert math.isnan(stability([]))
    copies = [base] + [rng.permutation(5)[base] for _ in range(3)]
    assert stability(copies) == pytest.approx(1.0)


# ---- outer fit and silhouette -----------------------------------------------------------------


def test_outer_fit_averages_the_last_tenth_of_the_trace_over_log_k():
    trace = np.linspace(2.0, 0.5, 25) ** 2  # ceil(2.5) = 3 last values
    by_hand = 1 - (trace[22] + trace[23] + trace[24]) / 3 / math.log(4)
    assert outer_fit(trace, 4) == pytest.approx(by_hand)
    assert outer_fit(trace, 4) != pytest.approx(1 - trace[-2:].mean() / math.log(4))
    trace_60 = np.arange(60, dtype=float) / 60  # 6 last values
    assert outer_fit(trace_60, 3) == pytest.approx(1 - trace_60[54:].mean() / math.log(3))
    assert outer_fit(np.array([0.7, 0.2]), 2) == pytest.approx(1 - 0.2 / math.log(2))
    assert outer_fit(np.full(40, math.log(6)), 6) == pytest.approx(0.0, abs=1e-12)


def test_vote_silhouette_is_the_mean_per_sample_silhouette():
    x, y = blobs(n=90, k=3, sep=1.5, seed=8)
    assert len(x) < SILHOUETTE_SAMPLES
    by_hand = silhouette_by_hand(x, y)
    assert 0.1 < by_hand < 0.9
    assert vote_silhouette(x, y) == pytest.approx(by_hand, abs=1e-12)
    assert vote_silhouette(x, np.zeros(len(x), dtype=int)) == -1.0


# ---- k_evidence -------------------------------------------------------------------------------


def run_info(seed, labels, score=0.9, kappa=0.8, trace=None) -> RunRecord:
    """A run as read from a file, with its labels and trace."""
    trace = {"cross_entropy": np.full(20, 0.5) if trace is None else trace}
    run = fake_run(seed, labels, score, kappa=kappa, trace=trace)
    return dataclasses.replace(run, path=f"runs/k/seed{seed}.h5")


def evidence_case(kappas):
    """Three runs of K=3 on 60 samples with the given kappas, their vote and features."""
    rng = np.random.default_rng(9)
    x, y = blobs(n=60, k=3, sep=3.0, seed=9)
    labelings = [y, np.where(rng.random(60) < 0.2, (y + 1) % 3, y), rng.permutation(3)[y]]
    traces = [np.linspace(1.0, 0.2 + 0.1 * s, 30) for s in range(3)]
    runs = {
        s: run_info(s, labelings[s], score=0.7 + 0.1 * s, kappa=kappas[s], trace=traces[s])
        for s in range(3)
    }
    return runs, labelings, traces, y, x


def test_k_evidence_matches_each_criterion_computed_by_hand():
    runs, labelings, traces, vote, x = evidence_case([0.9, 0.5, 0.7])
    ev = k_evidence(runs, vote, x[silhouette_rows(len(vote))], 3)
    assert set(ev) == set(K_CRITERIA)
    stab = np.mean([ari_by_pairs(a, b) for a, b in combinations(labelings, 2)])
    assert ev["stability"] == pytest.approx(stab)
    assert ev["kappa"] == pytest.approx(0.7)
    assert ev["score"] == pytest.approx(0.8)
    fits = [1 - t[-3:].mean() / math.log(3) for t in traces]
    assert ev["outer_fit"] == pytest.approx(np.mean(fits))
    assert ev["silhouette"] == pytest.approx(silhouette_by_hand(x, vote))
    assert ev["kappa_stability"] == pytest.approx(math.sqrt(0.7 * stab))
    assert 0.3 < stab < 0.9  # neither factor trivial


def test_kappa_stability_clips_a_negative_kappa_at_zero():
    runs, *_, vote, x = evidence_case([-0.3, -0.2, -0.1])
    ev = k_evidence(runs, vote, x[silhouette_rows(len(vote))], 3)
    assert ev["kappa"] == pytest.approx(-0.2) and ev["stability"] > 0.5
    assert ev["kappa_stability"] == 0.0


def test_kappa_is_nan_when_a_run_was_written_without_it():
    runs, *_, vote, x = evidence_case([0.9, None, 0.7])
    ev = k_evidence(runs, vote, x[silhouette_rows(len(vote))], 3)
    assert math.isnan(ev["kappa"]) and math.isnan(ev["kappa_stability"])
    assert not math.isnan(ev["stability"]) and not math.isnan(ev["score"])


@pytest.mark.parametrize("fault", ["no trace", "no cross-entropy", "other samples"])
def test_k_evidence_names_the_bad_run(fault):
    runs, _, _, vote, x = evidence_case([0.9, 0.8, 0.7])
    good = runs[1]
    bad_path = "results/k3/seed1.h5"
    if fault == "no trace":
        runs[1] = dataclasses.replace(good, path=bad_path, trace=None)
    elif fault == "no cross-entropy":
        runs[1] = dataclasses.replace(good, path=bad_path, trace={"loss": np.ones(30)})
    else:
        runs[1] = dataclasses.replace(good, path=bad_path, labels=good.labels[:-5])
    with pytest.raises(InputError) as err:
        k_evidence(runs, vote, x[silhouette_rows(len(vote))], 3)
    message = str(err.value)
    assert bad_path in message and "\n" not in message
    if fault == "other samples":
        assert "55" in message and "60" in message


# ---- choose_k ---------------------------------------------------------------------------------


def table(values: dict[int, float], criterion: str = "stability") -> dict[int, dict[str, float]]:
    """A table of evidence where only ``criterion`` varies (the others would pick another K)."""
    other = {k: -float(k) for k in values}
    return {k: {c: values[k] if c == criterion else other[k] for c in K_CRITERIA} for k in values}


def test_choose_k_takes_the_highest_value_of_the_criterion():
    assert choose_k(table({2: 0.3, 3: 0.9, 4: 0.5}), "stability") == 3
    assert choose_k(table({2: 0.3, 3: 0.9, 4: 0.95}, "kappa"), "kappa") == 4
    assert choose_k(table({2: 0.3, 3: 0.9, 4: 0.95}, "kappa"), "stability") == 2  # -K


def test_choose_k_ties_go_to_the_larger_k_and_nan_is_skipped():
    assert choose_k(table({6: 0.8, 4: 0.8, 5: 0.8, 3: 0.1}), "stability") == 6
    assert choose_k(table({2: 1.0, 4: 1.0, 5: 0.8}), "stability") == 4
    assert choose_k(table({2: math.nan, 3: 0.4, 4: 0.6}), "stability") == 4
    assert choose_k(table({2: 0.4, 3: math.nan, 4: 0.2}), "stability") == 2
    assert choose_k(table({2: math.nan, 3: -0.5}), "stability") == 3


def test_choose_k_rejects_an_unknown_criterion_naming_the_key_and_choices():
    with pytest.raises(InputError) as err:
        choose_k(table({2: 0.1, 3: 0.2}), "stabilty")
    message = str(err.value)
    assert "k_choice.criterion" in message and "stabilty" in message and "\n" not in message
    assert all(c in message for c in K_CRITERIA)


def test_choose_k_without_any_value_is_an_input_error():
    with pytest.raises(InputError, match="kappa"):
        choose_k(table({2: math.nan, 3: math.nan}, "kappa"), "kappa")


def test_choose_k_with_one_k_picks_it_whatever_the_criterion():
    """With one K nothing is chosen: that K, even where no criterion has a value (one run)."""
    for criterion in K_CRITERIA:
        assert choose_k(table({4: math.nan}, criterion), criterion) == 4
        assert choose_k({7: {c: math.nan for c in K_CRITERIA}}, criterion) == 7
    with pytest.raises(InputError, match=r"k_choice\.criterion"):
        choose_k(table({4: 0.5}), "stabilty")


def test_the_criteria_that_compare_runs_are_those_one_run_leaves_without_a_value():
    """PAIRWISE_K_CRITERIA, which the plan refuses with num_runs 1 in a sweep, are exactly
    the criteria that one run of a K leaves NaN."""
    runs, *_, vote, x = evidence_case([0.9, 0.8, 0.7])
    one_run = k_evidence({0: runs[0]}, vote, x[silhouette_rows(len(vote))], 3)
    assert {c for c, v in one_run.items() if math.isnan(v)} == set(PAIRWISE_K_CRITERIA)
    assert set(PAIRWISE_K_CRITERIA) < set(K_CRITERIA)


@pytest.mark.parametrize("criterion", ["stability", "kappa_stability"])
def test_a_sweep_of_single_runs_names_num_runs_and_the_criterion(criterion):
    values = {
        k: {c: math.nan if c in PAIRWISE_K_CRITERIA else 0.5 for c in K_CRITERIA} for k in (3, 4)
    }
    with pytest.raises(InputError) as err:
        choose_k(values, criterion)
    message = str(err.value)
    assert f"k_choice.criterion={criterion!r}" in message and "num_runs >= 2" in message
    assert "\n" not in message


def test_one_run_of_one_k_gives_the_choice_and_vote_the_report_reads(tmp_path):
    """The choose_k job of a single K with num_runs 1: that K is picked whatever the
    criterion, and its k_choice.json reads back with the runs, the evidence (stability
    null, read as NaN) and the K the report and the prediction read."""
    x, y = blobs(n=40, k=3, sep=3.0, seed=4)
    write_h5(tmp_path / "data.h5", {"split": np.zeros(40, np.int8)}, {})
    write_h5(tmp_path / "b.h5", {"features": x.astype(np.float32)}, {})
    run = write_fake_run(
        tmp_path / "k3/runs/seed0.h5", 0, y, 0.8, kappa=0.7, trace={"cross_entropy": np.ones(10)}
    )
    vote = tmp_path / "k3/vote.csv"
    write_vote(vote, pd.DataFrame({"sample_index": np.arange(40), "label": y, "agreement": 1.0}))
    for criterion in K_CRITERIA:
        choice = choose_task_k([run], {3: vote}, tmp_path / "data.h5", tmp_path / "b.h5", criterion)
        write_k_choice(tmp_path / "k_choice.json", choice)
        read = read_k_choice(tmp_path / "k_choice.json")
        assert (read.chosen_k, read.n_runs, read.criterion) == (3, {3: 1}, criterion)
        assert (read.method, read.spaces) == ("hume", ["a", "b"])
        assert set(read.evidence[3]) == set(K_CRITERIA)
        assert math.isnan(read.evidence[3]["stability"])
        assert read.evidence[3]["kappa"] == pytest.approx(0.7)


# ---- run file ---------------------------------------------------------------------------------


def test_run_file_keeps_kappa_and_reads_none_without_it(tmp_path):
    rng = np.random.default_rng(10)
    trace = {"loss": np.ones(5, np.float32), "cross_entropy": np.arange(5.0)}
    encoder = rng.normal(size=(3, 4)).astype(np.float32)
    path = write_fake_run(
        tmp_path / "seed7.h5",
        7,
        rng.integers(0, 3, 12),
        0.75,
        kappa=0.4321,
        encoders={"a": encoder},
        trace=trace,
    )
    run = read_run(path, RUN_ARRAYS)
    assert run.kappa == pytest.approx(0.4321) and run.score == pytest.approx(0.75)
    assert run.method == "hume" and run.spaces == ("a", "b")
    np.testing.assert_array_equal(run.trace["cross_entropy"], np.arange(5))
    np.testing.assert_array_equal(run.encoders["a"], encoder)
    with h5py.File(path, "r+") as f:
        del f.attrs["kappa"]  # a run file without kappa
    old = read_run(path)
    assert old.kappa is None and old.score == pytest.approx(0.75) and old.n_clusters == 3


def test_stability_equals_scikit_learns_adjusted_rand_index_exactly():
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(4)
    for k, n in [(2, 40), (7, 500), (300, 3000)]:
        labelings = [rng.integers(k, size=n) for _ in range(3)] + [np.zeros(n, dtype=int)]
        labelings.append(labelings[0] * 3 + 1)  # the first, relabelled
        expected = np.mean([adjusted_rand_score(a, b) for a, b in combinations(labelings, 2)])
        assert stability(labelings) == expected


def test_the_silhouette_needs_only_the_rows_it_sees(tmp_path):
    """read_spaces gives the rows asked for, in their order; the silhouette of the rows of
    silhouette_rows is scikit-learn's silhouette of all rows on its own sample, exactly."""
    from sklearn.metrics import silhouette_score

    from hume_workflow.formats.embeddings import read_spaces

    x, y = blobs(n=SILHOUETTE_SAMPLES + 400, k=3, sep=3.0, seed=2)
    x = x.astype(np.float32)
    rows = silhouette_rows(len(y))
    assert len(rows) == SILHOUETTE_SAMPLES
    data, probe = tmp_path / "data.h5", tmp_path / "probe.h5"
    write_h5(data, {"labels": y, "split": np.zeros(len(y), np.int64)}, {})
    write_h5(probe, {"features": x}, {})
    assert np.array_equal(read_spaces(data, [probe], rows[::-1])[0], x[rows[::-1]])
    full = silhouette_score(x, y, sample_size=len(rows), random_state=0)
    assert vote_silhouette(x[rows], y[rows]) == full


# ---- how sure a choice is ----------------------------------------------------------------------


def sweep_of(stabilities: dict[int, float], **others: dict[int, float]) -> dict:
    """Evidence of a sweep: K -> {"stability": ..., and any other criterion given}."""
    return {
        k: {"stability": s, **{name: values[k] for name, values in others.items()}}
        for k, s in stabilities.items()
    }


def test_certainty_names_the_runner_up_and_the_margin_and_says_the_runs_agree():
    evidence = sweep_of({2: 0.3, 3: 0.9, 4: 0.7, 5: 0.1})
    certainty = k_certainty(evidence, "stability")
    assert (certainty.chosen, certainty.runner_up, certainty.edge) == (3, 4, None)
    assert certainty.margin == pytest.approx(0.9 - 0.7)
    assert certainty.identified
    assert certainty.sentence() == (
        f"stability picks K = 3 (0.900; the runner-up K = 4 is 0.200 lower). "
        f"Its runs agree (stability 0.90 >= {AGREEMENT_MIN:g})."
    )


def test_certainty_says_k_is_not_identified_when_the_runs_of_no_k_agree():
    low = AGREEMENT_MIN - 0.1
    certainty = k_certainty(sweep_of({3: low - 0.2, 4: low, 5: low - 0.3}), "stability")
    assert certainty.chosen == 4 and not certainty.identified
    assert certainty.sentence().startswith(
        f"K is not identified: the runs of K = 4 do not agree (stability {low:.2f} < "
    )


def test_certainty_reads_the_agreement_of_the_chosen_k_whatever_the_criterion():
    """kappa picks K = 5, whose runs disagree, though K = 3's agree."""
    evidence = sweep_of({3: 0.95, 5: 0.2}, kappa={3: 0.4, 5: 0.6})
    certainty = k_certainty(evidence, "kappa")
    assert certainty.chosen == 5 and certainty.agreement == 0.2 and not certainty.identified


@pytest.mark.parametrize(
    ("stabilities", "edge"),
    [
        ({2: 0.9, 3: 0.5, 4: 0.4}, None),  # K = 2 is as low as a sweep goes
        ({3: 0.9, 4: 0.5, 5: 0.4}, "smallest"),
        ({3: 0.4, 4: 0.5, 5: 0.9}, "largest"),
    ],
)
def test_certainty_warns_at_an_end_of_the_sweep_that_could_go_further(stabilities, edge):
    certainty = k_certainty(sweep_of(stabilities), "stability")
    assert certainty.edge == edge
    assert ("widen the sweep" in certainty.sentence()) == (edge is not None)


def test_certainty_of_one_k_or_one_run_per_k():
    one_k = k_certainty(sweep_of({4: 0.8}), "stability")
    assert one_k.runner_up is None and one_k.sentence() == "one K, K = 4: nothing was chosen."
    single_runs = sweep_of({3: math.nan, 4: math.nan}, kappa={3: 0.5, 4: 0.3})
    certainty = k_certainty(single_runs, "kappa")
    assert certainty.chosen == 3 and not certainty.identified
    assert "One run per K: whether the runs agree is unknown." in certainty.sentence()


def test_an_outer_fit_below_zero_is_logged_with_why_and_the_spaces_row_norm(tmp_path, caplog):
    """A held-out cross-entropy above log K (worse than a uniform guess) gives a negative
    outer_fit; the log names the K and the last space's mean row norm (computed here)."""
    x, y = blobs(n=40, k=3, sep=3.0, seed=4)
    write_h5(tmp_path / "data.h5", {"split": np.zeros(40, np.int8)}, {})
    write_h5(tmp_path / "b.h5", {"features": x.astype(np.float32)}, {})
    trace = {"cross_entropy": np.full(10, 2 * math.log(3))}  # outer_fit = 1 - 2 = -1
    runs = [
        write_fake_run(tmp_path / f"k3/runs/seed{s}.h5", s, y, 0.8, kappa=0.7, trace=trace)
        for s in (0, 1)
    ]
    vote = tmp_path / "k3/vote.csv"
    write_vote(vote, pd.DataFrame({"sample_index": np.arange(40), "label": y, "agreement": 1.0}))
    with caplog.at_level("WARNING"):
        choose_task_k(runs, {3: vote}, tmp_path / "data.h5", tmp_path / "b.h5", "stability")
    norm = np.sqrt((x.astype(np.float32) ** 2).sum(axis=1)).mean()
    assert "K=3: outer_fit -1.000 is below 0" in caplog.text
    assert f"mean row norm {norm:.1f}" in caplog.text
