"""hume-workflow: HUME (Gadetsky & Brbic, NeurIPS 2023) from images to a report.

snakemake --cores 2                                  # the offline demo (config/config.yaml)
snakemake --cores 8 --configfile config/other.yaml   # another preset, alone

The config is the given file(s) plus the schema's defaults; the demo's file is read only when
no --configfile is given, so a preset never inherits the demo's budget or backbones.
"""

from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


if not workflow.overwrite_configfiles:

    configfile: Path(workflow.basedir) / "config" / "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/hume.smk"
include: "workflow/rules/turtle.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/predict.smk"


rule all:
    input:
        layout.fill(f"{layout.REPORT}/index.html", dataset=DATASET),
        [
            layout.fill(
                layout.PREDICTION,
                dataset=DATASET,
                method=t.method,
                task=t.name,
                new=new,
            )
            for t in TASKS
            for new in PREDICT["batches"]
        ],
