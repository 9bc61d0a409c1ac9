rule select_runs:
    input:
        k_runs,
    output:
        "results/{dataset}/hume/{phi1}--{phi2}/k{k}/selection.json",
    log:
        "results/{dataset}/logs/select_runs/{phi1}--{phi2}/k{k}.log",
    # seconds of work on small files: not worth a cluster job
    localrule: True
    conda:
        "../../envs/aggregate.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        top_n=config["aggregation"]["top_n"],
        weights=config["aggregation"]["weights"],
    script:
        "../scripts/select_runs.py"


rule majority_vote:
    input:
        selection="results/{dataset}/hume/{phi1}--{phi2}/k{k}/selection.json",
        runs=k_runs,
    output:
        "results/{dataset}/hume/{phi1}--{phi2}/k{k}/vote.csv",
    log:
        "results/{dataset}/logs/majority_vote/{phi1}--{phi2}/k{k}.log",
    benchmark:
        "results/{dataset}/benchmarks/majority_vote/{phi1}--{phi2}/k{k}.tsv"
    conda:
        "../../envs/aggregate.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        num_classes=lambda wildcards: int(wildcards.k),
    script:
        "../scripts/majority_vote.py"


rule choose_k:
    input:
        votes=sweep_files("vote.csv"),
        data="results/{dataset}/data.h5",
        phi2="results/{dataset}/embeddings/{phi2}.h5",
        runs=sweep_runs,
    output:
        choice="results/{dataset}/hume/{phi1}--{phi2}/k_choice.json",
        vote="results/{dataset}/hume/{phi1}--{phi2}/vote.csv",
    log:
        "results/{dataset}/logs/choose_k/{phi1}--{phi2}.log",
    benchmark:
        "results/{dataset}/benchmarks/choose_k/{phi1}--{phi2}.tsv"
    conda:
        "../../envs/aggregate.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        criterion=config["k_choice"]["criterion"],
        ks=sweep_ks,
    script:
        "../scripts/choose_k.py"


rule export_labels:
    input:
        vote="results/{dataset}/hume/{phi1}--{phi2}/vote.csv",
        data="results/{dataset}/data.h5",
    output:
        "results/{dataset}/hume/{phi1}--{phi2}/labels.csv",
    log:
        "results/{dataset}/logs/export_labels/{phi1}--{phi2}.log",
    # seconds of work on small files: not worth a cluster job
    localrule: True
    conda:
        "../../envs/aggregate.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        threshold=config["export"]["reliable_agreement"],
    script:
        "../scripts/export_labels.py"
