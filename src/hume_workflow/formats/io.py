"""Files of the pipeline: atomic writes, HDF5 datasets/embeddings/runs, JSON, provenance."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import glob
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hume_workflow.errors import InputError

PROVENANCE_PACKAGES = (
    "hume-workflow",
    "torch",
    "torchvision",
    "timm",
    "numpy",
    "scikit-learn",
    "h5py",
)


# errno of a full filesystem, and of a full quota: what each is called in a message
NO_SPACE = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}


class NoSpaceError(InputError):
    """A write stopped by a full filesystem or quota; one line naming the file and the space."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A process killed inside the block leaves at most a hidden ``.<name>.*.tmp.part`` file,
    never a file under the final name that looks complete. Such leftovers of ``path`` are
    removed when it is written again (one writer per output: Snakemake's lock).

    Raises:
        NoSpaceError: the filesystem or the quota is full (:func:`naming_full_disk`); the
            temporary file is removed.
    """
    path = Path(path)
    with naming_full_disk(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(f"{glob.escape(temp_prefix(path))}*.tmp.part"):
            stale.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=".tmp.part")
    os.close(fd)
    try:
        with naming_full_disk(path):
            yield Path(tmp)
            os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp's 0600 would hide results from others
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def naming_full_disk(path: Path) -> Iterator[None]:
    """Turn a full filesystem or quota met while writing ``path`` into a :class:`NoSpaceError`.

    Python reports ENOSPC/EDQUOT as an OSError with that errno; h5py as an OSError or a
    RuntimeError whose message holds HDF5's "errno = 28, error message = 'No space left on
    device'"; either may be followed, in the chain, by another error when the file is closed.
    """
    try:
        yield
    except Exception as err:
        code = no_space_errno(err)
        if code is None:
            raise
        raise NoSpaceError(
            f"{NO_SPACE[code]} writing {path} ({free_space(path)}): "
            "free space or point results elsewhere"
        ) from err


def no_space_errno(error: BaseException) -> int | None:
    """ENOSPC or EDQUOT when ``error``, or an error in its chain, reports one; else None."""
    link: BaseException | None = error
    seen: set[int] = set()
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if getattr(link, "errno", None) in NO_SPACE:
            return link.errno
        for code in NO_SPACE:  # h5py: HDF5's message, the errno inside it
            if os.strerror(code) in str(link) or f"errno = {code}," in str(link):
                return code
        link = link.__cause__ or link.__context__
    return None


def free_space(path: Path) -> str:
    """What is free on the filesystem of ``path``: "1.2 GB free of 50.0 GB on /mount"."""
    folder = next((p for p in (path.parent, *path.parent.parents) if p.exists()), Path("/"))
    mount = folder.resolve()
    while not os.path.ismount(mount):
        mount = mount.parent
    try:
        usage = shutil.disk_usage(folder)
    except OSError:
        return f"free space unknown on {mount}"
    return f"{_size(usage.free)} free of {_size(usage.total)} on {mount}"


def _size(n: float) -> str:
    """``n`` bytes in decimal units: "0 B", "512.0 MB"."""
    units = ["B", "kB", "MB", "GB", "TB"]
    while n >= 1000 and len(units) > 1:
        n /= 1000
        units.pop(0)
    return f"{n:.0f} B" if units[0] == "B" else f"{n:.1f} {units[0]}"


def temp_prefix(path: Path) -> str:
    """Name prefix of the hidden temporary files that stand for ``path`` while it is written."""
    return f".{path.name}."


def current_umask() -> int:
    """The process's file-creation mask (reading it means setting it, so set it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape the numbers, plus Python's."""
    versions = {"python": platform.python_version()}
    for name in PROVENANCE_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON (sorted keys), atomically.

    Objects and lists of objects are indented as ``json.dumps(indent=2)`` would, but a list
    of numbers, strings, booleans or nulls is written on one line, and a list of lists one
    inner list per line: a (1000, 1001) confusion matrix takes 1000 lines, not a million.
    :func:`read_json` reads back the same document.
    """
    with atomic_path(path) as tmp:
        tmp.write_text(json_text(data) + "\n")


def json_text(data: Any, level: int = 0) -> str:
    """``data`` as :func:`write_json` writes it (``level``: the depth of its indent)."""
    inner = JSON_INDENT * (level + 1)
    if isinstance(data, dict) and data:
        items = [
            f"{inner}{json.dumps(_json_key(key))}: {json_text(value, level + 1)}"
            for key, value in sorted(data.items())  # as json.dumps(sort_keys=True)
        ]
    elif isinstance(data, list | tuple) and not all(_json_scalar(v) for v in data):
        items = [f"{inner}{json_text(value, level + 1)}" for value in data]
    else:  # a scalar, an empty container or a list of scalars: one line
        return json.dumps(data)
    ends = "{}" if isinstance(data, dict) else "[]"
    return ends[0] + "\n" + ",\n".join(items) + "\n" + JSON_INDENT * level + ends[1]


JSON_INDENT = "  "


def _json_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float)  # bool is an int


def _json_key(key: Any) -> str:
    """An object's key as json.dumps names it: strings as they are, numbers, booleans and
    None as their JSON text."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def read_json(path: str | os.PathLike) -> Any:
    """The JSON document in ``path``.

    Raises:
        InputError: the file is missing or not JSON (one line naming it).
    """
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: cannot read JSON ({err}); expected the step's output") from err


def read_json_fields(path: str | os.PathLike, cls: type, step: str) -> dict[str, Any]:
    """The fields of the dataclass ``cls`` in the JSON object in ``path``, as written by the
    rule ``step`` (:func:`json_fields`).

    Raises:
        InputError: not JSON, or missing fields (one line naming them and ``step``).
    """
    return json_fields(read_json(path), cls, path, step)


def json_fields(
    data: Any, cls: type, path: str | os.PathLike, step: str, where: str = ""
) -> dict[str, Any]:
    """{field: value} of the dataclass ``cls``'s fields in the JSON object ``data`` (read from
    ``path``, written by the rule ``step``); a field with a default takes it when absent (a
    file written before the field existed).

    Raises:
        InputError: a field without a default is absent (one line naming them, ``where`` in
            the file, and ``step``).
    """
    given = data if isinstance(data, dict) else {}
    values = {f.name: given.get(f.name, f.default) for f in dataclasses.fields(cls)}
    missing = [name for name, value in values.items() if value is dataclasses.MISSING]
    if missing:
        raise InputError(f"{path}: no {missing} keys{where}; expected a {step} output")
    return values


def write_h5(path: str | os.PathLike, arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> None:
    """Write arrays and attributes to an HDF5 file, atomically.

    Attribute values that are not str/int/float/bool (dicts, lists) are stored as JSON strings.
    """
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name, array in arrays.items():
            f.create_dataset(name, data=array)
        write_attrs(f, attrs)


def write_attrs(f: h5py.File | h5py.Group, attrs: dict[str, Any]) -> None:
    """Attributes of an open HDF5 file; values that are not str/int/float/bool (dicts, lists)
    are stored as JSON strings (sorted keys), which :func:`read_h5` decodes."""
    for key, value in attrs.items():
        ok = isinstance(value, str | int | float | bool | np.integer | np.floating)
        f.attrs[key] = value if ok else json.dumps(value, sort_keys=True)


def read_h5(
    path: str | os.PathLike, names: list[str] | None = None, optional: Sequence[str] = ()
) -> tuple[dict, dict]:
    """Read the named arrays (all when None), those of ``optional`` the file holds, and all
    attributes of an HDF5 file.

    Returns:
        (arrays, attrs); a group is read as a dict of its arrays; attribute strings that
        hold JSON objects or lists are decoded.
    """
    with open_h5(path) as f:
        for name in names or []:
            if name not in f:
                raise InputError(f"{path}: no {name!r} in the file; it holds {sorted(f)}")
        wanted = (names if names is not None else list(f)) + [n for n in optional if n in f]
        arrays = {name: _read_node(f[name]) for name in wanted}
        attrs = {key: decode_attr(value) for key, value in f.attrs.items()}
    return arrays, attrs


@contextlib.contextmanager
def open_h5(path: str | os.PathLike) -> Iterator[h5py.File]:
    """:func:`h5_reader`'s file, closed on exit."""
    with h5_reader(path) as f:
        yield f


def h5_reader(path: str | os.PathLike) -> h5py.File:
    """``path`` opened read-only without HDF5's file locks; the caller closes it.

    Every read of the pipeline opens its files here. HDF5 locks a file even to read it, and
    on NFS/Lustre taking that lock fails ("No locks available") or waits on other readers;
    the lock is not needed, as a file is only read once complete: writers write under a
    temporary name and rename (:func:`atomic_path`).

    Raises:
        InputError: one line naming the file when it is missing, truncated or not HDF5.
    """
    if not Path(path).is_file():
        raise InputError(f"{path}: no such file")
    try:
        return h5py.File(path, "r", locking=False)
    except OSError as err:
        reason = " ".join(str(err).split())
        raise InputError(
            f"{path}: not a readable HDF5 file (truncated or foreign?): {reason}"
        ) from err


def _read_node(node: h5py.Group | h5py.Dataset) -> Any:
    if isinstance(node, h5py.Group):
        return {name: _read_node(child) for name, child in node.items()}
    return node[()]


def decode_attr(value: Any) -> Any:
    """An HDF5 attribute value as Python: bytes decoded, JSON objects/lists parsed, numpy
    scalars as Python scalars."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if isinstance(value, np.generic):
        return value.item()
    return value
