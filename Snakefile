"""hume-workflow: HUME (Gadetsky & Brbic, NeurIPS 2023) from images to a report.

snakemake --cores 2                                  # the offline demo (config/config.yaml)
snakemake --cores 8 --configfile config/other.yaml   # another preset
"""

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/hume.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        f"results/{DATASET}/report/index.html",
