"""Plan-time checks of features read from files: features_only datasets, precomputed spaces.

What the jobs would refuse, refused before any job starts, from the files' headers (shapes
and dtypes, never the arrays) and the small files (labels, sample ids): a missing file or
array, a pickled or non-numeric array, a 1-D or 3-D array, two splits of different widths, a
space whose rows differ in number from the dataset's, an ids file of the wrong length, a
precomputed space on images without ids. NaN and Inf need every value: the job checks those
(embed/precomputed.py). Torch-free (the Snakemake main process imports it).
"""

from __future__ import annotations

from collections.abc import Mapping

from hume_workflow.data.feature_config import (
    FeatureFiles,
    dataset_label_files,
    label_classes,
    read_label_files,
)
from hume_workflow.data.sample_ids import ID_FORMS, WHOLE
from hume_workflow.data.sources import FEATURES_ONLY
from hume_workflow.errors import InputError
from hume_workflow.plan.backbone_kinds import (
    EXTRACTION_KEYS,
    KINDS,
    PRECOMPUTED,
    PRECOMPUTED_KEYS,
)

#: Keys of the dataset config that only features_only reads.
FEATURES_ONLY_KEYS = ("features", "features_key", "labels")


def features_only_parts(dataset: Mapping) -> dict[str, int]:
    """{part: rows} of a features_only dataset's feature files (headers only), checked."""
    return FeatureFiles.from_dataset(dataset).headers()[0]


def features_only_counts(
    dataset: Mapping, with_classes: bool = True
) -> tuple[int, int, int | None]:
    """(n_train, n_test, classes or None without labels) of a features_only dataset config,
    as its data stage will make it (the split of one file drawn with ``test_fraction``;
    ``max_samples`` keeps each split's share). ``with_classes=False`` reads the headers
    only (classes None): the labels are not read.

    Raises:
        InputError: one line naming the file or key: a bad feature or labels file.
    """
    files = FeatureFiles.from_dataset(dataset)
    rows, _ = files.headers()
    num_classes = None
    label_files = dataset_label_files(dataset, files)
    if label_files is not None and with_classes:
        _, names = label_classes(read_label_files(label_files, rows))
        num_classes = len(names) or None
    if WHOLE in rows:
        n_test = round(dataset.get("test_fraction", 0.2) * rows[WHOLE])
        n_train = rows[WHOLE] - n_test
    else:
        n_train, n_test = rows["train"], rows["test"]
    total = n_train + n_test
    kept = min(total, dataset.get("max_samples") or total)
    n_train = round(n_train * kept / total)
    return n_train, kept - n_train, num_classes


def check_backbone_options(config: Mapping) -> None:
    """The keys of each backbone spec against its kind, and the kinds against the dataset:
    a features_only dataset has no images, so every space is precomputed; the dataset keys
    of features_only on another source.

    Raises:
        InputError: the first key or kind that does not fit.
    """
    dataset = config["dataset"]
    source = dataset["source"]
    if source != FEATURES_ONLY:
        for key in FEATURES_ONLY_KEYS:
            if key in dataset:
                raise InputError(
                    f"config dataset.{key}: only for source {FEATURES_ONLY!r} (this dataset's "
                    f"is {source!r}); expected no {key} key, or source: {FEATURES_ONLY}"
                )
    for name, spec in config["backbones"].items():
        kind, key = spec["kind"], f"config backbones.{name}"
        if KINDS[kind].embeds_images:
            if source == FEATURES_ONLY:
                raise InputError(
                    f"{key}.kind={kind!r}: dataset source {FEATURES_ONLY!r} has no images to "
                    f"embed; expected kind: {PRECOMPUTED} (features read from files)"
                )
            own = [option for option in PRECOMPUTED_KEYS if option in spec and option != "path"]
            if own:
                raise InputError(
                    f"{key}: kind {kind!r} takes no option {own[0]!r}; expected it only with "
                    f"kind: {PRECOMPUTED}"
                )
            continue
        allowed = set(EXTRACTION_KEYS) | set(PRECOMPUTED_KEYS)
        extra = sorted(set(spec) - allowed)
        if extra:
            raise InputError(
                f"{key}: kind {PRECOMPUTED!r} takes no option {extra[0]!r} (it reads features, "
                f"no model); expected some of {', '.join(PRECOMPUTED_KEYS)}, pca_dim, "
                "l2_normalize, float16"
            )


def check_precomputed(name: str, spec: Mapping, dataset: Mapping) -> int:
    """Check a precomputed backbone's files against the dataset config; its width d.

    Rows are matched to samples by the ids file; without one (features_only datasets only)
    by place, so the files must hold the dataset's rows: the same split layout, the same
    number of rows in each split.

    Raises:
        InputError: one line naming the file or key (see the module's docstring).
    """
    files = FeatureFiles.from_backbone(spec, name)
    rows, dim = files.headers()
    key = f"config backbones.{name}"
    if files.ids is not None:
        files.row_ids(rows)  # one id per row, each once
        return dim
    source = dataset["source"]
    if source != FEATURES_ONLY:
        raise InputError(
            f"{key}: the order of its rows is unknown (dataset source {source!r}); expected "
            f"{key}.ids: a file of the sample ids, one per row in order ({ID_FORMS})"
        )
    data = FeatureFiles.from_dataset(dataset)
    data_rows, _ = data.headers()
    if set(rows) != set(data_rows):
        layout = "path: <one file>" if WHOLE in data_rows else "paths: {train: ..., test: ...}"
        raise InputError(
            f"{key}: {'one file' if WHOLE in rows else 'one file per split'} but "
            f"dataset.features gives {'one' if WHOLE in data_rows else 'one per split'}; "
            f"expected {layout}, the dataset's rows in its order (or {key}.ids)"
        )
    for part, n in rows.items():
        if n != data_rows[part]:
            split = "" if part == WHOLE else f"{part} "
            raise InputError(
                f"{files.parts[part]}: {n} rows but {data.parts[part]} "
                f"({data.part_option(part)}) holds {data_rows[part]}; expected the dataset's "
                f"{split}samples, one row each, in its order (or {key}.ids)"
            )
    return dim
