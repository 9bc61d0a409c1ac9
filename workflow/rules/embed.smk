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
    benchmark:
        layout.benchmark("compute_baselines", "{backbone}")
    conda:
        "../../envs/baselines.yaml"
    threads: 2
    resources:
        mem_mb=baseline_resource("mem_mb"),
        runtime=baseline_resource("runtime"),
    params:
        setting=config["setting"],
    script:
        "../scripts/compute_baselines.py"
