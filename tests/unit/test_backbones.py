"""Frozen backbones: weight loading, preprocessing, and batched extraction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

from hume_workflow.embed.extract import extract_features
from hume_workflow.models.base import Backbone
from hume_workflow.models.efficientnet import _default_weights_path, load_efficientnet_lite0
from hume_workflow.models.registry import build_backbone

IMAGENET_CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(scope="module")
def checkpoint() -> dict[str, torch.Tensor]:
    return torch.load(_default_weights_path(), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def effnet_small() -> Backbone:
    return build_backbone("efficientnet_lite0", image_size=64)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_effnet_classifies_chelsea_as_cat() -> None:
    backbone = build_backbone("efficientnet_lite0")  # image_size 224
    assert backbone.dim == 1280
    image = torch.from_numpy(data.chelsea())[None]  # (1, 300, 451, 3) uint8
    with torch.inference_mode():
        x = backbone.preprocess(image)
        assert x.shape == (1, 3, 224, 224)
        logits = backbone.model(x)
        feats = backbone.forward_features(x)
    assert int(logits.argmax()) in IMAGENET_CATS
    assert feats.shape == (1, 1280) and feats.dtype == torch.float32
    # the features are the classifier's input
    head = backbone.model.get_classifier()
    torch.testing.assert_close(head(feats), logits, rtol=1e-4, atol=1e-4)


def test_effnet_describe() -> None:
    info = build_backbone("efficientnet_lite0", image_size=96, invert=True).describe()
    assert info["weights"] == "efficientnet-lite0-57934424.pth"
    assert str(info["weights_sha256"]).startswith("57934424")
    assert info["image_size"] == 96 and info["invert"] == 1 and info["output_dim"] == 1280
    assert info["mean"] == info["std"] == "(0.5, 0.5, 0.5)"


def test_effnet_load_rejects_changed_shape(checkpoint, tmp_path) -> None:
    bad = dict(checkpoint)
    key = "_blocks.3._project_conv.weight"
    bad[key] = torch.zeros(bad[key].shape[0] + 1, *bad[key].shape[1:])
    path = tmp_path / "bad.pth"
    torch.save(bad, path)
    with pytest.raises(ValueError, match=rf"{key}.*shape.*vs timm .*shape"):
        load_efficientnet_lite0(path)


def test_effnet_load_rejects_missing_tensor(checkpoint, tmp_path) -> None:
    bad = dict(checkpoint)
    del bad["_blocks.0._depthwise_conv.weight"]
    path = tmp_path / "missing.pth"
    torch.save(bad, path)
    with pytest.raises(ValueError, match=r"246 vs 247 tensors.*shape.*shape"):
        load_efficientnet_lite0(path)
    last = dict(checkpoint)
    del last["_fc.bias"]
    torch.save(last, path)
    with pytest.raises(ValueError, match=r"unpaired tensor: timm 'classifier.bias' shape"):
        load_efficientnet_lite0(path)


def test_effnet_load_without_bn_counters(checkpoint, tmp_path) -> None:
    slim = {k: v for k, v in checkpoint.items() if not k.endswith("num_batches_tracked")}
    assert len(checkpoint) == 296 and len(slim) == 247
    path = tmp_path / "slim.pth"
    torch.save(slim, path)
    a, b = load_efficientnet_lite0(), load_efficientnet_lite0(path)
    assert not a.training and not b.training
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(a(x), b(x))


def test_effnet_preprocess_gray_and_invert(effnet_small, rng) -> None:
    gray = rng.integers(0, 256, size=(2, 20, 30, 1), dtype=np.uint8)
    x = effnet_small.preprocess(torch.from_numpy(gray))
    assert x.shape == (2, 3, 64, 64) and x.dtype == torch.float32
    torch.testing.assert_close(x[:, 0], x[:, 2])
    assert x.min() >= -1.0 and x.max() <= 1.0
    rgb = torch.from_numpy(np.repeat(gray, 3, axis=-1))
    torch.testing.assert_close(effnet_small.preprocess(rgb), x)
    inverted = build_backbone("efficientnet_lite0", image_size=64, invert=True)
    torch.testing.assert_close(inverted.preprocess(torch.from_numpy(255 - gray)), x)


def test_pixels_equal_scaled_flat_images(rng) -> None:
    backbone = build_backbone("pixels")
    for channels in (1, 3):
        images = rng.integers(0, 256, size=(5, 7, 9, channels), dtype=np.uint8)
        feats = extract_features(images, backbone, progress=False)
        assert feats.shape == (5, 7 * 9 * channels) and feats.dtype == np.float32
        expected = images.reshape(5, -1).astype(np.float32) / np.float32(255)
        np.testing.assert_allclose(feats, expected, rtol=1e-6)


def test_pixels_resize(rng) -> None:
    backbone = build_backbone("pixels", image_size=4)
    images = rng.integers(0, 256, size=(5, 12, 10, 3), dtype=np.uint8)
    feats = extract_features(images, backbone, progress=False)
    assert feats.shape == (5, 4 * 4 * 3) == (5, backbone.output_dim(images.shape[1:]))
    assert 0.0 <= feats.min() and feats.max() <= 1.0
    const = np.full((2, 12, 10, 1), 51, dtype=np.uint8)
    np.testing.assert_allclose(extract_features(const, backbone, progress=False), 0.2, rtol=1e-6)


@pytest.mark.parametrize("kind", ["pixels", "efficientnet_lite0"])
def test_extract_features_batch_size_invariant(kind, effnet_small, rng) -> None:
    backbone = effnet_small if kind == "efficientnet_lite0" else build_backbone("pixels")
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)  # (N, H, W) grayscale
    small = extract_features(images, backbone, batch_size=3, progress=False)
    big = extract_features(images, backbone, batch_size=64, progress=False)
    dim = 1280 if kind == "efficientnet_lite0" else 28 * 28
    assert small.shape == (7, dim) and small.dtype == np.float32
    np.testing.assert_allclose(small, big, rtol=1e-5, atol=1e-5)


def test_extract_features_autocast_cpu(effnet_small, rng) -> None:
    images = rng.integers(0, 256, size=(4, 28, 28, 1), dtype=np.uint8)
    ref = extract_features(images, effnet_small, progress=False)
    amp = extract_features(images, effnet_small, progress=False, autocast_dtype=torch.bfloat16)
    assert amp.dtype == np.float32
    assert np.corrcoef(ref.ravel(), amp.ravel())[0, 1] > 0.99


def test_bad_inputs_raise(rng) -> None:
    backbone = build_backbone("pixels")
    with pytest.raises(ValueError, match="uint8"):
        extract_features(rng.random((2, 8, 8, 1)), backbone, progress=False)
    with pytest.raises(ValueError, match=r"C in \{1, 3\}"):
        backbone(torch.zeros(2, 8, 8, 2, dtype=torch.uint8))


def test_unknown_kind_lists_known_kinds() -> None:
    with pytest.raises(ValueError, match=r"unknown backbone 'resnet'.*efficientnet_lite0, pixels"):
        build_backbone("resnet")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_extract_features_cuda_matches_cpu(rng) -> None:
    images = rng.integers(0, 256, size=(8, 28, 28, 1), dtype=np.uint8)
    cpu = extract_features(images, build_backbone("efficientnet_lite0", image_size=64))
    gpu_backbone = build_backbone("efficientnet_lite0", image_size=64)
    gpu = extract_features(images, gpu_backbone, device="cuda", progress=False)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-3)
    bf16 = extract_features(
        images, gpu_backbone, device="cuda", progress=False, autocast_dtype=torch.bfloat16
    )
    assert np.corrcoef(bf16.ravel(), cpu.ravel())[0, 1] > 0.99
