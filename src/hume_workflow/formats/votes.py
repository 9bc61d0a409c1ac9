"""A vote's files: ``vote.csv`` (rule ``majority_vote``) and ``labels.csv`` (``export_labels``).

``vote.csv``: one row per sample the vote labels, in the order of the runs' evaluation samples:
``sample_index`` (the sample's row in data.h5), ``label`` (the voted cluster id) and
``agreement`` (the fraction of voting runs that give the sample that label).

``labels.csv``: the same rows, named by the samples' ids: ``sample_id`` (data.h5's
``sample_ids``), ``label``, ``agreement`` and ``reliable`` (agreement at least the threshold
``export.reliable_agreement``, and features that are not constant in any of the task's
spaces).

Both are written atomically by pandas (``index=False``, its default float formatting), so the
same vote always gives the same bytes.
"""

from __future__ import annotations

import os

import pandas as pd

from hume_workflow.errors import InputError
from hume_workflow.formats.io import atomic_path

VOTE_COLUMNS = ("sample_index", "label", "agreement")
LABEL_COLUMNS = ("sample_id", "label", "agreement", "reliable")


def write_vote(path: str | os.PathLike, votes: pd.DataFrame) -> None:
    """Write ``votes`` (:data:`VOTE_COLUMNS`) as ``vote.csv``, atomically."""
    _write_csv(path, votes, VOTE_COLUMNS)


def read_vote(path: str | os.PathLike) -> pd.DataFrame:
    """A ``vote.csv`` (:data:`VOTE_COLUMNS`), its sample indices integers.

    Raises:
        InputError: unreadable, or without those columns (one line naming the file).
    """
    votes = _read_csv(path, VOTE_COLUMNS, "the vote", "a vote.csv", "a majority_vote")
    if not pd.api.types.is_integer_dtype(votes["sample_index"]):
        raise InputError(f"{path}: sample_index is not integers; expected a majority_vote output")
    return votes


def write_labels(path: str | os.PathLike, labels: pd.DataFrame) -> None:
    """Write ``labels`` (:data:`LABEL_COLUMNS`) as ``labels.csv``, atomically."""
    _write_csv(path, labels, LABEL_COLUMNS)


def read_labels(path: str | os.PathLike) -> pd.DataFrame:
    """A ``labels.csv`` (:data:`LABEL_COLUMNS`), its sample ids text and ``reliable`` booleans.

    Raises:
        InputError: unreadable, or without those columns (one line naming the file).
    """
    labels = _read_csv(
        path, LABEL_COLUMNS, "the labels", "a labels.csv", "an export_labels", {"sample_id": str}
    )
    if len(labels) and not pd.api.types.is_bool_dtype(labels["reliable"]):
        raise InputError(f"{path}: reliable is not True/False; expected an export_labels output")
    return labels


def _write_csv(path: str | os.PathLike, table: pd.DataFrame, columns: tuple[str, ...]) -> None:
    """``table``'s ``columns``, in that order, as CSV without the index, atomically.

    Raises:
        ValueError: ``table`` lacks one of ``columns`` (a caller's error).
    """
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"no {missing} columns to write; expected {list(columns)}")
    with atomic_path(path) as tmp:
        table.loc[:, list(columns)].to_csv(tmp, index=False)


def _read_csv(
    path: str | os.PathLike,
    columns: tuple[str, ...],
    what: str,
    file: str,
    output: str,
    dtype: dict | None = None,
) -> pd.DataFrame:
    """The CSV table at ``path`` with at least ``columns``.

    Raises:
        InputError: one line naming ``path``: unreadable (``what`` it holds, the ``file`` it
            should be), or without some of ``columns`` (``output``: the rule that writes it,
            e.g. "a majority_vote").
    """
    try:
        table = pd.read_csv(path, dtype=dtype)
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: cannot read {what} ({err}); expected {file}") from err
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(f"{path}: no {missing} columns; expected {output} output")
    return table
