import os
from pathlib import Path

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

# Jobs import the library from this checkout, also inside `--sdm conda` environments, whose
# env files cannot install a local package (Snakemake creates them from a temporary copy).
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        filter(
            None, [str(Path(workflow.basedir) / "src"), os.environ.get("PYTHONPATH")]
        )
    )
)

DATASET = config["dataset"]["name"]
BACKBONES = config["backbones"]
PAIRS = [(pair["phi1"], pair["phi2"]) for pair in config["pairs"]]
SEEDS = list(range(config["num_runs"]))
SPACES = sorted(
    {space for pair in PAIRS for space in pair}
)  # the backbones the pairs use

for phi1, phi2 in PAIRS:
    for space in (phi1, phi2):
        if space not in BACKBONES:
            raise ValueError(
                f"config pairs: backbone {space!r} is not declared under 'backbones' "
                f"(declared: {', '.join(sorted(BACKBONES))})"
            )
    if phi1 == phi2:
        raise ValueError(
            f"config pairs: phi1 and phi2 are both {phi1!r}; expected two spaces"
        )


wildcard_constraints:
    dataset="[A-Za-z0-9][A-Za-z0-9_]*",
    backbone="[A-Za-z0-9][A-Za-z0-9_]*",
    phi1="[A-Za-z0-9][A-Za-z0-9_]*",
    phi2="[A-Za-z0-9][A-Za-z0-9_]*",
    seed="[0-9]+",


def backbone_spec(wildcards):
    """The config entry of one backbone: the only params of its embedding job."""
    return BACKBONES[wildcards.backbone]


def pair_runs(wildcards):
    """The run files of one pair (static: seeds come from the config, not from a glob)."""
    return expand(
        "results/{dataset}/hume/{phi1}--{phi2}/runs/seed{seed}.h5",
        dataset=wildcards.dataset,
        phi1=wildcards.phi1,
        phi2=wildcards.phi2,
        seed=SEEDS,
    )


def pair_files(name):
    """Per-pair files of the configured pairs, e.g. pair_files('metrics.json')."""
    return [f"results/{DATASET}/hume/{phi1}--{phi2}/{name}" for phi1, phi2 in PAIRS]
