"""Rule select_runs: rank a task's runs by generalisation score, keep the top n."""

from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])  # first: an interrupt during the imports is one line too

from hume_workflow.aggregate.selection import select_runs
from hume_workflow.formats.run import read_runs
from hume_workflow.formats.selection import write_selection

runs = read_runs(snakemake.input, arrays=("labels",))  # labels: which runs collapsed
params = snakemake.params
selection = select_runs(runs, params.top_n, params.num_classes, params.weights)
write_selection(snakemake.output[0], selection)
