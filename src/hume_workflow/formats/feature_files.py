"""The user's own files: features computed elsewhere, their labels and their sample ids.

A ``precomputed`` backbone (embed/precomputed.py) and a ``features_only`` dataset
(data/features.py) read arrays from the files a config names:

- ``.npy`` and ``.npz`` (numpy, read with ``allow_pickle=False``: an object array, which numpy
  stores as a pickle, is refused and never unpickled; so is a pickle saved as ``.npy``),
  ``.h5``/``.hdf5`` (h5py) and ``.safetensors``;
- in a file of several arrays (.npz, .h5, .safetensors), the one named by ``key`` (default
  ``features``; an HDF5 key may be a path inside the file, ``group/features``).

The plan reads only the headers (:func:`array_header`: shape and dtype, in milliseconds
whatever the file's size); the jobs read the arrays. Torch-free: the Snakemake main process
imports this module to check a config.

Rows are matched to the dataset's samples by their ids (:func:`align_rows`). An ids file
holds one id per row, in the rows' order: a text file, one per line, or a CSV file, its first
column (a first row ``id`` or ``sample_id`` is a header). Without one, a row is known only by
its place, ``<part>:<row>`` (:func:`part_ids`): ``train:0``, ``test:41``, or ``all:7`` for
one file of every sample; a ``features_only`` dataset names its samples so.
"""

from __future__ import annotations

import csv
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import h5py
import numpy as np

from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import TEST, TRAIN
from hume_workflow.formats.io import open_h5

#: File types read, by suffix.
FEATURE_SUFFIXES = (".npy", ".npz", ".h5", ".hdf5", ".safetensors")
#: The array read from a file of several arrays when the config names none.
DEFAULT_KEY = "features"
#: The array of labels in a file of several arrays.
LABELS_KEY = "labels"
#: Per-split files: the part names a config uses and the split each holds.
SPLIT_PARTS = {"train": TRAIN, "test": TEST}
#: The part name of one file holding every sample.
WHOLE = "all"
#: How data.h5 names its samples, by source: what an ids file must hold.
ID_FORMS = (
    "image paths relative to dataset.root for image_folder and imagenet, '<part>:<row>' for "
    "features_only, '<source>:<index>' for the other sources (e.g. 'cifar10:50001')"
)
#: A header row of a CSV ids file (its first cell, lower-cased).
ID_HEADERS = ("id", "sample_id")
# safetensors' dtype names, and numpy's dtype of each (None: numpy has none).
_SAFETENSORS_DTYPES: dict[str, type | None] = {
    "F16": np.float16,
    "F32": np.float32,
    "F64": np.float64,
    "I8": np.int8,
    "I16": np.int16,
    "I32": np.int32,
    "I64": np.int64,
    "U8": np.uint8,
    "U16": np.uint16,
    "U32": np.uint32,
    "U64": np.uint64,
    "BOOL": np.bool_,
}
_NPY_MAGIC = b"\x93NUMPY"
_PICKLE_PROTOCOL = b"\x80"  # first byte of a pickle of protocol 2 or later


@dataclass(frozen=True)
class ArrayHeader:
    """Shape and dtype of one array in a file, read without reading the array.

    ``dtype`` is None where numpy has no such type (safetensors' bfloat16 and float8);
    ``dtype_name`` is then the file's own name for it.
    """

    path: Path
    key: str | None  # None for .npy, a file of one array
    shape: tuple[int, ...]
    dtype: np.dtype | None
    dtype_name: str


def array_header(
    path: str | os.PathLike, key: str = DEFAULT_KEY, option: str = "", key_option: str = ""
) -> ArrayHeader:
    """The header of the array ``key`` of ``path`` (a .npy file holds one: ``key`` unused).

    Args:
        option: the config key that names ``path``, e.g. "config backbones.clip.path",
            named in the message when the file is missing.
        key_option: the config key that names ``key``, named when the array is missing.

    Raises:
        InputError: one line naming the file: missing, of an unknown type, not readable as
            its type, a pickle, or without the array ``key``.
    """
    path = Path(path)
    if not path.is_file():
        named = f"{option}={str(path)!r}" if option else str(path)
        raise InputError(f"{named}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        with open(path, "rb") as fp:
            shape, dtype = _npy_header(fp, path)
        return ArrayHeader(path, None, shape, dtype, str(dtype))
    hint = f" (set {key_option})" if key_option else ""
    if suffix == ".npz":
        return _npz_header(path, key, hint)
    if suffix in (".h5", ".hdf5"):
        with open_h5(path) as f:
            node = f.get(key)
            if not isinstance(node, h5py.Dataset):
                names: list[str] = []
                f.visititems(lambda name, obj: names.append(name) if _is_dataset(obj) else None)
                raise InputError(f"{path}: no dataset {key!r}; it holds {names}{hint}")
            return ArrayHeader(path, key, tuple(node.shape), node.dtype, str(node.dtype))
    if suffix == ".safetensors":
        with _safetensors(path) as f:
            keys = list(f.keys())
            if key not in keys:
                raise InputError(f"{path}: no tensor {key!r}; it holds {keys}{hint}")
            tensor = f.get_slice(key)
            shape, name = tuple(tensor.get_shape()), tensor.get_dtype()
        numpy_type = _SAFETENSORS_DTYPES.get(name)
        dtype = None if numpy_type is None else np.dtype(numpy_type)
        return ArrayHeader(path, key, shape, dtype, name)
    raise InputError(
        f"{path}: unknown file type {path.suffix!r}; expected {', '.join(FEATURE_SUFFIXES)}"
    )


def _is_dataset(obj: object) -> bool:
    return isinstance(obj, h5py.Dataset)


def _npy_header(fp: IO[bytes], path: Path, member: str = "") -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from the header of a .npy stream, read up to the data."""
    where = f"{path}{member}"
    magic = fp.read(len(_NPY_MAGIC))
    if magic != _NPY_MAGIC:
        if magic.startswith(_PICKLE_PROTOCOL):
            raise InputError(
                f"{where}: holds a pickle, which is never loaded (allow_pickle=False); "
                "expected a numeric array saved with numpy.save"
            )
        raise InputError(f"{where}: not a .npy file; expected an array saved with numpy.save")
    major = fp.read(2)[:1]
    try:
        if major == b"\x01":
            shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
        else:  # 2.0, and 3.0 (the same header in UTF-8)
            shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
    except ValueError as err:
        reason = " ".join(str(err).split())
        raise InputError(
            f"{where}: unreadable .npy header ({reason}); expected numpy.save output"
        ) from err
    return tuple(shape), dtype


def _npz_header(path: Path, key: str, hint: str) -> ArrayHeader:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as err:
        raise InputError(f"{path}: not a .npz file ({err}); expected numpy.savez output") from err
    with archive:
        names = [n.removesuffix(".npy") for n in archive.namelist() if n.endswith(".npy")]
        if key not in names:
            raise InputError(f"{path}: no array {key!r}; it holds {names}{hint}")
        with archive.open(f"{key}.npy") as fp:
            shape, dtype = _npy_header(fp, path, f"[{key}]")
    return ArrayHeader(path, key, shape, dtype, str(dtype))


def _safetensors(path: Path):
    """``path`` opened with safetensors (numpy tensors), as a context manager."""
    from safetensors import safe_open

    try:
        return safe_open(str(path), framework="np")
    except Exception as err:  # SafetensorError, from the Rust extension
        reason = " ".join(str(err).split())
        raise InputError(
            f"{path}: not a readable .safetensors file ({reason}); expected "
            "safetensors.numpy.save_file output"
        ) from err


def check_matrix(header: ArrayHeader, what: str = "features") -> tuple[int, int]:
    """(rows, columns) of a numeric 2-D array.

    Raises:
        InputError: one line naming the file: Python objects (pickled), a dtype that is not
            numbers (strings, booleans, complex, bfloat16), not 2-D, no rows or no columns.
    """
    _check_numeric(header, what, "fiu", "float or integer values")
    shape = header.shape
    if len(shape) != 2:
        one = " (one vector: a single sample, or labels?)" if len(shape) == 1 else ""
        raise InputError(
            f"{_where(header)}: {what} are {len(shape)}-D {shape}{one}; expected a 2-D (N, d) "
            "array, one row per sample"
        )
    if 0 in shape:
        raise InputError(f"{_where(header)}: {what} are empty {shape}; expected (N, d), N, d > 0")
    return int(shape[0]), int(shape[1])


def check_vector(header: ArrayHeader, what: str = "labels") -> int:
    """N of an integer (N,) array (labels).

    Raises:
        InputError: one line naming the file: not integers, or not 1-D.
    """
    _check_numeric(header, what, "iu", "integers (-1 where unknown)")
    if len(header.shape) != 1:
        raise InputError(
            f"{_where(header)}: {what} are {len(header.shape)}-D {header.shape}; expected a "
            "1-D (N,) array, one per sample"
        )
    return int(header.shape[0])


def _where(header: ArrayHeader) -> str:
    return str(header.path) if header.key is None else f"{header.path}[{header.key}]"


def _check_numeric(header: ArrayHeader, what: str, kinds: str, expected: str) -> None:
    dtype = header.dtype
    if dtype is not None and dtype.hasobject and header.path.suffix.lower() in (".npy", ".npz"):
        raise InputError(
            f"{_where(header)}: {what} are an object array, stored as a pickle, which is never "
            f"loaded (allow_pickle=False); expected {expected} (save a numeric array)"
        )
    if dtype is None or dtype.kind not in kinds:
        raise InputError(
            f"{_where(header)}: {what} are {header.dtype_name}, not numbers of the right kind; "
            f"expected {expected}"
        )


def read_array(header: ArrayHeader) -> np.ndarray:
    """The array whose (checked) header is ``header``, read whole; never unpickled.

    Raises:
        InputError: the file cannot be read (truncated or changed since its header was read).
    """
    path, key = header.path, header.key
    try:
        suffix = path.suffix.lower()
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                array = archive[key]
        elif suffix == ".safetensors":
            with _safetensors(path) as f:
                array = f.get_tensor(key)
        else:
            with open_h5(path) as f:
                array = f[key][()]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        reason = " ".join(str(err).split())
        raise InputError(f"{_where(header)}: cannot read the array ({reason})") from err
    if tuple(array.shape) != header.shape:
        raise InputError(
            f"{_where(header)}: read {array.shape} but its header says {header.shape}; "
            "expected an unchanged, complete file"
        )
    return array


def read_ids(path: str | os.PathLike, option: str = "") -> list[str]:
    """The sample ids of an ids file, in order (see the module's docstring).

    Raises:
        InputError: missing or not UTF-8 text, an empty line, or an id given twice.
    """
    path = Path(path)
    if not path.is_file():
        named = f"{option}={str(path)!r}" if option else str(path)
        raise InputError(f"{named}: no such file; expected the sample ids, one per row")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(
            f"{path}: not UTF-8 text ({err}); expected one sample id per line"
        ) from err
    if path.suffix.lower() == ".csv":
        ids = [row[0] if row else "" for row in csv.reader(text.splitlines())]
        if ids and ids[0].strip().lower() in ID_HEADERS:
            ids = ids[1:]
    else:
        ids = text.splitlines()
    while ids and ids[-1] == "":
        ids.pop()
    seen: dict[str, int] = {}
    for line, sample_id in enumerate(ids, start=1):
        if sample_id == "":
            raise InputError(f"{path}: line {line} is empty; expected one sample id per row")
        if sample_id in seen:
            raise InputError(
                f"{path}: id {sample_id!r} on rows {seen[sample_id]} and {line}; expected each "
                "sample once"
            )
        seen[sample_id] = line
    return ids


def part_ids(part: str, rows: int) -> list[str]:
    """Ids of the rows of a part known only by their place: ``<part>:<row>``."""
    return [f"{part}:{row}" for row in range(rows)]


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
            check_finite_rows(block, _where(header))
            with np.errstate(over="ignore"):  # overflow is checked next
                block = block.astype(np.float32, copy=False)
            check_finite_rows(block, f"{_where(header)} cast to float32")
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


def _first_duplicate(ids: list[str]) -> str | None:
    seen: set[str] = set()
    for sample_id in ids:
        if sample_id in seen:
            return sample_id
        seen.add(sample_id)
    return None


def check_finite_rows(array: np.ndarray, where: str) -> None:
    """Raise for rows of a 2-D array holding NaN or Inf: how many, and the first.

    Raises:
        InputError: ``<where>: <n> rows hold NaN or Inf (first: row <r>); expected finite
            features``.
    """
    if np.issubdtype(array.dtype, np.integer):
        return
    bad = ~np.isfinite(array).all(axis=1)
    if bad.any():
        raise InputError(
            f"{where}: {int(bad.sum())} rows hold NaN or Inf (first: row "
            f"{int(np.argmax(bad))}); expected finite features"
        )


def align_rows(
    row_ids: list[str],
    row_split: np.ndarray,
    sample_ids: list[str],
    split: np.ndarray,
    where: str,
) -> np.ndarray:
    """(N,) index of each dataset sample's row, by id; rows no sample names are left out.

    Args:
        row_ids, row_split: the rows' ids and the split of each row's file (-1: any).
        sample_ids, split: data.h5's samples, in order, and their split.
        where: what names the rows (ids files, or the feature files), for messages.

    Raises:
        InputError: a sample without a row (names the first, and how the rows are named),
            or a sample in one split whose row is in the other split's file.
    """
    index = {sample_id: row for row, sample_id in enumerate(row_ids)}
    rows = np.fromiter((index.get(s, -1) for s in sample_ids), np.int64, len(sample_ids))
    missing = np.flatnonzero(rows < 0)
    if missing.size:
        first = sample_ids[missing[0]]
        given = f"the rows' ids begin {row_ids[0]!r}" if row_ids else "there are no rows"
        raise InputError(
            f"{where}: {missing.size} of the dataset's {len(sample_ids)} samples have no row, "
            f"e.g. {first!r} ({given}); expected an id per sample as data.h5 names them: "
            f"{ID_FORMS}"
        )
    file_split = row_split[rows]
    wrong = np.flatnonzero((file_split >= 0) & (file_split != split))
    if wrong.size:
        i = int(wrong[0])
        names = {code: part for part, code in SPLIT_PARTS.items()}
        raise InputError(
            f"{where}: {wrong.size} samples are in the other split's file, e.g. "
            f"{sample_ids[i]!r}, a {names[int(split[i])]} sample of the dataset in the "
            f"{names[int(file_split[i])]} file; expected each sample in its split's file"
        )
    return rows


def read_labels(files: dict[str, Path], rows: dict[str, int], key: str = LABELS_KEY) -> np.ndarray:
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


def label_classes(labels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(labels as 0..C-1, -1 kept; the C class names, the distinct values >= 0 as text)."""
    values = np.unique(labels[labels >= 0])
    codes = np.where(labels >= 0, np.searchsorted(values, labels), -1).astype(np.int64)
    return codes, [str(v) for v in values.tolist()]
