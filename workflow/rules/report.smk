rule evaluate_pair:
    input:
        data="results/{dataset}/data.h5",
        selection="results/{dataset}/hume/{phi1}--{phi2}/k{k}/selection.json",
        vote="results/{dataset}/hume/{phi1}--{phi2}/k{k}/vote.csv",
        runs=k_runs,
    output:
        "results/{dataset}/hume/{phi1}--{phi2}/k{k}/metrics.json",
    log:
        "results/{dataset}/logs/evaluate_pair/{phi1}--{phi2}/k{k}.log",
    # seconds of work on small files: not worth a cluster job
    localrule: True
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        setting=config["setting"],
        uncertainty=config["uncertainty"],
    script:
        "../scripts/evaluate_pair.py"


rule write_report:
    input:
        data="results/{dataset}/data.h5",
        metrics=all_k_files("metrics.json"),
        choices=pair_files("k_choice.json"),
        votes=pair_files("vote.csv"),
        labels=pair_files("labels.csv"),
        runs=[
            run
            for (phi1, phi2), ks in PAIR_KS.items()
            for k in ks
            for run in run_files(DATASET, phi1, phi2, k)
        ],
        baselines=expand(
            "results/{dataset}/baselines/{backbone}.json",
            dataset=DATASET,
            backbone=SPACES,
        ),
        embeddings=expand(
            "results/{dataset}/embeddings/{backbone}.h5",
            dataset=DATASET,
            backbone=SPACES,
        ),
        # benchmarks_<step>: the benchmark TSV files of every job of a step (static, no glob)
        benchmarks_extract_embeddings=expand(
            "results/{dataset}/benchmarks/extract_embeddings/{backbone}.tsv",
            dataset=DATASET,
            backbone=SPACES,
        ),
        benchmarks_run_hume=[
            f"results/{DATASET}/benchmarks/run_hume/{phi1}--{phi2}/k{k}/job{batch}.tsv"
            for (phi1, phi2), ks in PAIR_KS.items()
            for k in ks
            for batch in range(len(SEEDS) // RUNS_PER_JOB)
        ],
        benchmarks_majority_vote=[
            f"results/{DATASET}/benchmarks/majority_vote/{phi1}--{phi2}/k{k}.tsv"
            for (phi1, phi2), ks in PAIR_KS.items()
            for k in ks
        ],
        benchmarks_choose_k=[
            f"results/{DATASET}/benchmarks/choose_k/{phi1}--{phi2}.tsv"
            for phi1, phi2 in PAIRS
        ],
    output:
        summary_csv=report(
            "results/{dataset}/report/summary.csv",
            category="Report",
            caption="../report/summary.rst",
        ),
        runs_csv=report(
            "results/{dataset}/report/runs.csv",
            category="Report",
            caption="../report/runs.rst",
        ),
        markdown="results/{dataset}/report/summary.md",
        html=report(
            "results/{dataset}/report/index.html",
            category="Report",
            caption="../report/index.rst",
        ),
    log:
        "results/{dataset}/logs/write_report.log",
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
