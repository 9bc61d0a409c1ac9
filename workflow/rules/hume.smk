rule run_hume:
    input:
        data="results/{dataset}/data.h5",
        phi1="results/{dataset}/embeddings/{phi1}.h5",
        phi2="results/{dataset}/embeddings/{phi2}.h5",
    output:
        run_job_files(),
    log:
        "results/{dataset}/logs/run_hume/{phi1}--{phi2}/k{k}/job{batch}.log",
    benchmark:
        "results/{dataset}/benchmarks/run_hume/{phi1}--{phi2}/k{k}/job{batch}.tsv"
    retries: COMPUTE["retries"]
    conda:
        "../../envs/hume.yaml"
    threads: 1
    resources:
        mem_mb=hume_resource("mem_mb"),
        runtime=hume_resource("runtime"),
        gpu=int(COMPUTE["hume_gpu"]),
    params:
        hume=config["hume"],
        score=config["score"],
        setting=config["setting"],
        num_classes=lambda wildcards: int(wildcards.k),
        runs_per_job=RUNS_PER_JOB,
    script:
        "../scripts/run_hume.py"
