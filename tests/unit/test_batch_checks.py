"""Prediction batches (config ``predict.batches``): a bad batch is refused before any job runs,
in one line naming ``predict.batches.<name>...`` (plan/batches.py, called by check_values);
what the plan cannot know (a width without its embedding file, an undecodable image) is
refused by the job in the same words; the batch's own files are the inputs of its jobs.

The plan-time cases run the checks common.smk runs (tiny_workflow.preflight) in a working
directory holding the tiny dataset's data.h5 and efficientnet_lite0's embedding file, as a
finished run leaves them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_workflow import (
    TINY,
    filled,
    preflight,
    prepare_like_the_job,
    refused_by_plan,
    two_file_spaces,
)

from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import write_dataset
from hume_workflow.formats.io import write_h5

ROWS = 5  # rows of the good feature files
WIDTHS = {"pixels": 64, "efficientnet_lite0": 1280}  # digits' 8x8 pixels; EfficientNet's
EMBEDDING = Path("results/tiny/embeddings/efficientnet_lite0.h5")


def save_png(path: Path, value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (6, 6), (value, 0, 0)).save(path)


def write_embedding(path: Path, spec: dict) -> None:
    """An embedding file of the tiny dataset's 300 samples as extract_embeddings leaves one
    (the features and the spec it was made with; no PCA: the width is the raw width)."""
    features = np.zeros((300, WIDTHS["efficientnet_lite0"]), np.float16)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_h5(path, {"features": features}, {"backbone_spec": spec})


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """results/tiny/data.h5, efficientnet_lite0's embedding file, and the batches' files."""
    workdir = tmp_path_factory.mktemp("batches")
    prepare_like_the_job(TINY, workdir / "results/tiny/data.h5")
    write_embedding(workdir / EMBEDDING, filled(TINY)["backbones"]["efficientnet_lite0"])
    rng = np.random.default_rng(0)
    for name, width in WIDTHS.items():
        np.save(workdir / f"{name}.npy", rng.normal(size=(ROWS, width)).astype(np.float32))
    np.save(workdir / "pixels10.npy", np.zeros((ROWS, 10), np.float32))
    np.save(workdir / "eff100.npy", np.zeros((ROWS, 100), np.float32))
    np.save(workdir / "pixels4rows.npy", np.zeros((4, 64), np.float32))
    (workdir / "ids.txt").write_text("".join(f"new{i}\n" for i in range(ROWS)))
    (workdir / "ids4.txt").write_text("a\nb\nc\nd\n")
    (workdir / "empty").mkdir()
    (workdir / "notes").mkdir()
    (workdir / "notes/readme.txt").write_text("no images here")
    save_png(workdir / "mixed/a/0.png")
    save_png(workdir / "mixed/1.png")
    save_png(workdir / "images/cats/0.png")
    save_png(workdir / "images/dogs/1.png", 200)
    return workdir


@pytest.fixture
def workdir(planned, monkeypatch):
    """``planned`` as the working directory (the checks read results/ relative to it)."""
    monkeypatch.chdir(planned)
    return planned


def with_batch(batch: dict, config: dict = TINY) -> dict:
    """``config`` with one prediction batch, ``new``."""
    return {**config, "predict": {"batches": {"new": batch}}}


GOOD_FEATURES = {"pixels": "pixels.npy", "efficientnet_lite0": "efficientnet_lite0.npy"}


def test_good_batches_pass_and_an_image_batch_takes_skip_bad_images(workdir):
    config = TINY | {
        "predict": {
            "batches": {
                "rows": {"features": GOOD_FEATURES, "ids": "ids.txt"},
                "scans": {"root": "images", "skip_bad_images": True},
                "more": {"root": "images"},
            }
        }
    }
    preflight(config)
    batches = filled(config)["predict"]["batches"]
    assert batches["scans"]["skip_bad_images"] is True
    assert batches["more"]["skip_bad_images"] is False  # the schema's default


BAD_BATCHES = {
    "missing root": (
        {"root": "nowhere"},
        "config predict.batches.new.root='nowhere': no such folder; expected a folder of ",
    ),
    "empty root": (
        {"root": "empty"},
        "config predict.batches.new.root='empty': the folder is empty; expected ",
    ),
    "root without images": (
        {"root": "notes"},
        "config predict.batches.new.root='notes': no images; expected ",
    ),
    "root of images and sub-folders": (
        {"root": "mixed"},
        "config predict.batches.new.root='mixed': holds both images (1.png, ...) and sub-folders",
    ),
    "root and features": (
        {"root": "images", "features": GOOD_FEATURES},
        "config predict.batches.new: both root and features; expected either root (a folder "
        "of images) or features ({backbone: file}), not both",
    ),
    "neither": (
        {},
        "config predict.batches.new: neither root nor features; expected either root (a "
        "folder of images) or features ({backbone: file})",
    ),
    "ids with root": (
        {"root": "images", "ids": "ids.txt"},
        "config predict.batches.new.ids: only with features; expected no ids with root",
    ),
    "no feature files": (
        {"features": {}},
        "config predict.batches.new.features: no files; expected {backbone: file} for each "
        "space the tasks use (efficientnet_lite0, pixels)",
    ),
    "unknown backbone": (
        {"features": GOOD_FEATURES | {"pixls": "pixels.npy"}},
        "config predict.batches.new.features.pixls: not declared under 'backbones'; did you "
        "mean 'pixels'? (declared: efficientnet_lite0, pixels)",
    ),
    "a space of a task missing": (
        {"features": {"pixels": "pixels.npy"}},
        "config predict.batches.new.features: no file for 'efficientnet_lite0', a space of "
        "task pixels--efficientnet_lite0; expected one file for each space the tasks use "
        "(efficientnet_lite0, pixels)",
    ),
    "missing features file": (
        {"features": GOOD_FEATURES | {"pixels": "nofile.npy"}},
        "config predict.batches.new.features.pixels='nofile.npy': no such file",
    ),
    "phi1's width (pixels, from the config)": (
        {"features": GOOD_FEATURES | {"pixels": "pixels10.npy"}},
        "config predict.batches.new.features.pixels='pixels10.npy': 10 columns; expected 64, "
        "the width of backbone 'pixels''s features before pca_dim and L2 normalisation",
    ),
    "phi2's width (from its embedding file)": (
        {"features": GOOD_FEATURES | {"efficientnet_lite0": "eff100.npy"}},
        "config predict.batches.new.features.efficientnet_lite0='eff100.npy': 100 columns; "
        "expected 1280, the width of backbone 'efficientnet_lite0''s features before pca_dim "
        "and L2 normalisation",
    ),
    "files of different rows": (
        {"features": GOOD_FEATURES | {"pixels": "pixels4rows.npy"}},
        "config predict.batches.new.features: files of [4, 5] rows",
    ),
    "ids of another count": (
        {"features": GOOD_FEATURES, "ids": "ids4.txt"},
        "config predict.batches.new.ids='ids4.txt': 4 ids but the features files hold 5 rows; "
        "expected one id per row",
    ),
}


@pytest.mark.parametrize("case", BAD_BATCHES)
def test_a_bad_batch_is_refused_at_plan_time_in_one_line_naming_its_key(workdir, case):
    batch, expected = BAD_BATCHES[case]
    assert refused_by_plan(workdir, with_batch(batch)).startswith(expected)


def test_an_image_batch_on_a_features_only_dataset_asks_for_features(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    np.save("x.npy", rng.normal(size=(40, 6)).astype(np.float32))
    np.save("y.npy", rng.normal(size=(40, 5)).astype(np.float32))
    np.save("labels.npy", np.arange(40) % 2)
    save_png(tmp_path / "images/0.png")
    config = two_file_spaces("rows", 2, "x", "y")
    preflight(with_batch({"features": {"x": "x.npy", "y": "y.npy"}}, config))
    message = refused_by_plan(tmp_path, with_batch({"root": "images"}, config))
    assert message == (
        "config predict.batches.new.root='images': dataset source 'features_only' has no "
        "images, so the pairs' spaces cannot embed new ones; expected features: {<backbone>: "
        "<file>}, the new samples' rows in each space (x, y)"
    )
    np.save("y7.npy", np.zeros((40, 7), np.float32))
    assert refused_by_plan(
        tmp_path, with_batch({"features": {"x": "x.npy", "y": "y7.npy"}}, config)
    ) == (
        "config predict.batches.new.features.y='y7.npy': 7 columns; expected 5, the width of "
        "backbone 'y''s features before pca_dim and L2 normalisation"
    )


def test_a_width_the_plan_cannot_know_is_refused_by_the_job_in_the_same_line(workdir, tmp_path):
    """Without efficientnet_lite0's embedding file the plan cannot know its width; the job
    (which has that file) refuses the batch with the line the plan gives once the file is
    there."""
    from hume_workflow.predict.feature_batches import embed_feature_batch, prepare_feature_batch

    batch = {"features": GOOD_FEATURES | {"efficientnet_lite0": "eff100.npy"}}
    with_file = refused_by_plan(workdir, with_batch(batch))
    EMBEDDING.rename(tmp_path / "moved.h5")
    try:
        preflight(with_batch(batch))  # unknown width: left to the job
    finally:
        (tmp_path / "moved.h5").rename(EMBEDDING)
    spec = filled(TINY)["backbones"]["efficientnet_lite0"]
    write_dataset(tmp_path / "batch.h5", prepare_feature_batch("new", batch))
    with pytest.raises(InputError) as caught:
        embed_feature_batch(
            tmp_path / "batch.h5",
            tmp_path / "out.h5",
            "efficientnet_lite0",
            spec,
            "eff100.npy",
            space=EMBEDDING,
            batch_name="new",
        )
    assert str(caught.value) == with_file
    assert not (tmp_path / "out.h5").exists()


def test_an_old_embedding_of_another_model_leaves_the_width_to_the_job(workdir, tmp_path):
    """An embedding file made with another spec (here another image_size: the job will
    make it again) does not tell the width the batch must have."""
    other = filled(TINY)["backbones"]["efficientnet_lite0"] | {"image_size": 64}
    write_embedding(tmp_path / "other.h5", other)
    EMBEDDING.rename(tmp_path / "kept.h5")
    (tmp_path / "other.h5").rename(EMBEDDING)
    try:
        batch = {"features": GOOD_FEATURES | {"efficientnet_lite0": "eff100.npy"}}
        preflight(with_batch(batch))
    finally:
        (tmp_path / "kept.h5").rename(EMBEDDING)


# ---- undecodable images in a batch: its own skip_bad_images ----------------------------


@pytest.fixture
def corrupt_batch(tmp_path):
    """A data.h5 of 8x8 greyscale images, and a batch folder of one good and one corrupt
    image."""
    dataset_images = np.zeros((2, 8, 8, 1), np.uint8)
    write_h5(
        tmp_path / "data.h5",
        {"images": dataset_images, "labels": np.zeros(2, np.int64)},
        {"name": "tiny"},
    )
    folder = tmp_path / "new"
    save_png(folder / "good.png", 100)
    (folder / "bad.png").write_bytes(b"not a png at all")
    return folder


def test_a_corrupt_batch_image_names_the_batch_s_skip_bad_images(corrupt_batch):
    from hume_workflow.predict.images import prepare_batch

    with pytest.raises(InputError) as caught:
        prepare_batch(corrupt_batch, corrupt_batch.parent / "data.h5", name="new")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{corrupt_batch / 'bad.png'}: cannot decode the image (")
    assert message.endswith(
        "fix or remove it, or set predict.batches.new.skip_bad_images: true to leave it out "
        "of the batch's predictions"
    )
    assert "dataset.skip_bad_images" not in message


def test_skip_bad_images_leaves_the_image_out_of_the_batch_and_logs_it(corrupt_batch, caplog):
    from hume_workflow.predict.images import prepare_batch

    with caplog.at_level(logging.WARNING):
        batch = prepare_batch(
            corrupt_batch, corrupt_batch.parent / "data.h5", name="new", skip_bad_images=True
        )
    assert batch.sample_ids == ["good.png"]
    assert batch.images.shape == (1, 8, 8, 1) and len(batch.labels) == len(batch.split) == 1
    assert "bad.png" in caplog.text and "skipped" in caplog.text
    (corrupt_batch / "good.png").unlink()
    with pytest.raises(InputError, match=r"^config predict\.batches\.new\.root=.*none of the 1"):
        prepare_batch(corrupt_batch, corrupt_batch.parent / "data.h5", "new", True)


# ---- the batch's files: inputs of its jobs ----------------------------------------------


def test_batch_files_are_its_feature_and_ids_files_or_its_folders(planned):
    from hume_workflow.plan.batches import batch_files

    features = {"features": GOOD_FEATURES, "ids": "ids.txt"}
    assert batch_files(features) == ["pixels.npy", "efficientnet_lite0.npy", "ids.txt"]
    assert batch_files(features, "pixels") == ["pixels.npy"]
    images = planned / "images"
    assert batch_files({"root": str(images)}) == [
        str(images),
        str(images / "cats"),
        str(images / "dogs"),
    ]
    assert batch_files({"root": str(images)}, "pixels") == []  # its embedding reads data.h5
