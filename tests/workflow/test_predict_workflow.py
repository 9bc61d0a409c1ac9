"""New images labelled by a finished pair (rules prepare_batch, embed_batch, predict_batch),
against a direct computation: scikit-learn's probe on the dataset's own features.

The batch is six of the dataset's own digits saved as PNG files, so its features are those
samples' features and the labels must be what a probe fitted on the pair's vote predicts for
them.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from tiny_workflow import PAIRS, PICKED, TINY, snakemake, with_new_images

from hume_workflow.formats.embeddings import read_spaces


def predicted(workdir: Path, finished: Path) -> Path:
    """The finished tiny run, copied, with a batch of six of its digits labelled."""
    folder = with_new_images(workdir, finished)
    config = {**TINY, "predict": {"batches": {"new": {"root": str(folder)}}, "method": "probe"}}
    targets = [f"results/tiny/predict/hume/{pair}/new.csv" for pair in PAIRS]
    snakemake(workdir, config, "--cores", "2", *targets)
    return workdir


@pytest.mark.background.with_args(predicted)
@pytest.mark.parametrize("pair", PAIRS)
def test_new_images_get_the_probe_s_labels_of_the_same_samples(background, pair):
    workdir = background.result(predicted)
    results = workdir / "results/tiny"
    labels = pd.read_csv(results / f"predict/hume/{pair}/new.csv")
    assert labels.columns.tolist() == ["sample_id", "label", "confidence"]
    assert labels.sample_id.tolist() == [f"sample{i:03d}.png" for i in PICKED]
    phi2_name = pair.split("--")[1]
    [phi2] = read_spaces(results / "data.h5", [results / f"embeddings/{phi2_name}.h5"])
    votes = pd.read_csv(results / f"hume/{pair}/vote.csv")
    x = phi2[votes.sample_index]
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(max_iter=1000).fit(scaler.transform(x), votes.label)
    probabilities = model.predict_proba(scaler.transform(phi2[PICKED]))
    np.testing.assert_array_equal(labels.label, model.classes_[probabilities.argmax(1)])
    np.testing.assert_allclose(labels.confidence, probabilities.max(1), rtol=1e-4, atol=1e-6)
