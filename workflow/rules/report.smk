rule evaluate_pair:
    input:
        data="results/{dataset}/data.h5",
        selection="results/{dataset}/hume/{phi1}--{phi2}/selection.json",
        vote="results/{dataset}/hume/{phi1}--{phi2}/vote.csv",
        runs=pair_runs,
    output:
        "results/{dataset}/hume/{phi1}--{phi2}/metrics.json",
    log:
        "results/{dataset}/logs/evaluate_pair/{phi1}--{phi2}.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        setting=config["setting"],
    script:
        "../scripts/evaluate_pair.py"


rule write_report:
    input:
        metrics=pair_files("metrics.json"),
        baselines=expand(
            "results/{dataset}/baselines/{backbone}.json",
            dataset=DATASET,
            backbone=sorted({space for pair in PAIRS for space in pair}),
        ),
    output:
        summary_csv=report("results/{dataset}/report/summary.csv", category="Report"),
        runs_csv="results/{dataset}/report/runs.csv",
        markdown="results/{dataset}/report/summary.md",
        html=report("results/{dataset}/report/index.html", category="Report"),
    log:
        "results/{dataset}/logs/write_report.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        pairs=report_pairs(),
    script:
        "../scripts/write_report.py"
