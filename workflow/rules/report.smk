rule evaluate_task:
    input:
        data=layout.DATA,
        selection=layout.SELECTION,
        vote=layout.K_VOTE,
        runs=k_runs,
    output:
        layout.METRICS,
    log:
        layout.log("evaluate_task"),
    benchmark:
        layout.benchmark("evaluate_task")
    conda:
        "../../envs/report.yaml"
    threads: evaluate_threads
    resources:
        mem_mb=evaluate_resource("mem_mb"),
        runtime=evaluate_resource("runtime"),
    params:
        setting=config["setting"],
        uncertainty=config["uncertainty"],
        spaces=task_space_names,
    script:
        "../scripts/evaluate_task.py"


rule write_report:
    input:
        unpack(benchmark_files),  # benchmarks_<rule>: every job's benchmark file
        data=layout.DATA,
        metrics=all_k_files(layout.METRICS),
        choices=task_files(layout.K_CHOICE),
        votes=task_files(layout.VOTE),
        labels=task_files(layout.LABELS),
        recommendation=layout.RECOMMENDATION,
        runs=all_runs(),
        baselines=expand(layout.BASELINE, dataset=DATASET, backbone=SPACES),
        embeddings=expand(layout.EMBEDDING, dataset=DATASET, backbone=SPACES),
    output:
        summary_csv=report(
            f"{layout.REPORT}/summary.csv",
            category="Report",
            caption="../report/summary.rst",
        ),
        runs_csv=report(
            f"{layout.REPORT}/runs.csv",
            category="Report",
            caption="../report/runs.rst",
        ),
        clusters_csv=f"{layout.REPORT}/clusters.csv",
        markdown=f"{layout.REPORT}/summary.md",
        html=report(
            f"{layout.REPORT}/index.html",
            category="Report",
            caption="../report/index.rst",
        ),
    log:
        layout.log("write_report", None),
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        setting=config["setting"],
        num_runs=config["num_runs"],
        top_n=config["aggregation"]["top_n"],
        dataset_source=config["dataset"]["source"],
        reliable_agreement=config["export"]["reliable_agreement"],
        source=workflow.basedir,
    script:
        "../scripts/write_report.py"
