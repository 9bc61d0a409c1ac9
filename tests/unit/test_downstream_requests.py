"""The requests of the stages after the runs against what they use: evaluate_task and choose_k
run in fresh processes at two small shapes (tests/downstream_tree.py), their peak memory
measured; the model must cover both, and the line through them extrapolated to the ImageNet
preset's shapes."""

import pytest
from downstream_tree import Shape, build_tree, run_stage

from hume_workflow.aggregate.resources import choose_k_bytes
from hume_workflow.report.resources import EVALUATE_THREADS, evaluate_bytes, evaluate_workers

SMALL = Shape(num_classes=10, n_eval=1500, runs=8, n_fit=0, dim=32, iters=100)
LARGER = Shape(num_classes=60, n_eval=6000, runs=24, n_fit=0, dim=128, iters=100)
IMAGENET = Shape(num_classes=1000, n_eval=50000, runs=100, n_fit=0, dim=2048)
UNCERTAINTY = {"resamples": 1000}


@pytest.fixture(scope="module")
def peaks(tmp_path_factory):
    """{(stage, shape): peak MB} of the two small shapes."""
    found = {}
    for shape in (SMALL, LARGER):
        root = tmp_path_factory.mktemp("tree")
        build_tree(root, shape)
        for stage in ("select_runs", "majority_vote", "evaluate_task", "choose_k"):
            found[stage, shape] = run_stage(stage, root, shape)["peak_mb"]
    return found


def extrapolated(peaks, stage, size) -> float:
    """The peak (MB) at ImageNet's shape on the line through the two measured ones, against
    ``size`` (the shape's dominant term)."""
    (x0, y0), (x1, y1) = [(size(s), peaks[stage, s]) for s in (SMALL, LARGER)]
    return y0 + (y1 - y0) * (size(IMAGENET) - x0) / (x1 - x0)


def workers(shape):
    return evaluate_workers(EVALUATE_THREADS, shape.n_eval, shape.runs, UNCERTAINTY)


def test_the_evaluation_fits_its_request(peaks):
    for shape in (SMALL, LARGER):
        modelled = evaluate_bytes(shape.n_eval, shape.runs, shape.num_classes, workers(shape))
        assert workers(shape) == 1
        assert modelled / 1e6 >= peaks["evaluate_task", shape], shape
    # one process per worker at ImageNet's shape, each holding what one process held here
    per_process = extrapolated(peaks, "evaluate_task", lambda s: s.runs * s.n_eval)
    processes = 1 + workers(IMAGENET)
    model = evaluate_bytes(IMAGENET.n_eval, IMAGENET.runs, IMAGENET.num_classes, 2) / 1e6
    assert processes == 3
    assert model >= processes * per_process


def test_the_k_choice_fits_its_request(peaks):
    for shape in (SMALL, LARGER):
        modelled = choose_k_bytes(shape.n_eval, shape.runs, shape.num_classes, shape.dim)
        assert modelled / 1e6 >= peaks["choose_k", shape], shape
    # its largest terms: the runs' labels, and the silhouette's samples squared
    line = extrapolated(peaks, "choose_k", lambda s: s.runs * s.n_eval + min(s.n_eval, 5000) ** 2)
    model = choose_k_bytes(IMAGENET.n_eval, IMAGENET.runs, IMAGENET.num_classes, IMAGENET.dim)
    assert model / 1e6 >= line
