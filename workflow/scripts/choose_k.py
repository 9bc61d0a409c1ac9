"""Rule choose_k: the label-free evidence of every K of a task, the K it picks, that K's vote."""

from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])  # first: an interrupt during the imports is one line too

import shutil

from hume_workflow.aggregate.k_choice import choose_task_k
from hume_workflow.formats.io import atomic_path
from hume_workflow.formats.k_choice import write_k_choice

inputs, params = snakemake.input, snakemake.params
votes = dict(zip(params.ks, inputs.votes, strict=True))
choice = choose_task_k(inputs.runs, votes, inputs.data, inputs.probe, params.criterion)
write_k_choice(snakemake.output.choice, choice)
with atomic_path(snakemake.output.vote) as tmp:
    shutil.copyfile(votes[choice.chosen_k], tmp)
