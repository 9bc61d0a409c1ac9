rule prepare_batch:
    input:
        "results/{dataset}/data.h5",
    output:
        "results/{dataset}/predict/batches/{new}/data.h5",
    log:
        "results/{dataset}/logs/prepare_batch/{new}.log",
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
        batch="results/{dataset}/predict/batches/{new}/data.h5",
        space="results/{dataset}/embeddings/{backbone}.h5",
    output:
        "results/{dataset}/predict/batches/{new}/embeddings/{backbone}.h5",
    log:
        "results/{dataset}/logs/embed_batch/{new}/{backbone}.log",
    benchmark:
        "results/{dataset}/benchmarks/embed_batch/{new}/{backbone}.tsv"
    conda:
        "../../envs/embed.yaml"
    threads: embed_threads
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=int(COMPUTE["embed_gpu"]),
    params:
        spec=backbone_spec,
        batch=lambda wildcards: PREDICT["batches"][wildcards.new],
    script:
        "../scripts/embed_batch.py"


rule predict_batch:
    input:
        data="results/{dataset}/data.h5",
        phi2="results/{dataset}/embeddings/{phi2}.h5",
        batch="results/{dataset}/predict/batches/{new}/data.h5",
        batch_phi1="results/{dataset}/predict/batches/{new}/embeddings/{phi1}.h5",
        batch_phi2="results/{dataset}/predict/batches/{new}/embeddings/{phi2}.h5",
        choice="results/{dataset}/hume/{phi1}--{phi2}/k_choice.json",
        vote="results/{dataset}/hume/{phi1}--{phi2}/vote.csv",
        selections=sweep_files("selection.json"),
        runs=sweep_runs,
    output:
        "results/{dataset}/predict/{phi1}--{phi2}/{new}.csv",
    log:
        "results/{dataset}/logs/predict_batch/{phi1}--{phi2}/{new}.log",
    conda:
        "../../envs/aggregate.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        method=PREDICT["method"],
        ks=sweep_ks,
    script:
        "../scripts/predict_batch.py"
