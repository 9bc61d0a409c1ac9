rule prepare_dataset:
    input:
        DATA_INPUTS,  # the user's files the data are read from
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
        # what decides the samples (plan/dataset.py), the rest is where they are read from
        identity=dataset_identity(config["dataset"]),
    script:
        "../scripts/prepare_dataset.py"
