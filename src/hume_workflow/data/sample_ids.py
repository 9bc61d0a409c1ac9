"""How the dataset's samples are named, and how rows of feature files are matched to them.

data.h5 names each sample (its ``sample_ids``): the image path relative to ``dataset.root``
for image folders and ImageNet, ``<source>:<index>`` for the in-memory sources
(:func:`array_sample_ids`), ``<part>:<row>`` for the rows of feature files known only by their
place (:func:`part_ids`): ``train:0``, ``test:41``, or ``all:7`` for one file of every sample.
The rows of the user's feature files are matched to the samples by these ids
(:func:`align_rows`); an id that names no sample of the dataset's source, whether data.h5
holds that sample or not (``max_samples``), is refused (:class:`SourceSamples`). Torch-free:
the planner reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from hume_workflow.data.sources import SOURCES, Source
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import TEST, TRAIN

#: Per-split files: the part names a config uses and the split each holds.
SPLIT_PARTS = {"train": TRAIN, "test": TEST}
#: The part name of one file holding every sample.
WHOLE = "all"
#: How data.h5 names its samples, by source: what an ids file must hold.
ID_FORMS = (
    "image paths relative to dataset.root for image_folder and imagenet, '<part>:<row>' for "
    "features_only, '<source>:<index>' for the other sources (e.g. 'cifar10:50001')"
)


def array_sample_ids(source: str, n: int) -> list[str]:
    """Identities ``<source>:<index>`` of the n samples of an in-memory source, in its order."""
    return [f"{source}:{i}" for i in range(n)]


def part_ids(part: str, rows: int) -> list[str]:
    """Ids of the rows of a part known only by their place: ``<part>:<row>``."""
    return [f"{part}:{row}" for row in range(rows)]


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


#: How many of the ids that name no sample a message quotes.
_QUOTED = 3


@dataclass(frozen=True)
class SourceSamples:
    """Which ids name a sample of the source data.h5 was made from: of the whole source, not
    only of the subset data.h5 holds (``max_samples``).

    ``<source>:<index>`` sources: ``<source>:<i>``, 0 <= i < n_train + n_test of its
    published sizes (data/sources.py). Image folders: data.h5's ids, and, where data.h5 is a
    subset, image files under ``dataset.root`` named by their POSIX path relative to it.
    features_only: ``<part>:<row>`` within the rows of the dataset's feature files.

    Attributes:
        identity: data.h5's ``dataset_config`` (plan/dataset.py ``dataset_identity``): its
            ``source``, ``max_samples`` and, for image folders, ``root``.
        held: the ids data.h5 holds, and those of images it skipped as undecodable.
        part_rows: features_only: {part: rows} of the dataset's feature files.
    """

    identity: Mapping[str, Any]
    held: Set[str]
    part_rows: Mapping[str, int] | None = None

    @property
    def source(self) -> Source:
        return SOURCES[self.identity["source"]]

    def names(self, sample_id: str) -> bool:
        """Whether ``sample_id`` names a sample of the source."""
        if sample_id in self.held:
            return True
        source = self.source
        if source.reads == "folder":
            return self.identity.get("max_samples") is not None and _image_file(
                Path(self.identity["root"]), sample_id
            )
        prefix, _, index = sample_id.partition(":")
        if source.reads == "files":
            return 0 <= _index(index) < (self.part_rows or {}).get(prefix, 0)
        return prefix == source.name and 0 <= _index(index) < sum(source.sizes or (0, 0))

    def check(self, ids: Sequence[str], where: str) -> None:
        """Refuse ``ids`` (an ids file's, or rows' by place) that name no sample of the source.

        Raises:
            InputError: ``<where>: <k> of <n> ids name no sample of dataset source '<s>'
                (<what it has>): <the first few>; <how ids are formed>``.
        """
        unknown = [sample_id for sample_id in ids if not self.names(sample_id)]
        if not unknown:
            return
        quoted = ", ".join(repr(i) for i in unknown[:_QUOTED])
        more = ", ..." if len(unknown) > _QUOTED else ""
        raise InputError(
            f"{where}: {len(unknown)} of {len(ids)} ids name no sample of dataset source "
            f"{self.source.name!r} ({self._extent()}): {quoted}{more}; {self._form()}"
        )

    def _extent(self) -> str:
        """What the source holds, for messages."""
        source = self.source
        if source.reads == "folder":
            root = self.identity["root"]
            if self.identity.get("max_samples") is None:
                return f"not among the images under dataset.root={root}, all in data.h5"
            return f"no such image file under dataset.root={root}"
        if source.reads == "files":
            rows = (self.part_rows or {}).items()
            return "it has " + ", ".join(f"{part}:0 to {part}:{n - 1}" for part, n in rows)
        n = sum(source.sizes or (0, 0))
        return f"it has {source.name}:0 to {source.name}:{n - 1}"

    def _form(self) -> str:
        """How the source's ids are formed, for messages."""
        reads = self.source.reads
        if reads == "folder":
            example = f" (e.g. {min(self.held)!r})" if self.held else ""
            return f"expected image paths relative to dataset.root, as data.h5 names them{example}"
        if reads == "files":
            return "expected '<part>:<row>', rows 0-based in the order of dataset.features"
        return (
            "ids are 0-based, '<source>:<index>' in the source's own order (train, then test) "
            "before max_samples subsamples it"
        )


def _index(text: str) -> int:
    """The index a canonical decimal (``"7"``, not ``"07"``, ``"+7"`` or ``"-7"``) spells; -1
    for any other text, which names no row."""
    if not (text.isascii() and text.isdigit()) or str(int(text)) != text:
        return -1
    return int(text)


def _image_file(root: Path, sample_id: str) -> bool:
    """Whether ``sample_id`` is the POSIX path, relative to ``root``, of a file that a scan of
    ``root`` could take (data/folders.py): inside it, not hidden. Its extension is not checked
    (data/images.py, which holds them, imports Pillow, which the embedding env lacks)."""
    path = PurePosixPath(sample_id)
    if path.is_absolute() or path.as_posix() != sample_id or not path.parts:
        return False
    if any(part in ("..", ".") or part.startswith(".") for part in path.parts):
        return False
    return (root / path).is_file()
