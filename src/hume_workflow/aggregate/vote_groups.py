"""Weighted votes of runs aligned to one reference, counted over the few labels the runs give
each sample rather than over all K clusters.

A vote of n runs over N samples with a (N, K) table of weight totals costs N·K memory and time
per vote: 400 MB at K = 1000 and N = 50,000, and the bootstrap votes a thousand times. R runs
give a sample at most R distinct labels, so each run's label is replaced by its *group*, the
rank of that label among the distinct labels all R runs give the sample. Totals per (sample,
group) then take (N, G), G <= R the most groups a sample has, whatever K. Every total adds
the same weights in the same order as
:func:`~hume_workflow.aggregate.alignment.weighted_votes`, and groups are numbered in
increasing label order, so the votes (ties included) are the same, bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from hume_workflow.aggregate.alignment import TIE_TOLERANCE, tie_broken_argmax


@dataclass(frozen=True)
class VoteGroups:
    """Every run's aligned labels as groups per sample (see the module's docstring)."""

    group: np.ndarray  # (R, N) int32: the group of run i's label at sample j
    label: np.ndarray  # (N, G) int64: the label of group g at sample j (-1: no such group);
    # G <= R is the most groups any sample has
    reference: np.ndarray  # (N,) the reference run's group at each sample

    @classmethod
    def of(cls, aligned: np.ndarray, reference: int) -> VoteGroups:
        """The groups of runs ``aligned`` (R, N) to the run of index ``reference`` among them."""
        by_sample = np.ascontiguousarray(aligned.T)  # (N, R)
        order = np.argsort(by_sample, axis=1, kind="stable")
        ordered = np.take_along_axis(by_sample, order, axis=1)
        ranks = np.zeros(by_sample.shape, dtype=np.int32)
        np.cumsum(ordered[:, 1:] != ordered[:, :-1], axis=1, out=ranks[:, 1:])
        group = np.empty_like(ranks)
        np.put_along_axis(group, order, ranks, axis=1)
        label = np.full((len(by_sample), int(ranks.max(initial=0)) + 1), -1, dtype=np.int64)
        np.put_along_axis(label, ranks, ordered, axis=1)
        group = np.ascontiguousarray(group.T)
        return cls(group, label, group[reference].copy())

    @property
    def n_samples(self) -> int:
        return self.group.shape[1]

    def labels(self, groups: np.ndarray) -> np.ndarray:
        """(N,) the labels of one group per sample, ``groups`` (N,)."""
        return self.label[np.arange(self.n_samples), groups]

    def vote(self, runs: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """(N,) the group with the largest total weight of ``runs`` (n,) (indices, repeats
        allowed), each counted with its ``weights`` (n,); ties go to the reference's group
        when it is among the tied, else to the smallest label."""
        n_samples, width = self.label.shape
        cells = (self.group[runs] + np.arange(n_samples, dtype=np.int64) * width).ravel()
        totals = np.bincount(cells, np.repeat(weights, n_samples), n_samples * width)
        return tie_broken_argmax(totals.reshape(n_samples, width), self.reference)

    def agreeing(self, runs: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """(N,) how many of ``runs`` give each sample the label of ``groups`` (N,)."""
        return (self.group[runs] == groups).sum(axis=0)

    def votes_by_n(
        self, runs: np.ndarray, weights: np.ndarray
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """For n = 1..len(runs): (the vote of the first n ``runs`` as :meth:`vote`, how many
        of them agree with it per sample), both (N,), updated run by run.

        Adding a run raises one total per sample, that of the run's group g. Where it passes
        the largest total by more than :data:`TIE_TOLERANCE`, g wins alone; where it stays
        below the largest by more, nothing changes; where it comes within the tolerance
        without passing, g joins the tied: the vote becomes the reference's group if g is it,
        else the smaller of the vote and g (the vote was the smallest tied, or the
        reference's). Only where it passes the largest by less than the tolerance (weights
        that are not whole numbers) is the vote recomputed over every group. The arrays
        yielded are reused: copy to keep them.
        """
        n_samples, width = self.label.shape
        cells = np.arange(n_samples, dtype=np.int64) * width  # each sample's first cell
        totals = np.zeros(n_samples * width)
        counts = np.zeros(n_samples * width, dtype=np.int64)
        largest = np.full(n_samples, -np.inf)
        vote = self.reference.copy()
        for run, weight in zip(runs, weights, strict=True):
            group = self.group[run]
            cell = cells + group
            total = totals[cell] + weight
            totals[cell] = total
            counts[cell] += 1
            rises = total > largest
            threshold = np.where(rises, total, largest) * (1 - TIE_TOLERANCE)
            joins = ~rises & (total >= threshold)
            joined = np.where(
                (vote == self.reference) | (group == self.reference),
                self.reference,
                np.minimum(vote, group),
            )
            vote = np.where(rises, group, np.where(joins, joined, vote))
            unclear = np.flatnonzero(rises & (largest >= threshold))
            if len(unclear):
                near = totals.reshape(n_samples, width)[unclear]
                vote[unclear] = tie_broken_argmax(near, self.reference[unclear])
            np.maximum(largest, total, out=largest)
            yield vote, counts[cells + vote]
