"""Rule prepare_batch: a batch of new samples as data.h5: a folder of images in the dataset's
image format, or the rows of feature files (no images)."""

from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])  # first: an interrupt during the imports is one line too

from hume_workflow.formats.dataset import write_dataset
from hume_workflow.predict.feature_batches import prepare_feature_batch
from hume_workflow.predict.images import prepare_batch

spec, name = snakemake.params.batch, snakemake.wildcards.new
if "features" in spec:
    batch = prepare_feature_batch(name, spec)
else:
    batch = prepare_batch(spec["root"], snakemake.input.data, name, spec["skip_bad_images"])
write_dataset(snakemake.output[0], batch)
