"""Rule evaluate_task: ACC/ARI/NMI of a task's vote and runs, score-vs-ACC correlations,
the vote's ACC by number of runs, ACC vs coverage, the confusion matrix and the bootstrap
intervals of all of these."""

from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])  # first: an interrupt during the imports is one line too

from hume_workflow.formats.io import read_h5, write_json
from hume_workflow.formats.selection import read_selection
from hume_workflow.formats.votes import read_vote
from hume_workflow.report.evaluate import evaluate_task
from hume_workflow.report.uncertainty import Bootstrap

truth = read_h5(snakemake.input.data, ["labels"])[0]["labels"]
selection = read_selection(snakemake.input.selection)
votes = read_vote(snakemake.input.vote)
k = int(snakemake.wildcards.k)
bootstrap = Bootstrap(**snakemake.params.uncertainty)
metrics = evaluate_task(
    selection, snakemake.input.runs, votes, truth, k, bootstrap, snakemake.threads
)
metrics |= {
    "method": snakemake.wildcards.method,
    "spaces": snakemake.params.spaces,
    "k": k,
    "setting": snakemake.params.setting,
}
write_json(snakemake.output[0], metrics)
