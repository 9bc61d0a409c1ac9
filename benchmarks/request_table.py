"""The first-attempt scheduler requests of each shipped config, as SLURM would receive them.

Plans every config under config/ with ``snakemake --dry-run --profile profiles/slurm`` in an
empty working directory (before any file exists), with placeholder checkpoints and, for
ImageNet, a placeholder folder of 1000 empty classes (scanned, never decoded; the requests
count ImageNet's published 1.28 M images). Prints the README's table and writes CSV.

    python benchmarks/request_table.py [--out benchmarks/out/requests.csv]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]


def stand_ins(preset: dict, workdir: Path) -> dict:
    """``--config`` overrides pointing the preset's local files at placeholders."""
    overrides: dict = {}
    for name, spec in preset["backbones"].items():
        if "path" in spec:
            path = workdir / "placeholders" / Path(spec["path"]).name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
            overrides.setdefault("backbones", {})[name] = {"path": str(path)}
    if preset["dataset"]["source"] == "imagenet":
        root = workdir / "imagenet"
        for part in ("train", "val"):
            for c in range(preset["dataset"]["num_classes"]):
                (root / part / f"n{c:08d}").mkdir(parents=True)
                (root / part / f"n{c:08d}" / "placeholder.JPEG").touch()
        overrides["dataset"] = {"root": str(root)}
    return overrides


def plan(config: Path) -> str:
    """The dry-run log of ``config`` through the SLURM profile."""
    preset = yaml.safe_load(config.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        overrides = stand_ins(preset, Path(tmp))
        values = [
            f"{k}={yaml.safe_dump(v, default_flow_style=True).strip()}"
            for k, v in overrides.items()
        ]
        cmd = [
            sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
            "--profile", str(REPO / "profiles/slurm"), "--configfile", str(config),
            "--dry-run", *(["--config", *values] if values else []),
        ]  # fmt: skip
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{config}: dry run failed\n{proc.stderr[-2000:]}")
    return proc.stdout


def job_requests(log: str, rule: str) -> list[dict[str, int]]:
    """The integer resources of each planned job of ``rule`` in a dry-run log."""
    found = []
    for block in re.split(r"\n(?=(?:local)?rule )", log):
        if block.startswith((f"rule {rule}:", f"localrule {rule}:")):
            line = re.search(r"resources: (.+)", block).group(1)
            found.append({k: int(v) for k, v in re.findall(r"(\w+)=(\d+)(?:,|$)", line)})
    return found


def largest(jobs: list[dict[str, int]]) -> str:
    job = max(jobs, key=lambda r: (r["runtime"], r["mem_mb"]))
    return f"{job.get('gpu', 0)} / {job['mem_mb']} / {job['runtime']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/out/requests.csv")
    args = parser.parse_args()
    rows = []
    for config in sorted((REPO / "config").glob("*.yaml")):
        log = plan(config)
        hume, embed = job_requests(log, "run_hume"), job_requests(log, "extract_embeddings")
        rows.append(
            {
                "config": f"`config/{config.name}`",
                "HUME runs": len(hume),
                "largest embedding job: GPUs / mem_mb / minutes": largest(embed),
                "largest HUME run: GPUs / mem_mb / minutes": largest(hume),
            }
        )
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
