"""Rule compute_baselines: k-means and the supervised linear probe on one space."""

from hume_workflow.aggregate.baselines import kmeans_baseline, linear_probe_accuracy
from hume_workflow.formats.embeddings import read_spaces
from hume_workflow.formats.io import read_h5, write_json
from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])
features = read_spaces(snakemake.input.data, [snakemake.input.features])[0]
data = read_h5(snakemake.input.data, ["labels", "split"])[0]
labels, split = data["labels"], data["split"]
k = snakemake.params.num_classes
result = {
    "backbone": snakemake.wildcards.backbone,
    "dim": int(features.shape[1]),
    "kmeans": kmeans_baseline(features, labels, split, snakemake.params.setting, k),
    "linear_probe_acc": linear_probe_accuracy(features, labels, split),
}
write_json(snakemake.output[0], result)
