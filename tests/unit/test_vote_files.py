"""vote.csv and labels.csv: one writer and one reader each (formats/votes.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hume_workflow.errors import InputError
from hume_workflow.formats.votes import (
    LABEL_COLUMNS,
    VOTE_COLUMNS,
    read_labels,
    read_vote,
    write_labels,
    write_vote,
)


@pytest.fixture
def votes() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "sample_index": np.arange(40, dtype=np.int64) * 3,
            "label": rng.integers(0, 5, 40),
            "agreement": rng.integers(1, 8, 40) / 7,  # fractions with long decimals
        }
    )


@pytest.fixture
def labels(votes: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_id": [f"train/{i}.png" for i in votes["sample_index"]],
            "label": votes["label"],
            "agreement": votes["agreement"],
            "reliable": votes["agreement"] >= 0.5,
        }
    )


def test_vote_is_written_as_pandas_writes_it_and_read_back(tmp_path: Path, votes):
    write_vote(tmp_path / "vote.csv", votes)
    votes.to_csv(tmp_path / "plain.csv", index=False)
    assert (tmp_path / "vote.csv").read_bytes() == (tmp_path / "plain.csv").read_bytes()
    pd.testing.assert_frame_equal(read_vote(tmp_path / "vote.csv"), votes)
    assert {p.name for p in tmp_path.iterdir()} == {"vote.csv", "plain.csv"}  # no temporary


def test_labels_are_written_as_pandas_writes_them_and_read_back(tmp_path: Path, labels):
    write_labels(tmp_path / "labels.csv", labels)
    labels.to_csv(tmp_path / "plain.csv", index=False)
    assert (tmp_path / "labels.csv").read_bytes() == (tmp_path / "plain.csv").read_bytes()
    read = read_labels(tmp_path / "labels.csv")
    assert tuple(read.columns) == LABEL_COLUMNS and read["reliable"].dtype == bool
    assert read["sample_id"].tolist() == labels["sample_id"].tolist()


def test_sample_ids_that_look_like_numbers_stay_text(tmp_path: Path, labels):
    labels["sample_id"] = [f"{i:03d}" for i in range(len(labels))]
    write_labels(tmp_path / "labels.csv", labels)
    assert read_labels(tmp_path / "labels.csv")["sample_id"].tolist()[:2] == ["000", "001"]


def test_columns_are_written_in_the_files_order(tmp_path: Path, votes):
    write_vote(tmp_path / "vote.csv", votes[["agreement", "label", "sample_index"]])
    header = (tmp_path / "vote.csv").read_text().splitlines()[0]
    assert header == ",".join(VOTE_COLUMNS)
    with pytest.raises(ValueError, match="no \\['agreement'\\] columns"):
        write_vote(tmp_path / "other.csv", votes.drop(columns="agreement"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sample_index,label\n0,1\n", r"no \['agreement'\] columns; expected a majority_vote"),
        ("sample_index,label,agreement\na,1,1.0\n", "sample_index is not integers"),
    ],
)
def test_a_bad_vote_file_is_one_line(tmp_path: Path, text, message):
    (tmp_path / "vote.csv").write_text(text)
    with pytest.raises(InputError, match=message):
        read_vote(tmp_path / "vote.csv")


def test_a_bad_labels_file_is_one_line(tmp_path: Path):
    (tmp_path / "labels.csv").write_text("sample_id,label\nx,1\n")
    with pytest.raises(InputError, match=r"no \['agreement', 'reliable'\] columns; expected an"):
        read_labels(tmp_path / "labels.csv")
    with pytest.raises(InputError, match="cannot read the labels"):
        read_labels(tmp_path / "missing.csv")
