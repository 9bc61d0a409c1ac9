"""Frozen backbones: weight loading, preprocessing, and batched extraction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

from hume_workflow.embed.extract import extract_features
from hume_workflow.errors import InputError
from hume_workflow.models.base import Backbone
from hume_workflow.models.efficientnet import (
    LITE_VARIANTS,
    _default_weights_path,
    load_efficientnet_lite,
)
from hume_workflow.models.registry import build_backbone
from hume_workflow.plan.backbone_kinds import KINDS

IMAGENET_CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(scope="module")
def checkpoint() -> dict[str, torch.Tensor]:
    return torch.load(_default_weights_path(0), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def effnet_small() -> Backbone:
    return build_backbone("efficientnet_lite0", image_size=64)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.mark.parametrize(("variant", "native"), [(0, 224), (1, 240), (2, 260)])
def test_effnet_classifies_chelsea_as_cat(variant, native) -> None:
    """Each variant at its native size (the default image_size): the weights map right."""
    backbone = build_backbone(f"efficientnet_lite{variant}")
    assert backbone.dim == 1280 and backbone.image_size == native
    image = torch.from_numpy(data.chelsea())[None]  # (1, 300, 451, 3) uint8
    with torch.inference_mode():
        x = backbone.preprocess(image)
        assert x.shape == (1, 3, native, native)
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
        load_efficientnet_lite(0, path)


def test_effnet_load_rejects_missing_tensor(checkpoint, tmp_path) -> None:
    bad = dict(checkpoint)
    del bad["_blocks.0._depthwise_conv.weight"]
    path = tmp_path / "missing.pth"
    torch.save(bad, path)
    with pytest.raises(ValueError, match=r"246 vs 247 tensors.*shape.*shape"):
        load_efficientnet_lite(0, path)
    last = dict(checkpoint)
    del last["_fc.bias"]
    torch.save(last, path)
    with pytest.raises(ValueError, match=r"unpaired tensor: timm 'classifier.bias' shape"):
        load_efficientnet_lite(0, path)


@pytest.mark.parametrize(("variant", "tensors", "counters"), [(0, 296, 49), (1, 386, 64)])
def test_effnet_load_without_bn_counters(variant, tensors, counters, tmp_path) -> None:
    full = torch.load(_default_weights_path(variant), map_location="cpu", weights_only=True)
    slim = {k: v for k, v in full.items() if not k.endswith("num_batches_tracked")}
    assert len(full) == tensors and len(slim) == tensors - counters
    path = tmp_path / "slim.pth"
    torch.save(slim, path)
    a, b = load_efficientnet_lite(variant), load_efficientnet_lite(variant, path)
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
    known = r"efficientnet_lite0, efficientnet_lite1, efficientnet_lite2, pixels"
    with pytest.raises(ValueError, match=rf"unknown backbone 'resnet'.*{known}"):
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


LITE_KINDS = [f"efficientnet_lite{variant}" for variant in LITE_VARIANTS]


def test_the_lite_variants_are_kinds_with_packaged_weights() -> None:
    assert LITE_KINDS == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    assert all(KINDS[kind].cost == "network" and KINDS[kind].local_weights for kind in LITE_KINDS)
    names = [_default_weights_path(variant).name for variant in LITE_VARIANTS]
    assert [name.split("-")[1] for name in names] == ["lite0", "lite1", "lite2"]


@pytest.mark.parametrize("kind", LITE_KINDS[1:])
def test_lite_variant_gives_1280_features(kind, rng) -> None:
    backbone = build_backbone(kind, image_size=32, invert=True)
    images = rng.integers(0, 256, size=(3, 20, 20, 1), dtype=np.uint8)
    small = extract_features(images, backbone, batch_size=2, progress=False)
    big = extract_features(images, backbone, batch_size=8, progress=False)
    assert small.shape == (3, 1280) and small.dtype == np.float32
    assert np.isfinite(small).all() and small.std() > 0
    np.testing.assert_allclose(small, big, rtol=1e-5, atol=1e-5)
    info = backbone.describe()
    variant = kind[-1]
    assert info["backbone"] == kind and info["model"] == f"timm tf_efficientnet_lite{variant}"
    assert str(info["weights"]).startswith(f"efficientnet-lite{variant}-")
    assert info["image_size"] == 32 and info["invert"] == 1 and info["output_dim"] == 1280


@pytest.mark.parametrize(("variant", "other", "first"), [
    (1, 0, "position 50: checkpoint '_blocks.3._depthwise_conv.weight' shape (144, 1, 5, 5) "
     "vs timm 'blocks.1.2.conv_dw.weight' shape (144, 1, 3, 3)"),
    (2, 1, "position 70: checkpoint '_blocks.4._project_conv.weight' shape (40, 144, 1, 1) "
     "vs timm 'blocks.2.0.conv_pwl.weight' shape (48, 144, 1, 1)"),
    (0, 2, "position 50: checkpoint '_blocks.3._depthwise_conv.weight' shape (144, 1, 3, 3) "
     "vs timm 'blocks.2.0.conv_dw.weight' shape (144, 1, 5, 5)"),
], ids=["lite1-given-lite0", "lite2-given-lite1", "lite0-given-lite2"])  # fmt: skip
def test_lite_loader_refuses_another_variant_s_weights(variant, other, first) -> None:
    path = _default_weights_path(other)
    counts = {0: 247, 1: 322, 2: 322}
    with pytest.raises(InputError) as caught:
        load_efficientnet_lite(variant, path)
    assert str(caught.value) == (
        f"{path}: cannot map checkpoint onto tf_efficientnet_lite{variant} ({counts[other]} vs "
        f"{counts[variant]} tensors, not counting num_batches_tracked); first mismatch at "
        f"{first}; expected EfficientNet-Lite{variant} weights in EfficientNet-PyTorch's key "
        "order"
    )
    with pytest.raises(InputError) as caught:  # as a config names it
        build_backbone(f"efficientnet_lite{variant}", config_key="backbones.lite", weights=path)
    line = str(caught.value)
    assert "\n" not in line and first in line
    assert line.startswith(f"config backbones.lite (kind 'efficientnet_lite{variant}'): {path}: ")


@pytest.mark.parametrize("kind", LITE_KINDS[1:])
def test_the_planner_accepts_a_lite_variant(kind, tmp_path, monkeypatch) -> None:
    from tiny_workflow import filled, preflight, with_backbone

    monkeypatch.chdir(tmp_path)  # the checks read results/ relative to it: an empty one
    config = with_backbone("lite", {"kind": kind, "image_size": 32, "pca_dim": 16})
    preflight(config)  # raises on a refusal
    spec = filled(config)["backbones"]["lite"]
    assert spec["kind"] == kind and spec["image_size"] == 32
    weights = with_backbone("lite", {"kind": kind, "weights": "lite.pth"})
    with pytest.raises(InputError, match=r"lite.weights='lite.pth': file not found"):
        preflight(weights)  # a local weights file, checked like efficientnet_lite0's
