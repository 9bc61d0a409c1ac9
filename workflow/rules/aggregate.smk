# The rules of every method's runs: selection, vote, K choice and export take the runs of a
# task ({method}/{task}, plan/layout.py) without knowing which method made them.


rule select_runs:
    input:
        k_runs,
    output:
        layout.SELECTION,
    log:
        layout.log("select_runs"),
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
        num_classes=num_classes,
    script:
        "../scripts/select_runs.py"


rule majority_vote:
    input:
        selection=layout.SELECTION,
        runs=k_runs,
    output:
        layout.K_VOTE,
    log:
        layout.log("majority_vote"),
    benchmark:
        layout.benchmark("majority_vote")
    conda:
        "../../envs/aggregate.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        num_classes=num_classes,
    script:
        "../scripts/majority_vote.py"


rule choose_k:
    input:
        votes=sweep_files(layout.K_VOTE),
        data=layout.DATA,
        probe=probe_embedding,
        runs=sweep_runs,
    output:
        choice=layout.K_CHOICE,
        vote=layout.VOTE,
    log:
        layout.log("choose_k", "{method}/{task}"),
    benchmark:
        layout.benchmark("choose_k", "{method}/{task}")
    conda:
        "../../envs/aggregate.yaml"
    threads: 1
    resources:
        mem_mb=choose_k_resource("mem_mb"),
        runtime=choose_k_resource("runtime"),
    params:
        criterion=config["k_choice"]["criterion"],
        ks=sweep_ks,
    script:
        "../scripts/choose_k.py"


rule export_labels:
    input:
        vote=layout.VOTE,
        data=layout.DATA,
        spaces=task_embeddings,  # their constant_rows are never reliable
    output:
        layout.LABELS,
    log:
        layout.log("export_labels", "{method}/{task}"),
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


rule recommend:
    input:
        choices=task_files(layout.K_CHOICE),
        labels=task_files(layout.LABELS),
    output:
        recommendation=layout.RECOMMENDATION,
        labels=layout.RECOMMENDED_LABELS,
    log:
        layout.log("recommend", None),
    # seconds of work on small files: not worth a cluster job
    localrule: True
    conda:
        "../../envs/aggregate.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/recommend.py"
