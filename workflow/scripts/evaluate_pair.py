"""Rule evaluate_pair: ACC/ARI/NMI of a pair's vote and runs, score-vs-ACC correlations,
the vote's ACC by number of runs, ACC vs coverage, the confusion matrix and the bootstrap
intervals of all of these."""

import pandas as pd

from hume_workflow.formats.io import read_h5, write_json
from hume_workflow.formats.selection import read_selection
from hume_workflow.logs import log_to_file
from hume_workflow.report.evaluate import evaluate_pair
from hume_workflow.report.uncertainty import Bootstrap

log_to_file(snakemake.log[0])
truth = read_h5(snakemake.input.data, ["labels"])[0]["labels"]
selection = read_selection(snakemake.input.selection)
votes = pd.read_csv(snakemake.input.vote)
k = int(snakemake.wildcards.k)
bootstrap = Bootstrap(**snakemake.params.uncertainty)
metrics = evaluate_pair(selection, snakemake.input.runs, votes, truth, k, bootstrap)
metrics |= {
    "phi1": snakemake.wildcards.phi1,
    "phi2": snakemake.wildcards.phi2,
    "k": k,
    "setting": snakemake.params.setting,
}
write_json(snakemake.output[0], metrics)
