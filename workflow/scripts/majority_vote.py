"""Rule majority_vote: the Hungarian-aligned majority vote of a task's selected runs."""

from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])  # first: an interrupt during the imports is one line too

from hume_workflow.aggregate.selected_vote import vote_selected
from hume_workflow.formats.selection import read_selection
from hume_workflow.formats.votes import write_vote

selection = read_selection(snakemake.input.selection)
votes = vote_selected(selection, snakemake.input.runs, snakemake.params.num_classes)
write_vote(snakemake.output[0], votes)
