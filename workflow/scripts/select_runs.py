"""Rule select_runs: rank a pair's runs by generalisation score, keep the top n."""

from hume_workflow.aggregate.selection import select_runs
from hume_workflow.formats.io import write_json
from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])
manifest = select_runs(list(snakemake.input), snakemake.params.top_n)
write_json(snakemake.output[0], manifest)
