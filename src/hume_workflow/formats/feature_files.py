"""The user's own files of features, labels and sample ids: read with checks, never unpickled.

Files read:

- ``.npy`` and ``.npz`` (numpy, read with ``allow_pickle=False``: an object array, which numpy
  stores as a pickle, is refused and never unpickled; so is a pickle saved as ``.npy``),
  ``.h5``/``.hdf5`` (h5py) and ``.safetensors``;
- in a file of several arrays (.npz, .h5, .safetensors), the one named by ``key`` (default
  ``features``; an HDF5 key may be a path inside the file, ``group/features``).

:func:`array_header` reads only the header (shape and dtype, in milliseconds whatever the
file's size); :func:`read_array` the array. An ids file (:func:`read_ids`) holds one id per
row, in the rows' order: a text file, one per line, or a CSV file, its first column (a first
row ``id`` or ``sample_id`` is a header). Which files a config names, and how their rows
become the dataset's samples: data/feature_config.py and data/sample_ids.py.
"""

from __future__ import annotations

import csv
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import h5py
import numpy as np

from hume_workflow.errors import InputError
from hume_workflow.formats.io import open_h5

#: File types read, by suffix.
FEATURE_SUFFIXES = (".npy", ".npz", ".h5", ".hdf5", ".safetensors")
#: The array read from a file of several arrays when the config names none.
DEFAULT_KEY = "features"
#: The array of labels in a file of several arrays.
LABELS_KEY = "labels"
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

    @property
    def where(self) -> str:
        """The file and array, for messages: ``<path>``, or ``<path>[<key>]``."""
        return str(self.path) if self.key is None else f"{self.path}[{self.key}]"


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
            f"{header.where}: {what} are {len(shape)}-D {shape}{one}; expected a 2-D (N, d) "
            "array, one row per sample"
        )
    if 0 in shape:
        raise InputError(f"{header.where}: {what} are empty {shape}; expected (N, d), N, d > 0")
    return int(shape[0]), int(shape[1])


def check_vector(header: ArrayHeader, what: str = "labels") -> int:
    """N of an integer (N,) array (labels).

    Raises:
        InputError: one line naming the file: not integers, or not 1-D.
    """
    _check_numeric(header, what, "iu", "integers (-1 where unknown)")
    if len(header.shape) != 1:
        raise InputError(
            f"{header.where}: {what} are {len(header.shape)}-D {header.shape}; expected a "
            "1-D (N,) array, one per sample"
        )
    return int(header.shape[0])


def _check_numeric(header: ArrayHeader, what: str, kinds: str, expected: str) -> None:
    dtype = header.dtype
    if dtype is not None and dtype.hasobject and header.path.suffix.lower() in (".npy", ".npz"):
        raise InputError(
            f"{header.where}: {what} are an object array, stored as a pickle, which is never "
            f"loaded (allow_pickle=False); expected {expected} (save a numeric array)"
        )
    if dtype is None or dtype.kind not in kinds:
        raise InputError(
            f"{header.where}: {what} are {header.dtype_name}, not numbers of the right kind; "
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
        raise InputError(f"{header.where}: cannot read the array ({reason})") from err
    if tuple(array.shape) != header.shape:
        raise InputError(
            f"{header.where}: read {array.shape} but its header says {header.shape}; "
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
