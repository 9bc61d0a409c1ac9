rule prepare_batch:
    input:
        data=layout.DATA,
        files=batch_inputs,  # the user's files of the batch
    output:
        layout.BATCH,
    log:
        layout.log("prepare_batch", "{new}"),
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        batch=lambda wildcards: PREDICT["batches"][wildcards.new],
    script:
        "../scripts/prepare_batch.py"


rule embed_batch:
    input:
        batch=layout.BATCH,
        space=layout.EMBEDDING,
        files=batch_space_inputs,
    output:
        layout.BATCH_EMBEDDING,
    log:
        layout.log("embed_batch", "{new}/{backbone}"),
    benchmark:
        layout.benchmark("embed_batch", "{new}/{backbone}")
    conda:
        "../../envs/embed.yaml"
    threads: embed_threads
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=embed_gpu,
    params:
        spec=backbone_spec,
        batch=lambda wildcards: PREDICT["batches"][wildcards.new],
    script:
        "../scripts/embed_batch.py"


rule predict_batch:
    input:
        data=layout.DATA,
        probe=probe_embedding,
        batch=layout.BATCH,
        batch_spaces=batch_embeddings,
        choice=layout.K_CHOICE,
        vote=layout.VOTE,
        selections=sweep_files(layout.SELECTION),
        runs=sweep_runs,
    output:
        layout.PREDICTION,
    log:
        layout.log("predict_batch", "{method}/{task}/{new}"),
    conda:
        "../../envs/aggregate.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        method=PREDICT["method"],
        spaces=task_space_names,
        ks=sweep_ks,
    script:
        "../scripts/predict_batch.py"
