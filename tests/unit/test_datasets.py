"""Dataset sources on small FAKE files in the real on-disk formats; nothing is downloaded."""

import gzip
import logging
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from tiny_workflow import fake_cifar10, fake_idx_set, idx_bytes, write_pickle

from hume_workflow.data import archives, torchvision_sets
from hume_workflow.data.idx import read_idx
from hume_workflow.data.prepare import prepare_dataset
from hume_workflow.formats.dataset import (
    TEST,
    TRAIN,
    UNLABELLED,
    read_dataset,
    write_dataset,
)

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def test_cifar10_layout_and_pixels(tmp_path, skip_md5):
    folder = fake_cifar10(tmp_path, np.random.default_rng(0))
    ds = prepare_dataset("cifar10", root=tmp_path)
    assert ds.images.shape == (23, 32, 32, 3) and ds.images.dtype == np.uint8
    assert (ds.split == TRAIN).sum() == 20 and (ds.split == TEST).sum() == 3
    assert ds.class_names == [f"c{i}" for i in range(10)] and ds.labels.dtype == np.int64
    with open(folder / "data_batch_1", "rb") as f:
        first = pickle.load(f, encoding="bytes")
    red = first[b"data"][0, :1024].reshape(32, 32)  # CHW rows: the red plane comes first
    np.testing.assert_array_equal(ds.images[0, :, :, 0], red)
    assert ds.labels[:4].tolist() == first[b"labels"]


def test_cifar100_20_uses_coarse_labels(tmp_path, skip_md5):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name, n in (("train", 6), ("test", 2)):
        batch = {
            b"data": np.zeros((n, 3072), np.uint8),
            b"fine_labels": [99] * n,
            b"coarse_labels": list(range(n)),
        }
        write_pickle(folder / name, batch)
    coarse = [f"super{i}".encode() for i in range(20)]
    write_pickle(
        folder / "meta", {b"fine_label_names": [b"f"] * 100, b"coarse_label_names": coarse}
    )
    ds = prepare_dataset("cifar100_20", root=tmp_path)
    assert ds.num_classes == 20 and ds.class_names[3] == "super3"
    assert ds.labels.tolist() == [0, 1, 2, 3, 4, 5, 0, 1]
    assert ds.split.tolist() == [TRAIN] * 6 + [TEST] * 2


def test_cifar_truncated_batch_names_the_file(tmp_path, skip_md5):
    folder = fake_cifar10(tmp_path, np.random.default_rng(0))
    data = (folder / "test_batch").read_bytes()
    (folder / "test_batch").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"test_batch: cannot read the CIFAR python batch"):
        prepare_dataset("cifar10", root=tmp_path)


def test_cifar_truncated_archive_and_missing_files_name_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"dataset.root=.*: empty directory; expected .*data_b"):
        prepare_dataset("cifar10", root=tmp_path)
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b\x08\x00truncated")
    with pytest.raises(ValueError, match=r"cifar-10-python.tar.gz: md5 differs"):
        prepare_dataset("cifar10", root=tmp_path)


def test_fake_files_fail_the_real_md5_check(tmp_path):
    fake_cifar10(tmp_path, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"data_batch_1: md5 differs from the official"):
        prepare_dataset("cifar10", root=tmp_path)


def test_stl10_binary_column_major_to_hwc(tmp_path, skip_md5):
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    rng = np.random.default_rng(1)
    hwc = {"train": rng.integers(0, 256, (3, 96, 96, 3), dtype=np.uint8)}
    hwc["test"] = rng.integers(0, 256, (2, 96, 96, 3), dtype=np.uint8)
    for part, images in hwc.items():
        # Per image: 3 planes, each stored column-major (N, C, W, H).
        (folder / f"{part}_X.bin").write_bytes(images.transpose(0, 3, 2, 1).tobytes())
        (folder / f"{part}_y.bin").write_bytes(bytes(range(1, len(images) + 1)))
    (folder / "class_names.txt").write_text("\n".join(torchvision_sets.STL10_CLASSES) + "\n")
    ds = prepare_dataset("stl10", root=tmp_path)
    np.testing.assert_array_equal(ds.images, np.concatenate([hwc["train"], hwc["test"]]))
    assert ds.labels.tolist() == [0, 1, 2, 0, 1] and ds.split.tolist() == [0, 0, 0, 1, 1]
    assert ds.class_names[0] == "airplane" and ds.num_classes == 10


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, gz):
    array = np.arange(24, dtype=">i4").reshape(2, 3, 4)
    path = tmp_path / ("x.idx.gz" if gz else "x.idx")
    path.write_bytes(gzip.compress(idx_bytes(array)) if gz else idx_bytes(array))
    back = read_idx(path)
    np.testing.assert_array_equal(back, array)
    assert back.dtype == np.int32 and back.shape == (2, 3, 4)


def test_mnist_from_torchvision_layout_gz(tmp_path, skip_md5):
    arrays = fake_idx_set(tmp_path / "MNIST" / "raw", gz=True, rng=np.random.default_rng(2))
    ds = prepare_dataset("mnist", root=tmp_path)
    assert ds.images.shape == (8, 28, 28, 1) and ds.split.tolist() == [0] * 5 + [1] * 3
    np.testing.assert_array_equal(ds.images[5:, ..., 0], arrays["t10k-images-idx3-ubyte"])
    assert ds.labels[:5].tolist() == arrays["train-labels-idx1-ubyte"].tolist()


def test_fashion_mnist_from_local_raw_idx(tmp_path):
    arrays = fake_idx_set(tmp_path / "idx", gz=False, rng=np.random.default_rng(3))
    ds = prepare_dataset("fashion_mnist", root=tmp_path / "unused", local_root=tmp_path / "idx")
    np.testing.assert_array_equal(ds.images[:5, ..., 0], arrays["train-images-idx3-ubyte"])
    assert ds.class_names[0] == "T-shirt/top" and ds.num_classes == 10


def test_truncated_and_bad_idx_files_name_the_file(tmp_path):
    fake_idx_set(tmp_path / "idx", gz=False, rng=np.random.default_rng(4))
    path = tmp_path / "idx" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: \d+ bytes, expected \d+"):
        prepare_dataset("mnist", local_root=tmp_path / "idx")
    path.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: bad magic number"):
        read_idx(path)
    gz = tmp_path / "cut.gz"
    gz.write_bytes(gzip.compress(idx_bytes(np.zeros((4, 28, 28), np.uint8)))[:-30])
    with pytest.raises(ValueError, match=r"cut.gz: cannot read the idx file"):
        read_idx(gz)


@pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST.is_dir(),
    reason="Debian package dataset-fashion-mnist not installed (/usr/share/datasets/fashion-mnist)",
)
def test_real_fashion_mnist_from_debian_package():
    ds = prepare_dataset("fashion_mnist", local_root=DEBIAN_FASHION_MNIST, max_samples=500)
    assert ds.images.shape == (500, 28, 28, 1) and ds.images.dtype == np.uint8
    assert set(np.unique(ds.labels)) <= set(range(10)) and ds.images.max() > 200
    assert (ds.split == TEST).sum() == pytest.approx(500 / 7, abs=30)  # 60,000 + 10,000


def _jpeg(path: Path, size: tuple[int, int], color: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def test_imagenet_folder_layout(tmp_path):
    for part, n in (("train", 3), ("val", 1)):
        for c, wnid in enumerate(["n01440764", "n01443537"]):
            for i in range(n):
                _jpeg(tmp_path / part / wnid / f"{wnid}_{i}.JPEG", (20, 12), (200 * c, 50, 0))
    ds = prepare_dataset("imagenet", root=tmp_path, image_size=8)
    assert ds.images.shape == (8, 8, 8, 3)
    assert ds.class_names == ["n01440764", "n01443537"]
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1, 0, 1]
    assert ds.split.tolist() == [TRAIN] * 6 + [TEST] * 2
    write_dataset(tmp_path / "d.h5", ds)
    back = read_dataset(tmp_path / "d.h5")
    assert back.images.shape == (8, 8, 8, 3) and back.images.dtype == np.uint8
    assert abs(int(back.images[3, 4, 4, 0]) - 200) < 10  # JPEG: red of the second class
    assert back.num_classes == 2
    small = prepare_dataset("imagenet", root=tmp_path, image_size=8, max_samples=3)
    assert len(small.images) == 3 and np.asarray(small.images).shape == (3, 8, 8, 3)


def test_missing_imagenet_root_is_one_line(tmp_path):
    with pytest.raises(ValueError) as error:
        prepare_dataset("imagenet", root=tmp_path / "nope")
    message = str(error.value)
    assert "\n" not in message and "dataset.root" in message and str(tmp_path / "nope") in message


def test_labelled_image_folder_mixed_sizes_random_split(tmp_path):
    for i, size in enumerate([(10, 30), (30, 10), (16, 16)]):
        _jpeg(tmp_path / "imgs" / "cats" / f"{i}.png", size, (255, 0, 0))
        _jpeg(tmp_path / "imgs" / "dogs" / f"{i}.jpg", size, (0, 0, 255))
    (tmp_path / "imgs" / "dogs" / "notes.txt").write_text("not an image")
    ds = prepare_dataset("image_folder", root=tmp_path / "imgs", image_size=6, test_fraction=0.5)
    assert ds.class_names == ["cats", "dogs"] and ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert (ds.split == TEST).sum() == 3
    images = np.asarray(ds.images)
    assert images.shape == (6, 6, 6, 3) and images[0, ..., 0].min() > 240


def test_flat_image_folder_is_unlabelled_and_holds_no_k(tmp_path, caplog):
    """K of unlabelled images is the config's alone: data.h5 holds none, so a new K never
    rewrites it. The log says the folder is unlabelled, not that it has 0 classes."""
    for i in range(4):
        _jpeg(tmp_path / "flat" / f"{i}.png", (9, 7), (i * 60, 0, 0))
    with caplog.at_level(logging.INFO):
        ds = prepare_dataset(
            "image_folder", root=tmp_path / "flat", image_size=5, test_fraction=0.25
        )
    assert "4 images, unlabelled (no class subfolders)" in caplog.text
    assert "0 classes" not in caplog.text
    assert ds.class_names == [] and (ds.labels == UNLABELLED).all() and ds.num_classes == 0
    write_dataset(tmp_path / "d.h5", ds)
    back = read_dataset(tmp_path / "d.h5")
    assert back.num_classes == 0 and back.class_names == [] and back.images.shape == (4, 5, 5, 3)
    assert "num_classes" not in h5py.File(tmp_path / "d.h5").attrs


def test_image_folder_with_train_and_test_folders(tmp_path):
    for part, n in (("train", 2), ("test", 1)):
        for name in ("a", "b"):
            for i in range(n):
                _jpeg(tmp_path / part / name / f"{i}.png", (4, 4), (0, 0, 0))
    ds = prepare_dataset("image_folder", root=tmp_path, image_size=4)
    assert ds.split.tolist() == [TRAIN] * 4 + [TEST] * 2 and ds.labels.tolist() == [
        0,
        0,
        1,
        1,
        0,
        1,
    ]


def test_undecodable_image_names_the_file(tmp_path):
    _jpeg(tmp_path / "flat" / "good.png", (4, 4), (0, 0, 0))
    (tmp_path / "flat" / "bad.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    ds = prepare_dataset("image_folder", root=tmp_path / "flat", image_size=4, test_fraction=0.5)
    with pytest.raises(ValueError, match=r"bad.jpg: cannot decode the image"):
        write_dataset(tmp_path / "d.h5", ds)
    assert not (tmp_path / "d.h5").exists()  # atomic: no half-written file


def test_unknown_source():
    with pytest.raises(ValueError, match="dataset source 'svhn'"):
        prepare_dataset("svhn")


def test_download_failure_is_one_line(tmp_path, monkeypatch):
    class Offline:  # stands in for a torchvision class whose download fails (no network here)
        base_folder, filename, tgz_md5 = "x", "x.tar.gz", "0" * 32

        def __init__(self, root, download, **kwargs):
            raise RuntimeError("File not found or corrupted.\n<urlopen error>")

    with pytest.raises(ValueError) as error:
        archives.fetch_torchvision(Offline, tmp_path, download=True, train=True)
    assert "\n" not in str(error.value) and "Offline download into" in str(error.value)
