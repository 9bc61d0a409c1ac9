"""TURTLE written as its reference implementation is (mlbio-epfl/turtle, ``run_turtle.py``):
per space an ``nn.Linear`` head under ``nn.utils.weight_norm`` and an ``nn.Linear`` inner
classifier, ``torch.optim.Adam`` at both levels, the losses differentiated by autograd, one
run at a time. It draws from the library's draw functions in the library's order
(turtle/training.py), so that both see the same heads, batches and inner classifiers. The
reference that the closed-form path is tested and benchmarked against; slow on purpose, never
used by the pipeline.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from hume_workflow.turtle.config import TurtleConfig
from hume_workflow.turtle.training import batch_indices, linear_init


def _linear(weight: torch.Tensor, bias: torch.Tensor) -> nn.Linear:
    """An nn.Linear holding the given start."""
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return layer


def _inner(widths, config, generator):
    """The inner classifiers (one nn.Linear per space) and their Adam."""
    layers = [_linear(*linear_init(config.num_classes, d, generator)) for d in widths]
    params = [p for layer in layers for p in layer.parameters()]
    return layers, torch.optim.Adam(params, lr=config.inner_lr, betas=(config.beta1, config.beta2))


def reference_turtle(
    spaces: list[torch.Tensor], config: TurtleConfig, seed: int
) -> tuple[list[nn.Module], dict[str, list[float]]]:
    """One run, the reference's way. Returns the heads (weight-normalised nn.Linear per space)
    and the loss parts per iteration (as turtle/training.py's trace)."""
    generator = torch.Generator().manual_seed(seed)
    widths = [z.shape[1] for z in spaces]
    with warnings.catch_warnings():  # weight_norm's deprecation
        warnings.simplefilter("ignore")
        heads = [
            nn.utils.weight_norm(_linear(*linear_init(config.num_classes, d, generator)))
            for d in widths
        ]
    params = [p for head in heads for p in head.parameters()]
    optimiser = torch.optim.Adam(params, lr=config.outer_lr, betas=(config.beta1, config.beta2))
    if config.warm_start:
        inner, inner_opt = _inner(widths, config, generator)
    trace = {"cross_entropy": [], "entropy": [], "loss": []}
    for _ in range(config.num_iters):
        rows = batch_indices(spaces[0].shape[0], config.batch_size, generator)
        batch = [z[rows] for z in spaces]
        per_space = [F.softmax(head(z), dim=1) for head, z in zip(heads, batch, strict=True)]
        labels = torch.stack(per_space).mean(dim=0)
        if not config.warm_start:
            inner, inner_opt = _inner(widths, config, generator)
        for _ in range(config.inner_steps):
            inner_opt.zero_grad()
            loss = sum(
                F.cross_entropy(w(z), labels.detach()) for w, z in zip(inner, batch, strict=True)
            )
            loss.backward()
            inner_opt.step()
        optimiser.zero_grad()
        pred_error = sum(
            F.cross_entropy(w(z).detach(), labels) for w, z in zip(inner, batch, strict=True)
        )
        entropy = sum(torch.special.entr(p.mean(dim=0)).sum() for p in per_space)
        total = pred_error - config.gamma * entropy
        total.backward()
        optimiser.step()
        parts = (pred_error / len(spaces), entropy, total)  # cross_entropy: mean over spaces
        for part, value in zip(trace, parts, strict=True):
            trace[part].append(float(value.detach()))
    return heads, trace


def reference_labels(heads: list[nn.Module], spaces: list[torch.Tensor]) -> torch.Tensor:
    """(n,) argmax of the mean over spaces of the heads' softmax."""
    with torch.no_grad():
        mean = torch.stack(
            [F.softmax(h(z), dim=1) for h, z in zip(heads, spaces, strict=True)]
        ).mean(dim=0)
    return mean.argmax(dim=1)
