"""The tests' tiny end-to-end config and how to run Snakemake on it (plain helpers)."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

TINY = {
    "dataset": {"name": "tiny", "source": "sklearn_digits", "num_classes": 10, "max_samples": 300},
    "backbones": {
        "pixels": {"kind": "pixels"},
        "efficientnet_lite0": {"kind": "efficientnet_lite0", "image_size": 32},
    },
    "pairs": [
        {"phi1": "pixels", "phi2": "efficientnet_lite0"},
        {"phi1": "efficientnet_lite0", "phi2": "pixels"},
    ],
    "setting": "inductive",
    "num_runs": 2,
    "hume": {"num_iters": 4, "num_subsets": 2, "adaptation_steps": 3, "inner_lr": 0.01},
    "score": {"n_folds": 3, "max_iter": 50},
}
PAIRS = ["pixels--efficientnet_lite0", "efficientnet_lite0--pixels"]


def snakemake_command(configfiles: list[str], *args: str) -> list[str]:
    """The command line of Snakemake on this repository's Snakefile."""
    snakefile = str(REPO / "Snakefile")
    return [sys.executable, "-m", "snakemake", "-s", snakefile, "--configfile", *configfiles, *args]


def run_snakemake(
    workdir: Path, config: dict, *args: str, base: Path | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run Snakemake in ``workdir`` on ``config`` (merged over the config file ``base``)."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    configfiles = [str(base), "config.yaml"] if base else ["config.yaml"]
    cmd = snakemake_command(configfiles, *args)
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env)


def snakemake(workdir: Path, config: dict, *args: str, base: Path | None = None) -> str:
    """As :func:`run_snakemake`, asserting success; returns the output."""
    proc = run_snakemake(workdir, config, *args, base=base)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def fingerprint(results: Path) -> dict[str, tuple[str, int]]:
    """{path under ``results``: (sha256, mtime_ns)} of every file, to prove none changed."""
    return {
        str(p.relative_to(results)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(results.rglob("*"))
        if p.is_file()
    }


def stand_in_overrides(preset: dict, folder: Path) -> list[str]:
    """``--config`` arguments that point a preset's local inputs (checkpoints, the ImageNet
    folder: one empty image per class, scanned by a plan, never decoded) at placeholders
    made under ``folder``; nothing else of the preset is touched."""
    overrides: dict = {}
    for backbone, spec in preset["backbones"].items():
        if "path" in spec:
            stand_in = folder / Path(spec["path"]).name
            stand_in.touch()
            overrides.setdefault("backbones", {})[backbone] = {"path": str(stand_in)}
    if preset["dataset"]["source"] == "imagenet":
        root = folder / "imagenet"
        for part in ("train", "val"):
            for c in range(preset["dataset"]["num_classes"]):
                (root / part / f"n{c:08d}").mkdir(parents=True)
                (root / part / f"n{c:08d}" / "placeholder.JPEG").touch()
        overrides["dataset"] = {"root": str(root)}
    values = [
        f"{k}={yaml.safe_dump(v, default_flow_style=True).strip()}" for k, v in overrides.items()
    ]
    return ["--config", *values] if values else []


def planned_requests(log: str, rule: str) -> list[dict[str, int]]:
    """The integer resources of each planned job of ``rule`` in a dry run's log."""
    found = []
    for block in re.split(r"\n(?=(?:local)?rule )", log):
        if block.startswith((f"rule {rule}:", f"localrule {rule}:")):
            line = re.search(r"resources: (.+)", block).group(1)
            found.append({k: int(v) for k, v in re.findall(r"(\w+)=(\d+)(?:,|$)", line)})
    return found
