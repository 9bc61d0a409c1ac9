"""Rule write_report: the recommended answer, tables, figures and provenance of every task in
one HTML page."""

from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])  # first: an interrupt during the imports is one line too

from hume_workflow.report.assemble import ReportFacts, ReportInputs, make_report

inputs, params = snakemake.input, snakemake.params
make_report(
    ReportInputs(
        data=inputs.data,
        metrics=inputs.metrics,
        choices=inputs.choices,
        votes=inputs.votes,
        labels=inputs.labels,
        recommendation=inputs.recommendation,
        runs=inputs.runs,
        baselines=inputs.baselines,
        embeddings=inputs.embeddings,
        benchmarks={
            key.removeprefix("benchmarks_"): paths
            for key, paths in inputs.items()
            if key.startswith("benchmarks_")
        },
    ),
    ReportFacts(
        dataset=snakemake.wildcards.dataset,
        source=params.dataset_source,
        setting=params.setting,
        num_runs=params.num_runs,
        top_n=params.top_n,
        workflow_dir=params.source,
        reliable_agreement=params.reliable_agreement,
    ),
    dict(snakemake.output.items()),
)
