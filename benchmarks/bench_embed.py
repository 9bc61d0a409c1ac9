"""Throughput (images/s) of the embed stage vs the bare model forward on random tensors.

    python benchmarks/bench_embed.py           # efficientnet_lite0 on CPU (+ ViT-L/14 on CUDA)
    python benchmarks/bench_embed.py --quick   # a small CPU-only run

"embed stage" is a warm ``embed_dataset`` call end to end on a random uint8 dataset (HDF5
read, DataLoader, preprocessing, forward, chunked HDF5 write, attributes), minus the backbone
construction time (timed separately, reported as construct_s). "bare forward" is
``backbone.forward_features`` on batches of random uint8 images of the same batch size,
preprocessed beforehand. Prints a table and writes benchmarks/out/embed.csv.
"""

from __future__ import annotations

import argparse
import csv
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hume_workflow.embed.extract import autocast_dtype
from hume_workflow.embed.pipeline import embed_dataset
from hume_workflow.embed.settings import PRECISIONS, EmbedSettings
from hume_workflow.formats.dataset import ImageDataset, write_dataset
from hume_workflow.models.registry import build_backbone


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bare_forward(spec: dict, device: str, n: int, batch_size: int, image_size: int) -> float:
    """Images/s of forward_features on random (batch, 3, S, S) inputs (warm-up excluded)."""
    options = {k: v for k, v in spec.items() if k not in EmbedSettings.__dataclass_fields__}
    options.pop("kind")
    backbone = build_backbone(spec["kind"], **options).to(device).eval()
    channels_last = device.startswith("cuda") and backbone.prefers_channels_last
    if channels_last:
        backbone = backbone.to(memory_format=torch.channels_last)
    # random uint8 images, preprocessed once (not timed): the input distribution of the embed
    # stage. (torch.randn inputs ran efficientnet_lite0 ~1.8x slower on CPU, data-dependent.)
    images = torch.randint(0, 256, (batch_size, image_size, image_size, 3), dtype=torch.uint8)
    with torch.inference_mode():
        x = backbone.preprocess(images.to(device)).clone()
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    dtype = autocast_dtype(EmbedSettings.from_spec(spec).precision, device)
    amp = torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None)
    steps = max(1, n // batch_size)
    with torch.inference_mode(), amp:
        backbone.forward_features(x)  # warm-up
        _sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            backbone.forward_features(x).float().cpu()
        _sync(device)
    return steps * batch_size / (time.perf_counter() - start)


def embed_stage(
    spec: dict, device: str, n: int, image_hw: int, workdir: Path
) -> tuple[float, float]:
    """(images/s of embed_dataset excluding construction, construction seconds)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, image_hw, image_hw, 3), dtype=np.uint8)
    data = workdir / "data.h5"
    write_dataset(
        data,
        ImageDataset(
            "random",
            images,
            np.zeros(n, np.int64),
            np.zeros(n, np.uint8),
            ["0"],
        ),
    )
    options = {k: v for k, v in spec.items() if k not in EmbedSettings.__dataclass_fields__}
    options.pop("kind")
    start = time.perf_counter()
    build_backbone(spec["kind"], **options)
    construct = time.perf_counter() - start
    # warm-up on a small subset is not possible through embed_dataset; run it twice
    embed_dataset(data, workdir / "warm.h5", "bench", spec, device)
    _sync(device)
    start = time.perf_counter()
    embed_dataset(data, workdir / "out.h5", "bench", spec, device)
    _sync(device)
    total = time.perf_counter() - start
    return n / max(total - construct, 1e-9), construct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="128 images at 128 px, CPU only")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", default="benchmarks/out/embed.csv")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    size = 128 if args.quick else 224
    n_cpu = 128 if args.quick else 512
    cases = [  # name, spec, device, images, input size
        (
            "efficientnet_lite0",
            {"kind": "efficientnet_lite0", "image_size": size, "batch_size": 32},
            "cpu",
            n_cpu,
            size,
        ),
    ]
    if torch.cuda.is_available() and not args.quick:
        for precision in ("fp32", "bf16"):
            spec = {
                "kind": "timm",
                "model": "vit_large_patch14_224",
                "pretrained": False,
                "batch_size": 128,
                "num_workers": 4,
                "precision": precision,
            }
            cases.append((f"vit_large_patch14_224 {precision}", spec, "cuda", 4096, 224))
    assert set(PRECISIONS) >= {"fp32", "bf16"}
    rows = []
    for name, spec, device, n, input_size in cases:
        with tempfile.TemporaryDirectory() as tmp:
            stage, construct = embed_stage(spec, device, n, input_size, Path(tmp))
        bare = bare_forward(spec, device, n, spec["batch_size"], input_size)
        rows.append(
            {
                "backbone": name,
                "device": torch.cuda.get_device_name()
                if device == "cuda"
                else f"cpu x{args.threads}",
                "images": n,
                "image_size": input_size,
                "batch_size": spec["batch_size"],
                "embed_img_per_s": round(stage, 1),
                "bare_forward_img_per_s": round(bare, 1),
                "embed_vs_bare": round(stage / bare, 3),
                "construct_s": round(construct, 2),
            }
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    header = list(rows[0])
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in header]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(str(r[h]).ljust(w) for h, w in zip(header, widths, strict=True)))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
