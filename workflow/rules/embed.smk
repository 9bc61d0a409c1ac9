rule extract_embeddings:
    input:
        "results/{dataset}/data.h5",
    output:
        "results/{dataset}/embeddings/{backbone}.h5",
    log:
        "results/{dataset}/logs/extract_embeddings/{backbone}.log",
    benchmark:
        "results/{dataset}/benchmarks/extract_embeddings/{backbone}.tsv"
    conda:
        "../../envs/embed.yaml"
    threads: embed_threads
    resources:
        mem_mb=embed_resource("mem_mb"),
        runtime=embed_resource("runtime"),
        gpu=embed_gpu,
    params:
        spec=backbone_spec,
    script:
        "../scripts/extract_embeddings.py"


rule compute_baselines:
    input:
        data="results/{dataset}/data.h5",
        features="results/{dataset}/embeddings/{backbone}.h5",
    output:
        "results/{dataset}/baselines/{backbone}.json",
    log:
        "results/{dataset}/logs/compute_baselines/{backbone}.log",
    conda:
        "../../envs/aggregate.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        setting=config["setting"],
        num_classes=single_k(config),  # None in a sweep: the dataset's classes
    script:
        "../scripts/compute_baselines.py"
