"""Selection by score and the Hungarian-aligned majority vote."""

import numpy as np
import pytest

from hume_workflow.aggregate.alignment import align_to, majority_vote
from hume_workflow.aggregate.ranking import select_top


def test_permuted_copies_vote_back_exactly():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 5, size=100)
    runs = [base] + [rng.permutation(5)[base] for _ in range(6)]
    votes, agreement = majority_vote(np.stack(runs), 5)
    np.testing.assert_array_equal(votes, base)
    np.testing.assert_array_equal(agreement, 1.0)


def test_vote_and_agreement_on_a_hand_made_case():
    # run 0 is the reference. Run 1 uses two clusters with ids swapped: aligned, it is
    # [0, 0, 1, 1, 1]. Run 2 is that labeling already. The last sample gets 1 by 2 votes to 1.
    runs = np.array(
        [
            [0, 0, 1, 1, 2],
            [1, 1, 0, 0, 0],
            [0, 0, 1, 1, 1],
        ]
    )
    votes, agreement = majority_vote(runs, 3)
    np.testing.assert_array_equal(votes, [0, 0, 1, 1, 1])
    np.testing.assert_allclose(agreement, [1, 1, 1, 1, 2 / 3])


def test_ties_go_to_the_best_run():
    # run 1 aligns to run 0 by identity and disagrees on the last sample: a 1-1 tie there
    runs = np.array([[0, 0, 1, 1], [0, 0, 1, 0]])
    votes, agreement = majority_vote(runs, 2)
    np.testing.assert_array_equal(votes, [0, 0, 1, 1])
    np.testing.assert_allclose(agreement, [1, 1, 1, 0.5])
    votes, _ = majority_vote(runs[::-1], 2)  # the other run first: its label wins the tie
    np.testing.assert_array_equal(votes, [0, 0, 1, 0])


def test_align_handles_unused_clusters():
    reference = np.array([0, 0, 1, 1, 2, 2])
    labels = np.array([3, 3, 3, 3, 0, 0])  # two clusters only
    aligned = align_to(labels, reference, 4)
    assert aligned[4] == 2 and aligned[0] in (0, 1)


def test_select_top_ranks_by_score_then_seed():
    scores = {3: 0.5, 1: 0.9, 2: 0.9, 0: 0.1}
    assert select_top(scores, None) == [1, 2, 3, 0]
    assert select_top(scores, 2) == [1, 2]
    with pytest.raises(ValueError, match="top_n=0"):
        select_top(scores, 0)
