"""Rule majority_vote: the Hungarian-aligned majority vote of a pair's selected runs."""

from hume_workflow.aggregate.voting import vote_selected
from hume_workflow.formats.io import atomic_path
from hume_workflow.formats.selection import read_selection
from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])
selection = read_selection(snakemake.input.selection)
votes = vote_selected(selection, snakemake.input.runs, snakemake.params.num_classes)
with atomic_path(snakemake.output[0]) as tmp:
    votes.to_csv(tmp, index=False)
