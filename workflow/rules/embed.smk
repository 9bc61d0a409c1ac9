rule extract_embeddings:
    input:
        layout.DATA,
        backbone_files,  # the user's files (precomputed features, checkpoints, weights)
    output:
        layout.EMBEDDING,
    log:
        layout.log("extract_embeddings", "{backbone}"),
    benchmark:
        layout.benchmark("extract_embeddings", "{backbone}")
    conda:
        "../../envs/embed.yaml"
    threads: embed_threads
    resources:
        mem_mb=embed_resource("mem_mb"),
        runtime=embed_resource("runtime"),
        gpu=embed_gpu,
    params:
        spec=backbone_spec,  # what decides the features: no speed-only keys
    script:
        "../scripts/extract_embeddings.py"


rule compute_baselines:
    input:
        data=layout.DATA,
        features=layout.EMBEDDING,
    output:
        layout.BASELINE,
    log:
        layout.log("compute_baselines", "{backbone}"),
    conda:
        "../../envs/aggregate.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        setting=config["setting"],
    script:
        "../scripts/compute_baselines.py"
