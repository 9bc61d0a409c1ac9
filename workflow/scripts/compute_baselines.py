"""Rule compute_baselines: k-means and the supervised linear probe on one space."""

from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])  # first: an interrupt during the imports is one line too

from threadpoolctl import threadpool_limits

from hume_workflow.aggregate.baselines import space_baselines
from hume_workflow.formats.io import write_json

threadpool_limits(snakemake.threads)  # scikit-learn's BLAS/OpenMP: jobs share cores
params, threads = snakemake.params, snakemake.threads
result = space_baselines(snakemake.input.data, snakemake.input.features, params.setting, threads)
write_json(snakemake.output[0], {"backbone": snakemake.wildcards.backbone, **result})
