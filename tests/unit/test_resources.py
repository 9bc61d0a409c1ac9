"""Scheduler requests: sample counts, feature widths and the HUME/embedding resource models."""

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
from tiny_workflow import REPO

from hume_workflow.hume import resources as hume_resources
from hume_workflow.hume.inner_forms import pick_inner_form
from hume_workflow.hume.resources import hume_request
from hume_workflow.plan import resources
from hume_workflow.plan.resources import (
    dataset_samples,
    embed_gpus,
    embed_request,
    embed_threads,
    feature_dim,
    files_shape,
    fit_samples,
    image_side,
    space_width,
)

SCORE_OFF = {"n_folds": 0}  # the model without the generalisation score
PAPER = {"num_iters": 1000, "adaptation_steps": 300, "num_subsets": 20, "subset_size": 10000}


def test_counts_come_from_the_split_of_data_h5(tmp_path):
    split = np.random.default_rng(0).integers(0, 2, 137).astype(np.uint8)
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("split", data=split)
    counts = np.bincount(split, minlength=2)
    assert dataset_samples({"source": "cifar10"}, str(path)) == (counts[0], counts[1])


def test_estimates_from_the_table(tmp_path):
    missing = str(tmp_path / "data.h5")
    assert dataset_samples({"source": "cifar10"}, missing) == (50000, 10000)
    assert dataset_samples({"source": "cifar10", "max_samples": 6000}) == (5000, 1000)
    assert dataset_samples({"source": "cifar10", "max_samples": 10**6}) == (50000, 10000)
    assert dataset_samples({"source": "sklearn_digits", "test_fraction": 0.2}) == (1438, 359)
    assert dataset_samples({"source": "image_folder"}) == resources.UNKNOWN_SIZE


def test_transductive_fits_on_both_splits():
    assert fit_samples(50000, 10000, "inductive") == 50000
    assert fit_samples(50000, 10000, "transductive") == 60000
    with pytest.raises(ValueError, match="setting"):
        fit_samples(1, 1, "both")


def test_feature_dim_reads_the_header(tmp_path):
    path = tmp_path / "embeddings.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("features", data=np.zeros((5, 17), dtype=np.float32))
    assert feature_dim(str(path)) == 17
    assert feature_dim(str(tmp_path / "missing.h5")) is None
    assert feature_dim(None) is None


@pytest.mark.parametrize("form", ["weights", "gram"])
@pytest.mark.parametrize("gpu", [False, True])
def test_hume_request_grows_with_every_size(gpu, form):
    def request(n, d2, steps, attempt):
        hume = {**PAPER, "adaptation_steps": steps, "inner_form": form}
        return hume_request(n, 64, d2, hume, {}, 10, gpu, attempt)

    grid = [
        (n, d2, t, a)
        for n in (500, 5000, 50000)
        for d2 in (64, 1536)
        for t in (20, 300)
        for a in (1, 2)
    ]
    for n, d2, t, a in grid:
        base = request(n, d2, t, a)
        for bigger in (
            request(2 * n, d2, t, a),
            request(n, 2 * d2, t, a),
            request(n, d2, 2 * t, a),
            request(n, d2, t, a + 1),
        ):
            assert bigger["runtime"] >= base["runtime"] and bigger["mem_mb"] >= base["mem_mb"]
    assert request(50000, 1536, 300, 2)["runtime"] > request(50000, 1536, 300, 1)["runtime"]


def test_gpu_is_faster_than_cpu_and_its_host_holds_the_cuda_context():
    cpu = hume_request(50000, 2048, 1536, PAPER, {}, 10, gpu=False)
    gpu = hume_request(50000, 2048, 1536, PAPER, {}, 10, gpu=True)
    assert gpu["runtime"] < cpu["runtime"]
    assert gpu["mem_mb"] * 1e6 >= hume_resources.GPU_HOST_BYTES


@pytest.mark.parametrize(
    ("d2", "form", "measured_mb", "measured_s"),
    [(1280, "weights", 755, 13.69), (64, "weights", 834, 1.48), (1280, "gram", 1188, 3.54)],
)
def test_model_matches_the_measured_digits_runs(d2, form, measured_mb, measured_s):
    """Paper defaults on the 1,797 digits (m = 1797), 2 CPU threads: peak RSS and s/iteration
    measured by benchmarks/bench_resources.py."""
    one_iter = {**PAPER, "num_iters": 1, "inner_form": form}
    seconds, nbytes = hume_resources._hume_model(1797, 64, d2, one_iter, SCORE_OFF, 10, gpu=False)
    assert nbytes / 1e6 == pytest.approx(measured_mb, rel=0.25)
    assert seconds == pytest.approx(measured_s, rel=0.25)


def test_auto_requests_what_the_form_it_picks_needs():
    for n, d2 in [(1797, 1280), (50000, 1536), (1797, 64)]:
        form = pick_inner_form("auto", "closed_form", n, 10000, 0.9, d2)
        picked = hume_request(n, 64, d2, {**PAPER, "inner_form": form}, {}, 10, False)
        assert hume_request(n, 64, d2, PAPER, {}, 10, False) == picked
    assert pick_inner_form("auto", "closed_form", 1797, 10000, 0.9, 1280) == "gram"


def test_score_model_matches_the_measured_digits_score():
    """10-fold score on digits (1797 x 64, K=10, max_iter 100): 10.5 s measured here."""
    no_hume = {**PAPER, "num_iters": 0}
    seconds, _ = hume_resources._hume_model(1797, 64, 64, no_hume, {}, 10, gpu=False)
    assert seconds == pytest.approx(10.5, rel=0.25)


def test_embed_request_grows_with_n_and_pca():
    spec = {"kind": "efficientnet_lite0"}
    small, big = embed_request(1000, spec, False, 32), embed_request(100000, spec, False, 32)
    assert big["mem_mb"] > small["mem_mb"] and big["runtime"] > small["runtime"]
    assert embed_request(100000, {**spec, "pca_dim": 64}, False, 32)["mem_mb"] > big["mem_mb"]
    assert embed_request(100000, spec, True, 32)["runtime"] < big["runtime"]
    pixels = {"kind": "pixels", "image_size": 32}
    assert (
        embed_request(60000, pixels, False, 32)["mem_mb"]
        > embed_request(600, pixels, False, 32)["mem_mb"]
    )
    native = {"kind": "pixels"}  # keeps the stored size: 28 for Fashion-MNIST, 96 for STL-10
    fashion = embed_request(70000, native, False, image_side({"source": "fashion_mnist"}))
    stl = embed_request(70000, native, False, image_side({"source": "stl10"}))
    assert fashion["mem_mb"] < stl["mem_mb"]


def test_embed_threads_and_gpus_follow_the_kinds_cost():
    files, model = {"kind": "precomputed", "num_workers": 4}, {"kind": "timm", "num_workers": 4}
    assert (embed_threads(files), embed_threads(model)) == (1, 6)
    assert (embed_gpus(files, True), embed_gpus(model, True), embed_gpus(model, False)) == (0, 1, 0)
    assert embed_gpus({"kind": "pixels"}, True) == 1


def test_image_side_is_the_sources_or_the_configs():
    assert image_side({"source": "stl10", "image_size": 224}) == 96
    assert image_side({"source": "imagenet", "image_size": 160}) == 160


def test_import_does_not_load_torch():
    """The Snakemake main process imports both resource models to size jobs."""
    modules = "hume_workflow.plan.resources, hume_workflow.hume.resources"
    code = f"import sys, {modules}; print('torch' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"


def test_a_wide_phi1_requests_its_d1_squared_encoder_base():
    """The orthogonal task encoder holds d1 x d1 matrices: a run at d1 = 20,000 on 1,438
    samples peaked at 7.3 GB (benchmarks/bench_resources.py fits the terms at d1 <= 8,000);
    the request covers it, and narrow spaces are unchanged by the term."""
    small = {"num_iters": 2}, {"n_folds": 3, "max_iter": 50}
    wide = hume_request(1438, 20000, 64, *small, 10, False)
    assert wide["mem_mb"] >= 7300
    narrow = hume_request(1438, 64, 64, *small, 10, False)
    assert narrow["mem_mb"] < 1100
    made, step, nbytes = hume_resources.encoder_model(8000)
    assert made == pytest.approx(9.4, rel=0.1) and step == pytest.approx(2.7, rel=0.1)
    assert (nbytes + hume_resources.BASE_BYTES) / 1e6 == pytest.approx(1563, rel=0.25)


def test_a_precomputed_space_is_requested_at_its_files_width(tmp_path):
    """Before its embedding exists, a precomputed space's width is its files' (headers),
    capped by pca_dim; the embedding job's memory grows with the width and the stored type."""
    path = tmp_path / "wide.npy"
    np.save(path, np.zeros((5, 20000), np.float64))
    spec = {"kind": "precomputed", "path": str(path), "ids": "ids.txt"}
    assert space_width("wide", spec, None) == 20000
    assert space_width("wide", {**spec, "pca_dim": 256}, None) == 256
    assert files_shape("wide", spec) == (20000, 8)
    wide = embed_request(10000, spec, False, 32, files=files_shape("wide", spec))
    assert wide["mem_mb"] > 10000 * 20000 * (8 + 4) / 1e6
    assert wide["mem_mb"] > embed_request(10000, spec, False, 32)["mem_mb"]
    embedding = tmp_path / "embedding.h5"
    with h5py.File(embedding, "w") as f:
        f["features"] = np.zeros((5, 7), np.float32)
    assert space_width("wide", spec, str(embedding)) == 7  # the file, once it exists
