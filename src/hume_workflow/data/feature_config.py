"""The feature files a config names: a ``precomputed`` backbone's, or a ``features_only``
dataset's, with their sample ids and labels.

A ``precomputed`` backbone (embed/precomputed.py) and a ``features_only`` dataset
(data/features_only.py) read the files a config names, in one of two layouts: one file of
every sample (``path``, ``dataset.features: <file>``) or one per split (``paths: {train: ...,
test: ...}``). Each file is read by formats/feature_files.py (the array named by ``key``,
default ``features``). An ids file holds one id per row, in the rows' order; without one, a
row is known only by its place (data/sample_ids.py). The plan reads only the headers; the jobs
read the arrays. Torch-free: the Snakemake main process imports this module to check a config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hume_workflow.data.sample_ids import SPLIT_PARTS, WHOLE, part_ids
from hume_workflow.errors import InputError
from hume_workflow.formats.feature_files import (
    DEFAULT_KEY,
    LABELS_KEY,
    ArrayHeader,
    array_header,
    check_finite_rows,
    check_matrix,
    check_vector,
    read_array,
    read_ids,
)


@dataclass(frozen=True)
class FeatureFiles:
    """The files of one precomputed space, or the feature files of a features_only dataset.

    ``parts``: {"all": one file of every row} or {"train": ..., "test": ...}, one per split.
    ``ids``: the ids file of the rows of every part in order (train, then test), or one per
    part (same keys as ``parts``), or None: rows known by place (:func:`part_ids`).
    ``option``: the config key the files are named under, e.g. "config backbones.clip".
    """

    parts: dict[str, Path]
    key: str
    ids: Path | dict[str, Path] | None
    option: str
    _single: str = "path"  # the config key of one file; of per-split files: its plural

    @classmethod
    def from_backbone(cls, spec: Mapping, name: str) -> FeatureFiles:
        """The files of the precomputed backbone ``name`` (its config ``spec``).

        Raises:
            InputError: neither or both of ``path`` and ``paths``, or ``ids`` per split with
                one features file.
        """
        option = f"config backbones.{name}"
        path, paths = spec.get("path"), spec.get("paths")
        if (path is None) == (paths is None):
            which = "both" if path is not None else "neither"
            raise InputError(
                f"{option}: kind 'precomputed' has {which} of 'path' and 'paths'; expected "
                "one: path (one file of every sample) or paths: {train: ..., test: ...}"
            )
        parts = file_parts(path if path is not None else paths, f"{option}.paths")
        ids = spec.get("ids")
        if isinstance(ids, Mapping):
            if set(ids) != set(parts):
                raise InputError(
                    f"{option}.ids: one file per split needs paths per split with the same "
                    f"keys ({', '.join(parts)}); expected ids: <one file of every row>"
                )
            ids = {part: Path(ids[part]) for part in parts}
        elif ids is not None:
            ids = Path(ids)
        return cls(parts, spec.get("key") or DEFAULT_KEY, ids, option)

    @classmethod
    def from_dataset(cls, dataset: Mapping) -> FeatureFiles:
        """The feature files of a features_only ``dataset`` config (its rows: the samples).

        Raises:
            InputError: no ``features`` key.
        """
        features = dataset.get("features")
        if features is None:
            raise InputError(
                "config dataset: source 'features_only' needs the key 'features' (one file, or "
                "{train: ..., test: ...}): the feature files whose rows are the samples"
            )
        parts = file_parts(features, "config dataset.features")
        key = dataset.get("features_key") or DEFAULT_KEY
        return cls(parts, key, None, "config dataset", "features")

    def _header(self, part: str) -> ArrayHeader:
        key_option = (
            f"{self.option}.key" if self._single == "path" else "config dataset.features_key"
        )
        return array_header(self.parts[part], self.key, self.part_option(part), key_option)

    def part_option(self, part: str) -> str:
        """The config key naming the file of ``part``."""
        if part == WHOLE:
            return f"{self.option}.{self._single}"
        plural = "paths" if self._single == "path" else self._single
        return f"{self.option}.{plural}.{part}"

    def headers(self) -> tuple[dict[str, int], int]:
        """({part: rows}, d) from the files' headers, checked (2-D, numeric, one width).

        Raises:
            InputError: one line naming the file (see :func:`check_matrix`), or two files of
                different widths.
        """
        rows, dims = {}, {}
        for part in self.parts:
            header = self._header(part)
            rows[part], dims[part] = check_matrix(header)
        first, *rest = self.parts
        for part in rest:
            if dims[part] != dims[first]:
                raise InputError(
                    f"{self.parts[part]}: {dims[part]} columns but {self.parts[first]} has "
                    f"{dims[first]}; expected the same features in every file"
                )
        return rows, dims[first]

    def value_bytes(self) -> int:
        """Bytes of one stored value, the widest over the files (headers only; 4 where numpy
        has no such type)."""
        headers = (self._header(part) for part in self.parts)
        return max(4 if h.dtype is None else h.dtype.itemsize for h in headers)

    def row_ids(self, rows: dict[str, int]) -> list[str]:
        """The ids of every row, parts in order: from the ids files, else by place.

        Raises:
            InputError: an ids file whose count differs from its rows, or an id given twice.
        """
        if self.ids is None:
            return [i for part, n in rows.items() for i in part_ids(part, n)]
        if isinstance(self.ids, dict):
            found = []
            for part, path in self.ids.items():
                ids = read_ids(path, f"{self.option}.ids.{part}")
                self._check_count(path, len(ids), rows[part], str(self.parts[part]))
                found += ids
            duplicated = _first_duplicate(found)
            if duplicated is not None:
                raise InputError(
                    f"{self.ids['test']}: id {duplicated!r} is in {self.ids['train']} too; "
                    "expected each sample once"
                )
            return found
        found = read_ids(self.ids, f"{self.option}.ids")
        files = " + ".join(str(p) for p in self.parts.values())
        self._check_count(self.ids, len(found), sum(rows.values()), files)
        return found

    @staticmethod
    def _check_count(path: Path, n_ids: int, n_rows: int, files: str) -> None:
        if n_ids != n_rows:
            raise InputError(
                f"{path}: {n_ids} ids but {files} holds {n_rows} rows; expected one id per "
                "row, in the rows' order"
            )

    def ids_where(self) -> str:
        """What names the rows, for messages: the ids file(s), else the feature files."""
        if self.ids is None:
            return " + ".join(str(p) for p in self.parts.values())
        if isinstance(self.ids, dict):
            return " + ".join(str(p) for p in self.ids.values())
        return str(self.ids)

    def read(self) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Every row, parts in order: float32 (R, d) features, their ids, and the split each
        row's file holds ((R,) int8: 0 train, 1 test, -1 one file of every split).

        Raises:
            InputError: one line naming the file: a bad header (:meth:`headers`), an ids file
                that does not fit (:meth:`row_ids`), NaN or Inf (also after the cast to
                float32), or an unreadable array.
        """
        rows, _ = self.headers()
        ids = self.row_ids(rows)
        blocks, splits = [], []
        for part in self.parts:
            header = self._header(part)
            block = read_array(header)
            check_finite_rows(block, header.where)
            with np.errstate(over="ignore"):  # overflow is checked next
                block = block.astype(np.float32, copy=False)
            check_finite_rows(block, f"{header.where} cast to float32")
            blocks.append(block)
            splits.append(np.full(len(block), SPLIT_PARTS.get(part, -1), np.int8))
        features = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
        return features, ids, np.concatenate(splits)


def file_parts(value: str | os.PathLike | Mapping, option: str) -> dict[str, Path]:
    """{"all": path} for one file, {"train": ..., "test": ...} for one per split."""
    if isinstance(value, Mapping):
        if set(value) != set(SPLIT_PARTS):
            raise InputError(
                f"{option}: has the keys {sorted(value)}; expected train and test (a 'val' "
                "file is the test split: test: <..._val.npy>)"
            )
        return {part: Path(value[part]) for part in SPLIT_PARTS}
    return {WHOLE: Path(value)}


def dataset_label_files(dataset: Mapping, features: FeatureFiles) -> dict[str, Path] | None:
    """The labels files of a features_only ``dataset`` config, one per part of its feature
    files (``features``), or None without labels.

    Raises:
        InputError: labels in another layout than the features (one file against two).
    """
    labels = dataset.get("labels")
    if labels is None:
        return None
    parts = file_parts(labels, "config dataset.labels")
    if set(parts) != set(features.parts):
        expected = "one file" if WHOLE in features.parts else "{train: ..., test: ...}"
        raise InputError(
            f"config dataset.labels: {'one file' if WHOLE in parts else 'one file per split'} "
            f"but dataset.features gives {'one' if WHOLE in features.parts else 'one per split'}"
            f"; expected {expected}, as dataset.features"
        )
    return parts


def read_label_files(
    files: dict[str, Path], rows: dict[str, int], key: str = LABELS_KEY
) -> np.ndarray:
    """The int64 labels of every row, parts in order, checked against the features' rows.

    Raises:
        InputError: one line naming the file: not 1-D integers, a count that differs from
            its features' rows, or a value below -1.
    """
    labels = []
    for part, path in files.items():
        header = array_header(path, key, f"config dataset.labels.{part}")
        n = check_vector(header)
        if n != rows[part]:
            raise InputError(
                f"{path}: {n} labels but the {part} features hold {rows[part]} rows; expected "
                "one label per row"
            )
        values = read_array(header).astype(np.int64)
        if (values < -1).any():
            raise InputError(
                f"{path}: label {int(values.min())}; expected class ids >= 0 (-1 where unknown)"
            )
        labels.append(values)
    return np.concatenate(labels)


def _first_duplicate(ids: list[str]) -> str | None:
    seen: set[str] = set()
    for sample_id in ids:
        if sample_id in seen:
            return sample_id
        seen.add(sample_id)
    return None


def label_classes(labels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(labels as 0..C-1, -1 kept; the C class names, the distinct values >= 0 as text)."""
    values = np.unique(labels[labels >= 0])
    codes = np.where(labels >= 0, np.searchsorted(values, labels), -1).astype(np.int64)
    return codes, [str(v) for v in values.tolist()]
