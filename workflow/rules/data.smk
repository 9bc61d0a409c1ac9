rule prepare_dataset:
    output:
        "results/{dataset}/data.h5",
    log:
        "results/{dataset}/logs/prepare_dataset.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        dataset=config["dataset"],
    script:
        "../scripts/prepare_dataset.py"
