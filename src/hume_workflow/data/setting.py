"""The setting of a run: which samples it fits on and which it labels (torch-free).

The HUME runner, the baselines and the planner read the one definition here.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import TEST, TRAIN

#: ``setting`` values: which samples a run fits on and labels (:func:`setting_indices`).
Setting = Literal["inductive", "transductive"]
SETTINGS: tuple[Setting, ...] = get_args(Setting)


def setting_indices(split: np.ndarray, setting: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, evaluate) of the samples a run trains on and the samples it labels.

    inductive: fit on the train split, label the test split; transductive: both are the pool.
    """
    if setting == "inductive":
        return np.flatnonzero(split == TRAIN), np.flatnonzero(split == TEST)
    if setting == "transductive":
        pool = np.arange(len(split))
        return pool, pool
    raise InputError(f"config setting={setting!r}: expected {' or '.join(map(repr, SETTINGS))}")
