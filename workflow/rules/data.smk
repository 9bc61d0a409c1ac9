rule prepare_dataset:
    output:
        layout.DATA,
    log:
        layout.log("prepare_dataset", None),
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
