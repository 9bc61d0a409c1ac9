"""Scheduler requests (memory, runtime) computed from the config and the inputs.

Imported by the Snakemake main process when it builds the DAG: only stdlib, numpy and h5py
here, never torch. Estimates err on the generous side (a ``MARGIN`` on top of each model) and
grow with the retry ``attempt``, so a job killed for its request gets more the next time.
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np

from hume_workflow.data.feature_config import FeatureFiles
from hume_workflow.data.setting import SETTINGS
from hume_workflow.data.sources import SOURCES
from hume_workflow.errors import InputError
from hume_workflow.formats.embeddings import features_dataset
from hume_workflow.formats.io import open_h5, read_h5
from hume_workflow.plan.backbone_kinds import kind_of
from hume_workflow.plan.features import features_only_counts

# Sizes are the sources' published ones (data/sources.py). Unknown sizes (image_folder): a
# placeholder until data.h5 exists; Snakemake re-evaluates resources before it schedules a
# job, so the real count is used by then.
UNKNOWN_SIZE = (50000, 0)

MARGIN = 1.5  # runtime margin on top of each model
MEM_MARGIN = 1.3  # memory margin on top of each model
STARTUP_MIN = 10  # minutes of start-up and I/O per job
MIN_MEM_MB = 1000

# Feature extraction.
EMBED_BASE_BYTES = 3e9  # model and batch
PIXELS_BASE_BYTES = 1e9
MAX_FEATURE_DIM = 2048  # widest common pooled features (ResNet-50): an upper bound
CPU_IMAGES_PER_SEC = 100
GPU_IMAGES_PER_SEC = 1500
PIXELS_IMAGES_PER_SEC = 5000
# Precomputed features (embed/precomputed.py): read, aligned, written; no model.
PRECOMPUTED_BASE_BYTES = 5e8
PRECOMPUTED_ROWS_PER_SEC = 50000


def dataset_samples(dataset: dict, data_path: str | None = None) -> tuple[int, int]:
    """(n_train, n_test): counted from data.h5's (N,) "split" if it exists, else estimated
    from the source's published sizes (a drawn split from the defaults-filled
    ``dataset.test_fraction``; for features_only from its files' headers)."""
    if data_path is not None and os.path.exists(data_path):
        return _split_counts(data_path, os.stat(data_path).st_mtime_ns)
    source = SOURCES.get(dataset["source"])
    if source is not None and source.reads == "files":
        return features_only_counts(dataset, with_classes=False)[:2]
    sizes = None if source is None else source.sizes
    n_train, n_test = UNKNOWN_SIZE if sizes is None else sizes
    if sizes is not None and source.random_split:
        n_test = round(dataset["test_fraction"] * n_train)
        n_train -= n_test
    total = n_train + n_test
    kept = min(total, dataset.get("max_samples") or total)
    n_train = round(n_train * kept / total)
    return n_train, kept - n_train


def image_side(dataset: dict) -> int:
    """Side of the square images the data stage stores for this dataset config (imagenet and
    image_folder: the defaults-filled ``dataset.image_size``)."""
    source = SOURCES.get(dataset["source"])
    return dataset["image_size"] if source is None or source.side is None else source.side


def fit_samples(n_train: int, n_test: int, setting: str) -> int:
    """Samples HUME fits on: the train split (inductive) or both splits (transductive)."""
    if setting not in SETTINGS:
        raise InputError(f"config setting={setting!r}: expected {' or '.join(map(repr, SETTINGS))}")
    return n_train if setting == "inductive" else n_train + n_test


def labelled_samples(n_train: int, n_test: int, setting: str) -> int:
    """Samples a run labels, and the stages after the runs read: the test split (inductive)
    or both splits (transductive)."""
    fit_samples(n_train, n_test, setting)  # refuses an unknown setting
    return n_test if setting == "inductive" else n_train + n_test


def feature_dim(path: str | None) -> int | None:
    """Width d of the (N, d) "features" of an embeddings file (header only); None if absent."""
    if path is None or not os.path.exists(path):
        return None
    return _feature_width(path, os.stat(path).st_mtime_ns)


# Snakemake asks for every job's requests, one resource at a time, at planning and again
# before it submits the job: the few files they read are read once per version (mtime).
@functools.lru_cache(maxsize=256)
def _split_counts(path: str, mtime_ns: int) -> tuple[int, int]:
    """(n_train, n_test) from the (N,) "split" of a data.h5 as it was at ``mtime_ns``."""
    counts = np.bincount(read_h5(path, ["split"])[0]["split"], minlength=2)
    return int(counts[0]), int(counts[1])


@functools.lru_cache(maxsize=256)
def _feature_width(path: str, mtime_ns: int) -> int:
    """d of the (N, d) "features" of an embeddings file as it was at ``mtime_ns``."""
    with open_h5(path) as f:
        return int(features_dataset(f, path).shape[1])


def space_width(name: str, spec: dict, embedding: str | None) -> int:
    """Width d of a space's features, for its jobs' requests: its embedding file's once it
    exists; before, ``pca_dim``, a precomputed space's files' width (headers), or
    MAX_FEATURE_DIM (an upper bound of a network's)."""
    found = feature_dim(embedding)
    if found:
        return found
    width = files_shape(name, spec)[0] if kind_of(spec).cost == "files" else MAX_FEATURE_DIM
    return min(spec.get("pca_dim") or width, width)


def files_shape(name: str, spec: dict) -> tuple[int, int]:
    """(d, bytes per value) of the precomputed backbone ``name``'s files, from their headers."""
    files = FeatureFiles.from_backbone(spec, name)
    return files.headers()[1], files.value_bytes()


def scaled_request(seconds: float, nbytes: float, attempt: int) -> dict[str, int]:
    """Margins, start-up time and the retry attempt on top of a modelled job."""
    return {
        "mem_mb": max(MIN_MEM_MB, math.ceil(attempt * MEM_MARGIN * nbytes / 1e6)),
        "runtime": math.ceil(attempt * (MARGIN * seconds / 60) + STARTUP_MIN),
    }


def embed_request(
    n_images: int,
    spec: dict,
    gpu: bool,
    native_size: int,
    attempt: int = 1,
    files: tuple[int, int] | None = None,
) -> dict[str, int]:
    """{"mem_mb", "runtime" (minutes)} to extract features of n_images with one backbone spec.

    ``native_size`` is the image side the pixels kind keeps when the spec has no image_size;
    ``files``: (d, bytes per value) of a precomputed space's files (:func:`files_shape`;
    None: MAX_FEATURE_DIM float32 values).
    The kind's cost (plan/backbone_kinds.py) picks the model.
    """
    cost = kind_of(spec).cost
    if cost == "files":  # read as stored, aligned and reduced in float32: a few copies
        width, value_bytes = files or (MAX_FEATURE_DIM, 4)
        nbytes = PRECOMPUTED_BASE_BYTES + n_images * width * (value_bytes + 3 * 4)
        return scaled_request(n_images / PRECOMPUTED_ROWS_PER_SEC, nbytes, attempt)
    if cost == "pixels":
        side = spec.get("image_size") or native_size
        nbytes = PIXELS_BASE_BYTES + n_images * side**2 * 3 * 4 * 2  # float32 RGB, twice
        rate = PIXELS_IMAGES_PER_SEC
    else:
        copies = 2 if spec.get("pca_dim") else 1  # PCA holds the float32 matrix twice
        nbytes = EMBED_BASE_BYTES + n_images * MAX_FEATURE_DIM * 4 * copies
        rate = GPU_IMAGES_PER_SEC if gpu else CPU_IMAGES_PER_SEC
    return scaled_request(n_images / rate, nbytes, attempt)


def embed_threads(spec: dict) -> int:
    """Threads of an embedding job: two for the model, one more per DataLoader worker of the
    (defaults-filled) spec; one to read features from files."""
    return 1 if kind_of(spec).cost == "files" else 2 + spec["num_workers"]


def embed_gpus(spec: dict, embed_gpu: bool) -> int:
    """GPUs of an embedding job: one with ``compute.embed_gpu`` for a kind that embeds
    images, none to read features from files."""
    return int(embed_gpu and kind_of(spec).embeds_images)


# Baselines (aggregate/baselines.py): scikit-learn's KMeans (n_init=10) and L-BFGS
# LogisticRegression up to a size, rows x K of the space (all its rows, whatever the setting
# fits on, so that the request below and the job agree); above it a torch k-means (one
# k-means++ seeding on a subset, then Lloyd's passes) and a torch probe (Adam epochs), with
# fixed budgets, linear in rows, reading the features in place a chunk of rows at a time.
# The size: full k-means took 604 s at 20,000 x 1024 with K = 1000 (2e7) on 2 cores.
KMEANS_METHODS = ("full", "lloyd")  # the baselines file's "kmeans_method"
PROBE_METHODS = ("sklearn", "torch")  # its "probe_method"
KMEANS_FULL_MAX = 10_000_000  # rows x K
PROBE_FULL_MAX = 10_000_000  # rows x K
KMEANS_SEED_ROWS = 10_000  # k-means++ runs on this many fit rows, or
KMEANS_SEED_PER_CLUSTER = 10  # this many per cluster if more (all of them if fewer)
LLOYD_PASSES = 100  # the torch k-means' budget: passes over the fit rows, at most
PROBE_EPOCHS = 10  # the torch probe's: passes over the train rows, and at least
PROBE_MIN_ROWS = 1_000_000  # rows seen in all (more passes over fewer rows)
BASELINE_CHUNK_ROWS = 16384  # rows the torch paths hold on the device at a time
# Memory: the interpreter with numpy, scikit-learn and h5py (175 MB measured), torch on top
# (784 MB measured with it); the float32 (N, d) features, once; per value of them, the
# full path's copies (the fit rows and KMeans' centred copy, or the probe's train rows and
# their standardised copy); per row, labels, split, indices and assignments; per chunk
# value, a torch pass's (chunk, d + K) temporaries. Measured peaks against the model:
# tests/unit/test_baselines_scale.py (e.g. 1,913 MB at 200,000 x 1024, K = 10, torch).
BASELINE_BASE_BYTES = 3e8
BASELINE_TORCH_BYTES = 1e9
FULL_BYTES_PER_VALUE = 4 * 4
FULL_BYTES_PER_LOGIT = 4 * 8  # the (N, K) arrays of the sklearn probe's loss and gradient
BASELINE_ROW_BYTES = 128
TORCH_BYTES_PER_CHUNK_VALUE = 4 * 4
# Runtime on 2 CPU threads: full KMeans (10 inits to convergence) and the sklearn probe per
# N*K*d, the slowest measured (198 s at 50,000 x 256, K = 100; 7.8 s at 16,000 x 512,
# K = 100); the torch paths at BASELINE_FLOPS float32 FLOP/s (2*N*K*d per Lloyd pass, 190
# GFLOP/s measured at 50,000 x 2048, K = 1000; 6*K*d per row a probe epoch sees, 110
# measured), k-means++ at SEEDING_FLOPS (2*(2 + ln K) candidates*S*K*d: 35 s measured for
# S = 10,000, K = 1000, d = 2048), the features read at BASELINE_READ_BYTES_PER_SEC.
FULL_KMEANS_SEC_PER_NKD = 1.6e-7
FULL_PROBE_SEC_PER_NKD = 1e-8
BASELINE_FLOPS = 8e10
SEEDING_FLOPS = 1e10
BASELINE_READ_BYTES_PER_SEC = 2e8


def baseline_methods(n_rows: int, k: int) -> tuple[str, str]:
    """(k-means, linear probe) algorithms of the baselines of a space of ``n_rows`` samples
    (all of them, whatever the setting fits on) with ``k`` known classes."""
    size = n_rows * k
    return KMEANS_METHODS[size > KMEANS_FULL_MAX], PROBE_METHODS[size > PROBE_FULL_MAX]


def seeding_rows(n_fit: int, k: int) -> int:
    """Rows the torch k-means' k-means++ seeding runs on, of ``n_fit`` fit rows."""
    return min(n_fit, max(KMEANS_SEED_ROWS, KMEANS_SEED_PER_CLUSTER * k))


def baseline_request(n_rows: int, dim: int, k: int, attempt: int = 1) -> dict[str, int]:
    """{"mem_mb", "runtime" (minutes)} of a compute_baselines job on a space of ``n_rows``
    samples (train and test) of ``dim`` float32 values with ``k`` known classes, for the
    algorithms :func:`baseline_methods` picks; it grows with each retry."""
    kmeans, probe = baseline_methods(n_rows, k)
    nkd = n_rows * k * dim
    full_copies = FULL_BYTES_PER_VALUE * n_rows * dim
    chunk = TORCH_BYTES_PER_CHUNK_VALUE * min(n_rows, BASELINE_CHUNK_ROWS) * (dim + k)
    if kmeans == "full":
        seconds, kmeans_bytes = FULL_KMEANS_SEC_PER_NKD * nkd, full_copies
    else:
        seeding = 2 * (2 + math.log(max(k, 1))) * seeding_rows(n_rows, k) * k * dim
        seconds = seeding / SEEDING_FLOPS + 2 * (LLOYD_PASSES + 1) * nkd / BASELINE_FLOPS
        kmeans_bytes = chunk
    if probe == "sklearn":
        seconds += FULL_PROBE_SEC_PER_NKD * nkd
        probe_bytes = full_copies + FULL_BYTES_PER_LOGIT * n_rows * k
    else:
        seen = max(PROBE_EPOCHS * n_rows, PROBE_MIN_ROWS)
        seconds += (6 * seen + 2 * n_rows) * k * dim / BASELINE_FLOPS
        probe_bytes = chunk
    torch_used = (kmeans, probe) != (KMEANS_METHODS[0], PROBE_METHODS[0])
    nbytes = (
        (BASELINE_TORCH_BYTES if torch_used else BASELINE_BASE_BYTES)
        + n_rows * (4 * dim + BASELINE_ROW_BYTES)  # the features, the per-row arrays
        + max(kmeans_bytes, probe_bytes)  # k-means, then the probe: one at a time
    )
    seconds += 4 * n_rows * dim / BASELINE_READ_BYTES_PER_SEC
    return scaled_request(seconds, nbytes, attempt)


def dataset_classes(data_path: str | None, planned: int) -> int:
    """K of a space's baselines: the number of distinct known labels (>= 0) of data.h5's (N,)
    "labels" once it exists, else ``planned`` (e.g. the config's largest K)."""
    if data_path is not None and os.path.exists(data_path):
        return _class_count(data_path, os.stat(data_path).st_mtime_ns)
    return planned


@functools.lru_cache(maxsize=256)
def _class_count(path: str, mtime_ns: int) -> int:
    """Distinct known labels of the (N,) "labels" of a data.h5 as it was at ``mtime_ns``."""
    return known_classes(read_h5(path, ["labels"])[0]["labels"])


def known_classes(labels: np.ndarray) -> int:
    """The number of distinct known labels (>= 0) of ``labels`` (N,): the K of the baselines,
    in the job (aggregate/baselines.py) and in its request alike."""
    return len(np.unique(labels[labels >= 0]))
