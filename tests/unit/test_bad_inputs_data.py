"""Bad dataset files and checkpoints: one clear line naming the file or key, nothing lost.

Small FAKE files in the real on-disk formats; nothing is downloaded. Also the sample-order
hash (``samples_sha256``) that data.h5 carries.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tarfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image
from tiny_workflow import fake_cifar10, fake_idx_set, one_line, write_pickle
from torch import nn

from hume_workflow.data.prepare import prepare_dataset
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import read_dataset, samples_sha256, write_dataset
from hume_workflow.formats.io import read_h5, write_h5
from hume_workflow.models.checkpoints import load_checkpoint, read_state_dict


def _image(path: Path, color: tuple[int, int, int] = (200, 30, 0), fmt: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 9), color).save(path, format=fmt)


def _truncated(path: Path, fmt: str) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, format=fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


BAD_IMAGES = {
    "garbage.jpg": lambda p: p.write_bytes(b"\xff\xd8 not really a jpeg"),
    "empty.png": lambda p: p.write_bytes(b""),
    "cut.jpg": lambda p: _truncated(p, "JPEG"),
    "cut.png": lambda p: _truncated(p, "PNG"),
}


def _good_file(tmp_path: Path) -> Path:
    """A finished data.h5 that a failing write must leave byte-identical."""
    _image(tmp_path / "good" / "a.png")
    out = tmp_path / "data.h5"
    write_dataset(out, prepare_dataset("image_folder", root=tmp_path / "good", image_size=4))
    return out


# --- undecodable images --------------------------------------------------------------------


@pytest.mark.parametrize("bad", BAD_IMAGES)
def test_undecodable_image_fails_in_one_line_and_keeps_the_old_file(tmp_path, bad):
    out = _good_file(tmp_path)
    before = out.read_bytes()
    _image(tmp_path / "imgs" / "x.png")
    BAD_IMAGES[bad](tmp_path / "imgs" / bad)
    ds = prepare_dataset("image_folder", root=tmp_path / "imgs", image_size=4, test_fraction=0.5)
    with pytest.raises(InputError, match=rf"{bad}: cannot decode the image") as error:
        write_dataset(out, ds)
    assert "dataset.skip_bad_images: true" in one_line(error)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.h5", "good", "imgs"]


def _labelled_split_folder(root: Path, with_bad: bool) -> None:
    """train/ and test/ with classes a and b; with_bad adds undecodable files among them."""
    for part, n in (("train", 3), ("test", 2)):
        for c, name in enumerate("ab"):
            for i in range(n):
                _image(root / part / name / f"{i}.png", (100 * c, 10 * i, 50))
    if with_bad:
        BAD_IMAGES["garbage.jpg"](root / "train" / "a" / "1b.jpg")
        BAD_IMAGES["cut.png"](root / "test" / "b" / "0b.png")


def test_skip_bad_images_drops_logs_and_records_them(tmp_path, caplog):
    _labelled_split_folder(tmp_path / "dirty", with_bad=True)
    _labelled_split_folder(tmp_path / "clean", with_bad=False)
    kw = {"image_size": 4, "skip_bad_images": True}
    dirty = prepare_dataset("image_folder", root=tmp_path / "dirty", **kw)
    assert len(dirty.labels) == 12
    with caplog.at_level("WARNING"):
        write_dataset(tmp_path / "dirty.h5", dirty)
    clean_ds = prepare_dataset("image_folder", root=tmp_path / "clean", image_size=4)
    write_dataset(tmp_path / "clean.h5", clean_ds)
    assert "skipped 2 undecodable images (first: train/a/1b.jpg)" in caplog.text
    assert "test/b/0b.png: cannot decode the image" in caplog.text
    got, attrs = read_h5(tmp_path / "dirty.h5")
    clean, clean_attrs = read_h5(tmp_path / "clean.h5", ["labels", "split"])
    assert got["images"].shape == (10, 4, 4, 3) and attrs["num_samples"] == 10
    np.testing.assert_array_equal(got["labels"], clean["labels"])
    np.testing.assert_array_equal(got["split"], clean["split"])
    assert [b["path"] for b in attrs["bad_images"]] == ["train/a/1b.jpg", "test/b/0b.png"]
    assert all(b["error"] for b in attrs["bad_images"])
    assert attrs["samples_sha256"] == clean_attrs["samples_sha256"]
    assert clean_attrs["bad_images"] == []
    np.testing.assert_array_equal(got["images"], np.asarray(clean_ds.images))


def test_skip_bad_images_in_imagenet_records_paths_under_the_root(tmp_path):
    for part in ("train", "val"):
        for wnid in ("n01", "n02"):
            _image(tmp_path / part / wnid / f"{wnid}_0.JPEG", fmt="JPEG")
    BAD_IMAGES["cut.jpg"](tmp_path / "val" / "n02" / "n02_1.JPEG")
    ds = prepare_dataset("imagenet", root=tmp_path, image_size=4, skip_bad_images=True)
    write_dataset(tmp_path / "data.h5", ds)
    back = read_dataset(tmp_path / "data.h5")
    _, attrs = read_h5(tmp_path / "data.h5", [])
    assert [b["path"] for b in attrs["bad_images"]] == ["val/n02/n02_1.JPEG"]
    assert back.labels.tolist() == [0, 1, 0, 1] and back.split.tolist() == [0, 0, 1, 1]


def test_skip_bad_images_when_all_are_bad_is_one_line(tmp_path):
    out = _good_file(tmp_path)
    before = out.read_bytes()
    (tmp_path / "bad").mkdir()
    for name, make in BAD_IMAGES.items():
        make(tmp_path / "bad" / name)
    ds = prepare_dataset("image_folder", root=tmp_path / "bad", image_size=4, skip_bad_images=True)
    with pytest.raises(
        InputError, match=r"dataset.root=.*bad: none of the 4 images can be decoded"
    ):
        write_dataset(out, ds)
    assert out.read_bytes() == before


# --- missing or empty roots ----------------------------------------------------------------

ROOT_SOURCES = {  # source -> (config key, what the message must say is expected)
    "cifar10": ("dataset.root", r"cifar-10-batches-py/ with data_batch_1.*cifar-10-python.tar.gz"),
    "cifar100_20": ("dataset.root", r"cifar-100-python/ with train, test, meta or the archive"),
    "stl10": ("dataset.root", r"stl10_binary/ with train_X.bin.*stl10_binary.tar.gz"),
    "mnist": ("dataset.root", r"MNIST/raw/ with train-images-idx3-ubyte.gz.*dataset.local_root"),
    "fashion_mnist": ("dataset.local_root", r"the idx files train-images-idx3-ubyte, "),
    "imagenet": ("dataset.root", r"train/<wnid>/\*.JPEG and val/<wnid>/\*.JPEG"),
    "image_folder": ("dataset.root", r"class sub-folders of images"),
}


@pytest.mark.parametrize("state", ["missing", "empty"])
@pytest.mark.parametrize("source", ROOT_SOURCES)
def test_missing_or_empty_root_is_one_line(tmp_path, source, state):
    root = tmp_path / "data"
    if state == "empty":
        root.mkdir()
    key, expected = ROOT_SOURCES[source]
    where = {"local_root": root} if key == "dataset.local_root" else {"root": root}
    problem = "no such directory" if state == "missing" else "empty directory"
    with pytest.raises(InputError, match=rf"^{key}={root}: {problem}; expected {expected}") as e:
        prepare_dataset(source, **where)
    message = one_line(e)
    if source in ("cifar10", "cifar100_20", "stl10", "mnist"):
        assert message.count("set dataset.download: true") == 1
    assert sorted(tmp_path.iterdir()) == ([root] if state == "empty" else [])
    assert state == "missing" or not any(root.iterdir())


def test_cifar_folder_with_a_file_missing_names_the_file(tmp_path):
    folder = fake_cifar10(tmp_path, np.random.default_rng(0))
    (folder / "data_batch_1").unlink()
    with pytest.raises(ValueError, match=r"data_batch_1: file not found .*dataset.download: true"):
        prepare_dataset("cifar10", root=tmp_path)


def test_idx_folder_with_a_file_missing_names_the_file(tmp_path):
    fake_idx_set(tmp_path / "idx", gz=True, rng=np.random.default_rng(0))
    (tmp_path / "idx" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(InputError, match=r"t10k-labels-idx1-ubyte\[.gz\]: file not found") as e:
        prepare_dataset("mnist", local_root=tmp_path / "idx")
    assert str(tmp_path / "idx") in one_line(e)


def _imagenet_flat_train(root: Path) -> None:
    _image(root / "train" / "a.JPEG")
    _image(root / "val" / "n01" / "b.JPEG")


def _imagenet_empty_class(root: Path) -> None:
    _image(root / "train" / "n01" / "a.JPEG")
    (root / "train" / "n02").mkdir()
    _image(root / "val" / "n01" / "b.JPEG")


def _imagenet_no_val(root: Path) -> None:
    _image(root / "train" / "n01" / "a.JPEG")


def _imagenet_val_class_unknown(root: Path) -> None:
    _image(root / "train" / "n01" / "a.JPEG")
    _image(root / "val" / "n09" / "b.JPEG")


def _imagenet_no_images(root: Path) -> None:
    for part in ("train", "val"):
        (root / part / "n01").mkdir(parents=True)
        (root / part / "n01" / "notes.txt").write_text("no image")


IMAGENET_LAYOUTS = {
    "flat train": (_imagenet_flat_train, r"train/ holds images directly \(a.JPEG, ...\)"),
    "empty class": (_imagenet_empty_class, r"class folder train/n02/ holds no images"),
    "no val": (_imagenet_no_val, r"no val/ in it"),
    "unknown val class": (_imagenet_val_class_unknown, r"val/ classes \['n09'\] are not in"),
    "no images": (_imagenet_no_images, r"class folder train/n01/ holds no images"),
}


@pytest.mark.parametrize("case", IMAGENET_LAYOUTS)
def test_imagenet_layout_errors_are_one_line(tmp_path, case):
    make, message = IMAGENET_LAYOUTS[case]
    make(tmp_path)
    with pytest.raises(InputError, match=rf"^dataset.root={tmp_path}: {message}") as e:
        prepare_dataset("imagenet", root=tmp_path)
    assert "expected" in one_line(e)


def _folder_train_only(root: Path) -> None:
    _image(root / "train" / "a" / "0.png")


def _folder_no_images(root: Path) -> None:
    (root / "notes.txt").write_text("no image")
    (root / ".hidden.png").write_bytes(b"")


def _folder_mixed(root: Path) -> None:
    _image(root / "0.png")
    _image(root / "cats" / "1.png")


IMAGE_FOLDER_LAYOUTS = {
    "train without test": (_folder_train_only, r"has train/ but no test/; expected both"),
    "no images": (_folder_no_images, r"no images; expected class sub-folders"),
    "images and folders": (_folder_mixed, r"holds both images \(0.png, ...\) and sub-folders"),
}


@pytest.mark.parametrize("case", IMAGE_FOLDER_LAYOUTS)
def test_image_folder_layout_errors_are_one_line(tmp_path, case):
    make, message = IMAGE_FOLDER_LAYOUTS[case]
    make(tmp_path)
    with pytest.raises(InputError, match=rf"^dataset.root={tmp_path}: {message}") as e:
        prepare_dataset("image_folder", root=tmp_path)
    one_line(e)


# --- archives ------------------------------------------------------------------------------


def _cifar100_folder(folder: Path) -> None:
    folder.mkdir(parents=True)
    for name, n in (("train", 4), ("test", 2)):
        batch = {
            b"data": np.full((n, 3072), 7, np.uint8),
            b"fine_labels": [0] * n,
            b"coarse_labels": list(range(n)),
        }
        write_pickle(folder / name, batch)
    coarse = [f"super{i}".encode() for i in range(20)]
    write_pickle(
        folder / "meta", {b"fine_label_names": [b"f"] * 100, b"coarse_label_names": coarse}
    )


def _stl10_folder(folder: Path) -> None:
    folder.mkdir(parents=True)
    for part, n in (("train", 2), ("test", 1)):
        (folder / f"{part}_X.bin").write_bytes(bytes(n * 3 * 96 * 96))
        (folder / f"{part}_y.bin").write_bytes(bytes(range(1, n + 1)))


ARCHIVES = {  # source -> (archive, folder inside it, a writer of a fake folder)
    "cifar10": (
        "cifar-10-python.tar.gz",
        "cifar-10-batches-py",
        lambda f: fake_cifar10(f.parent, np.random.default_rng(0)),
    ),
    "cifar100_20": ("cifar-100-python.tar.gz", "cifar-100-python", _cifar100_folder),
    "stl10": ("stl10_binary.tar.gz", "stl10_binary", _stl10_folder),
}


def _fake_archive(root: Path, source: str) -> Path:
    """root/<official archive name>: a tar.gz of a fake folder in the official layout."""
    archive, folder, write = ARCHIVES[source]
    staging = root / "staging"
    write(staging / folder)
    with tarfile.open(root / archive, "w:gz") as tar:
        tar.add(staging / folder, arcname=folder)
    shutil.rmtree(staging)
    return root / archive


@pytest.mark.parametrize("source", ARCHIVES)
def test_archive_failing_md5_is_one_line(tmp_path, source):
    archive = tmp_path / ARCHIVES[source][0]
    archive.write_bytes(os.urandom(1000))
    with pytest.raises(ValueError, match=rf"^{archive}: md5 differs from the official") as e:
        prepare_dataset(source, root=tmp_path)
    one_line(e)
    assert sorted(tmp_path.iterdir()) == [archive]


@pytest.mark.parametrize("source", ARCHIVES)
def test_fake_archive_is_extracted_and_read(tmp_path, skip_md5, source):
    _fake_archive(tmp_path, source)
    ds = prepare_dataset(source, root=tmp_path)
    assert len(ds.labels) > 0 and (tmp_path / ARCHIVES[source][1]).is_dir()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def _cut(archive: Path) -> None:
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])


def _not_gzip(archive: Path) -> None:
    archive.write_text("this is not an archive\n")


def _garbled(archive: Path) -> None:
    data = bytearray(archive.read_bytes())
    data[20:60] = bytes(40)
    archive.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_cut, _not_gzip, _garbled])
@pytest.mark.parametrize("source", ARCHIVES)
def test_broken_archive_without_md5_is_one_line_and_leaves_nothing(
    tmp_path, skip_md5, source, damage
):
    archive = _fake_archive(tmp_path, source)
    damage(archive)
    with pytest.raises(InputError, match=rf"^{archive}: cannot extract the archive") as e:
        prepare_dataset(source, root=tmp_path)
    one_line(e)
    assert sorted(tmp_path.iterdir()) == [archive]  # no half-extracted folder, no temp folder


def test_archive_without_the_official_folder_is_one_line(tmp_path, skip_md5):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("x")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "other", arcname="other")
    with pytest.raises(InputError, match=rf"^{archive}: holds no cifar-10-batches-py/ folder"):
        prepare_dataset("cifar10", root=tmp_path)
    assert not (tmp_path / "cifar-10-batches-py").exists()


# --- checkpoints ---------------------------------------------------------------------------


def _saved_state(path: Path) -> nn.Module:
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    torch.save(model.state_dict(), path)
    return model


CORRUPTIONS = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "random bytes": lambda p: p.write_bytes(np.random.default_rng(0).bytes(2000)),
    "text": lambda p: p.write_text("epoch 3: loss 0.25\naccuracy 0.9\n"),
    "empty": lambda p: p.write_bytes(b""),
    "half a pickle": lambda p: p.write_bytes(b"\x80\x02}q\x00(X\x01\x00"),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_unreadable_checkpoint_is_one_line(tmp_path, corruption):
    path = tmp_path / "model.pth"
    model = _saved_state(path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    CORRUPTIONS[corruption](path)
    pattern = (
        rf"^{path}: cannot read the checkpoint \(.*\) \(truncated or not a torch.save file\?\)"
    )
    with pytest.raises(InputError, match=pattern) as e:
        load_checkpoint(model, path)
    assert "weights_only" not in one_line(e)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key])


def test_missing_checkpoint_is_one_line(tmp_path):
    with pytest.raises(InputError, match=r"nope.pth: checkpoint file not found") as e:
        read_state_dict(tmp_path / "nope.pth")
    one_line(e)


def test_checkpoint_key_mismatch_lists_the_keys(tmp_path):
    path = tmp_path / "model.pth"
    model = _saved_state(path)
    state = torch.load(path, weights_only=True)
    state["head.weight"] = state.pop("0.weight")
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"1 missing keys \[0.weight\]; 1 unexpected keys") as e:
        load_checkpoint(model, path)
    assert str(path) in one_line(e) and "[head.weight]" in str(e.value)


class _Payload:
    """Unpickling this would run ``os.mkdir(target)``: weights_only must refuse it."""

    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self):
        return os.mkdir, (self.target,)


def test_checkpoint_is_never_unpickled(tmp_path):
    path, marker = tmp_path / "evil.pth", tmp_path / "was_unpickled"
    torch.save({"weight": torch.zeros(2), "payload": _Payload(marker)}, path)
    with pytest.raises(ValueError, match=r"evil.pth: refusing to unpickle.*mkdir") as e:
        read_state_dict(path)
    one_line(e)
    assert not marker.exists()


# --- the sample-order hash -----------------------------------------------------------------


def _hash(tmp_path: Path, **kw: object) -> str:
    out = tmp_path / f"d{len(list(tmp_path.iterdir()))}.h5"
    write_dataset(out, prepare_dataset(**kw))
    with h5py.File(out) as f:
        assert f.attrs["num_samples"] == len(f["labels"])
        return str(f.attrs["samples_sha256"])


def test_samples_hash_is_stable_and_tracks_samples_order_and_split(tmp_path):
    base = {"source": "sklearn_digits", "max_samples": 100, "split_seed": 1}
    first = _hash(tmp_path, **base)
    assert len(first) == 64 and first == _hash(tmp_path, **base)
    assert first != _hash(tmp_path, **{**base, "max_samples": 101})
    assert first != _hash(tmp_path, **{**base, "split_seed": 2})
    full = {"source": "sklearn_digits", "max_samples": None}
    assert _hash(tmp_path, **full, split_seed=1) != _hash(tmp_path, **full, split_seed=2)
    ds = prepare_dataset(**base)
    reordered = samples_sha256(ds.sample_ids[::-1], ds.split[::-1])
    assert reordered != samples_sha256(ds.sample_ids, ds.split) == first


def test_sample_ids_are_source_indices_after_subsampling(tmp_path, skip_md5):
    fake_cifar10(tmp_path, np.random.default_rng(0))
    full = prepare_dataset("cifar10", root=tmp_path)
    small = prepare_dataset("cifar10", root=tmp_path, max_samples=7, split_seed=3)
    assert full.sample_ids == [f"cifar10:{i}" for i in range(23)]
    index = [int(i.removeprefix("cifar10:")) for i in small.sample_ids]
    assert len(index) == 7 and index == sorted(index)
    np.testing.assert_array_equal(small.images, full.images[index])


def test_image_sample_ids_are_paths_under_the_root(tmp_path):
    _labelled_split_folder(tmp_path / "imgs", with_bad=False)
    ds = prepare_dataset("image_folder", root=tmp_path / "imgs", max_samples=5)
    assert len(ds.sample_ids) == 5 and ds.sample_ids == ds.images.names
    assert all(re.fullmatch(r"(train|test)/[ab]/\d.png", i) for i in ds.sample_ids)
    assert all((tmp_path / "imgs" / i).is_file() for i in ds.sample_ids)


def test_old_dataset_files_without_the_new_attributes_still_read(tmp_path):
    arrays = {
        "images": np.zeros((3, 2, 2, 1), np.uint8),
        "labels": np.array([0, 1, 0]),
        "split": np.array([0, 0, 1], np.uint8),
    }
    write_h5(tmp_path / "old.h5", arrays, {"name": "old", "class_names": ["a", "b"]})
    back = read_dataset(tmp_path / "old.h5")
    assert back.labels.tolist() == [0, 1, 0] and back.num_classes == 2
    assert back.sample_ids is None
