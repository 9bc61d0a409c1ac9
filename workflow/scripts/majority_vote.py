"""Rule majority_vote: the Hungarian-aligned majority vote of a pair's selected runs."""

from hume_workflow.aggregate.voting import vote_selected
from hume_workflow.formats.io import atomic_path, read_json
from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])
votes = vote_selected(read_json(snakemake.input.selection), snakemake.params.num_classes)
with atomic_path(snakemake.output[0]) as tmp:
    votes.to_csv(tmp, index=False)
