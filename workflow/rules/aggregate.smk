rule select_runs:
    input:
        pair_runs,
    output:
        "results/{dataset}/hume/{phi1}--{phi2}/selection.json",
    log:
        "results/{dataset}/logs/select_runs/{phi1}--{phi2}.log",
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
    script:
        "../scripts/select_runs.py"


rule majority_vote:
    input:
        selection="results/{dataset}/hume/{phi1}--{phi2}/selection.json",
        runs=pair_runs,
    output:
        "results/{dataset}/hume/{phi1}--{phi2}/vote.csv",
    log:
        "results/{dataset}/logs/majority_vote/{phi1}--{phi2}.log",
    benchmark:
        "results/{dataset}/benchmarks/majority_vote/{phi1}--{phi2}.tsv"
    conda:
        "../../envs/aggregate.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        num_classes=config["dataset"]["num_classes"],
    script:
        "../scripts/majority_vote.py"
