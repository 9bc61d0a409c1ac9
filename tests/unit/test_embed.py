"""embed_dataset end to end with timm / torchvision / local-checkpoint backbones (offline)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from hume_workflow.embed.extract import ImageBatches, extract_features, iter_features
from hume_workflow.embed.pipeline import embed_dataset
from hume_workflow.formats.dataset import write_dataset
from hume_workflow.formats.io import read_h5
from hume_workflow.models.registry import build_backbone
from hume_workflow.models.zoo import create_torchvision_model, strip_classifier

try:  # moved to image_sources alongside the new dataset sources
    from hume_workflow.data.prepare import prepare_dataset
except ImportError:  # pragma: no cover
    from hume_workflow.formats.dataset import prepare_dataset

N = 40
TIMM = {"kind": "timm", "model": "resnet18", "image_size": 32}
TORCHVISION = {"kind": "torchvision", "model": "resnet18", "weights": None, "image_size": 32}


@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "digits.h5"
    write_dataset(path, prepare_dataset("sklearn_digits", max_samples=N))
    return path


def embed(dataset_path, out, spec, name="b") -> tuple[np.ndarray, dict]:
    """Embed with a fixed seed (random init) and read the features and attributes back."""
    torch.manual_seed(0)
    embed_dataset(dataset_path, out, name, spec)
    arrays, attrs = read_h5(out)
    return arrays["features"], attrs | {"_arrays": arrays}


@pytest.mark.parametrize(("spec", "dim"), [(TIMM, 512), (TORCHVISION, 512)])
def test_embed_end_to_end(dataset_path, tmp_path, spec, dim) -> None:
    feats, attrs = embed(dataset_path, tmp_path / "a.h5", {**spec, "batch_size": 16}, "net")
    assert feats.shape == (N, dim) and feats.dtype == np.float32
    assert np.isfinite(feats).all() and feats.std() > 0
    assert attrs["_arrays"]["labels"].shape == (N,) and attrs["_arrays"]["split"].shape == (N,)
    assert attrs["backbone"] == "net" and attrs["dataset"] == "digits"
    pre = attrs["preprocessing"]
    assert pre["backbone"] == spec["kind"] and pre["image_size"] == 32 and pre["output_dim"] == dim
    assert pre["weights"] == "random init" and "mean" in pre and "resize" in pre
    assert attrs["postprocessing"] == {
        "l2_normalize": False,
        "storage_dtype": "float32",
        "order": "pca (train split) -> l2_normalize -> storage cast",
    }
    assert attrs["extraction"]["batch_size"] == 16 and attrs["extraction"]["autocast"] == "none"
    assert "torch" in attrs["versions"] and attrs["backbone_spec"]["model"] == "resnet18"
    with h5py.File(tmp_path / "a.h5") as f:
        assert f["features"].chunks is not None
    # same input twice on CPU: identical features
    again, _ = embed(dataset_path, tmp_path / "b.h5", {**spec, "batch_size": 16}, "net")
    np.testing.assert_array_equal(feats, again)


def test_batch_size_invariance_and_ragged_last_batch(dataset_path, tmp_path) -> None:
    ref, _ = embed(dataset_path, tmp_path / "a.h5", {**TIMM, "batch_size": N})
    for batch_size in (7, 16):  # 40 = 5 * 7 + 5 = 2 * 16 + 8
        feats, attrs = embed(dataset_path, tmp_path / "b.h5", {**TIMM, "batch_size": batch_size})
        assert attrs["extraction"]["batch_size"] == batch_size
        np.testing.assert_allclose(feats, ref, rtol=1e-4, atol=1e-5)


def test_float16_l2_and_pca(dataset_path, tmp_path) -> None:
    ref, _ = embed(dataset_path, tmp_path / "a.h5", TORCHVISION)
    spec = {**TORCHVISION, "float16": True, "l2_normalize": True, "batch_size": 9}
    feats, attrs = embed(dataset_path, tmp_path / "b.h5", spec)
    assert feats.dtype == np.float16 and feats.shape == ref.shape
    assert attrs["postprocessing"]["storage_dtype"] == "float16"
    assert attrs["postprocessing"]["l2_normalize"] is True
    np.testing.assert_allclose(np.linalg.norm(feats.astype(np.float32), axis=1), 1.0, atol=2e-3)
    unit = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(feats, unit, atol=2e-3)
    spec = {**TORCHVISION, "pca_dim": 5, "l2_normalize": True, "batch_size": 16}
    reduced, attrs = embed(dataset_path, tmp_path / "c.h5", spec)
    assert reduced.shape == (N, 5) and reduced.dtype == np.float32
    assert attrs["postprocessing"]["pca_dim"] == 5
    np.testing.assert_allclose(np.linalg.norm(reduced, axis=1), 1.0, rtol=1e-5)
    assert not list(tmp_path.glob("*.tmp.*"))  # no temporary files left behind


def test_failed_embedding_leaves_no_file(dataset_path, tmp_path) -> None:
    out = tmp_path / "x.h5"
    with pytest.raises(ValueError, match="pca_dim=999"):
        embed_dataset(dataset_path, out, "b", {**TIMM, "pca_dim": 999})
    assert not out.exists() and not list(tmp_path.iterdir())


def test_dataloader_workers_and_lazy_hdf5(dataset_path) -> None:
    backbone = build_backbone("pixels")
    data = ImageBatches(dataset_path, batch_size=16)  # read lazily from the file
    assert len(data) == 3 and data.image_shape == (8, 8, 1) and data.num_images == N
    lazy = np.concatenate([f for _, f in iter_features(data, backbone, num_workers=2)])
    images = read_h5(dataset_path, ["images"])[0]["images"]
    eager = extract_features(images, backbone, batch_size=16, progress=False)
    np.testing.assert_array_equal(lazy, eager)


def _moco_checkpoint(model: torch.nn.Module) -> dict:
    """A MoCo v2-style checkpoint: DataParallel query/key encoders with an MLP head, a queue."""
    state = {f"module.encoder_q.{k}": v for k, v in model.state_dict().items()}
    state["module.encoder_q.fc.0.weight"] = torch.randn(2048, 512)  # MLP head: dropped
    state["module.encoder_q.fc.2.weight"] = torch.randn(128, 2048)
    state.update({f"module.encoder_k.{k}": v for k, v in model.state_dict().items()})
    state["module.queue"] = torch.randn(128, 16)
    return {"epoch": 200, "arch": "resnet18", "state_dict": state}


def test_checkpoint_moco_style_loads(dataset_path, tmp_path) -> None:
    torch.manual_seed(1)
    source, _ = create_torchvision_model("resnet18")
    path = tmp_path / "moco.pth.tar"
    torch.save(_moco_checkpoint(source), path)
    spec = {
        "kind": "checkpoint",
        "path": str(path),
        "arch": "resnet18",
        "source": "torchvision",
        "state_dict_key": "state_dict",
        "strip_prefix": "module.encoder_q.",
        "image_size": 32,
    }
    feats, attrs = embed(dataset_path, tmp_path / "c.h5", spec)
    assert attrs["preprocessing"]["weights_sha256"] and attrs["preprocessing"]["weights"]
    # the features of the model the checkpoint was saved from
    strip_classifier(source)
    reference = build_backbone("torchvision", model="resnet18", image_size=32)
    reference.model = source.eval()
    images = read_h5(dataset_path, ["images"])[0]["images"]
    expected = extract_features(images, reference, progress=False)
    np.testing.assert_allclose(feats, expected, rtol=1e-5, atol=1e-5)


def test_timm_checkpoint_and_local_weights(tmp_path) -> None:
    import timm

    model = timm.create_model("resnet18", pretrained=False).eval()
    path = tmp_path / "timm.pth"
    torch.save(model.state_dict(), path)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 16, 16, 3), dtype=np.uint8)
    a = build_backbone("timm", model="resnet18", weights=str(path), image_size=32)
    b = build_backbone("checkpoint", path=str(path), arch="resnet18", source="timm", image_size=32)
    with torch.inference_mode():
        expected = model.forward_head(
            model.forward_features(a.preprocess(torch.from_numpy(images))), pre_logits=True
        )
        torch.testing.assert_close(a(torch.from_numpy(images)), expected)
        torch.testing.assert_close(b(torch.from_numpy(images)), expected)


def test_checkpoint_mismatch_lists_keys(tmp_path) -> None:
    model, _ = create_torchvision_model("resnet18")
    state = model.state_dict()
    del state["layer1.0.conv1.weight"]
    state["projector.weight"] = torch.zeros(3)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(ValueError) as err:
        build_backbone("checkpoint", path=str(path), arch="resnet18")
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    assert "1 missing keys [layer1.0.conv1.weight]" in message
    assert "1 unexpected keys [projector.weight]" in message
    # a wrong prefix: every key is missing, the count is given and the list is cut at 10
    torch.save({f"backbone.{k}": v for k, v in model.state_dict().items()}, path)
    with pytest.raises(ValueError, match=r"missing keys \[conv1.weight, .*\(\d+ more\)\]"):
        build_backbone("checkpoint", path=str(path), arch="resnet18")


class NotATensor:
    """A custom class: its pickle needs a global that weights_only refuses."""


def test_checkpoint_needing_unpickling_is_refused(tmp_path) -> None:
    path = tmp_path / "pickled.pth"
    torch.save({"state_dict": {}, "config": NotATensor()}, path)
    with pytest.raises(ValueError, match=r"pickled.pth: refusing to unpickle.*NotATensor"):
        build_backbone("checkpoint", path=str(path), arch="resnet18", state_dict_key="state_dict")


def test_unknown_model_names_suggest_close_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown timm model 'resnet181'; did you mean resnet18"):
        build_backbone("timm", model="resnet181")
    with pytest.raises(ValueError, match=r"unknown torchvision .* 'resnet_18'.*resnet18"):
        build_backbone("torchvision", model="resnet_18")
    with pytest.raises(ValueError, match=r"unknown weights 'IMAGENET'; expected one of DEFAULT"):
        build_backbone("torchvision", model="resnet18", weights="IMAGENET")
    with pytest.raises(ValueError, match="precision='fp8'"):
        embed_dataset("unused.h5", "unused_out.h5", "b", {"kind": "pixels", "precision": "fp8"})
