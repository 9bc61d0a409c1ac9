"""Local checkpoint files: reading a state dict safely and loading it into a headless model.

Checkpoints are loaded with ``torch.load(path, map_location="cpu", weights_only=True)`` only; a
file that needs full unpickling is refused. See :func:`read_state_dict`,
:func:`load_checkpoint` and :class:`LocalWeights`.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from hume_workflow.errors import InputError

log = logging.getLogger(__name__)

#: BatchNorm's batch counter: absent from some checkpoints, never needed for inference.
BN_COUNTER = "num_batches_tracked"
_MAX_KEYS_SHOWN = 10


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (weights provenance)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_state_dict(
    path: str | Path, state_dict_key: str | None = None, strip_prefix: str | None = None
) -> dict[str, torch.Tensor]:
    """The tensors of a local checkpoint, loaded with ``torch.load(weights_only=True)`` only.

    Args:
        state_dict_key: the entry holding the state dict (e.g. "state_dict", "model").
        strip_prefix: keep only keys starting with this prefix, with the prefix removed.
            E.g. "module.encoder_q." for MoCo v2 checkpoints (DataParallel-wrapped query
            encoder): the key encoder, queue and queue pointer are dropped.

    Raises:
        InputError: no such file.
        InputError: the file cannot be read (truncated, or not a torch.save file).
        InputError: the file needs full unpickling (custom classes: refused, never retried
            without ``weights_only``), the key is absent, no key has the prefix, or an
            entry is not a tensor.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"{path}: checkpoint file not found; expected a torch.save file there: fix the "
            "backbone's path/weights key or copy the file in"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = [ln.strip() for ln in str(err).splitlines() if "global" in ln.lower()]
        if not found:  # no disallowed class or function named: e.g. random bytes
            raise _unreadable(path, err) from err
        raise InputError(
            f"{path}: refusing to unpickle a checkpoint holding Python objects "
            f"({found[0].split('. Please')[0].rstrip('.')}); expected plain tensors (torch.load "
            "weights_only=True): re-save it with torch.save(model.state_dict(), path)"
        ) from None
    except Exception as err:  # torch.load fails on foreign bytes with many types
        raise _unreadable(path, err) from err
    if state_dict_key is not None:
        if not isinstance(obj, Mapping) or state_dict_key not in obj:
            top = list(obj)[:_MAX_KEYS_SHOWN] if isinstance(obj, Mapping) else type(obj).__name__
            raise InputError(
                f"{path}: state_dict_key {state_dict_key!r} not found; top level: {top}"
            )
        obj = obj[state_dict_key]
    if not isinstance(obj, Mapping):
        raise InputError(f"{path}: expected a dict of tensors, got {type(obj).__name__}")
    if strip_prefix:
        kept = {k[len(strip_prefix) :]: v for k, v in obj.items() if k.startswith(strip_prefix)}
        if not kept:
            raise InputError(
                f"{path}: no key starts with strip_prefix {strip_prefix!r}; "
                f"first keys: {list(obj)[:_MAX_KEYS_SHOWN]}"
            )
        log.info("%s: kept %d of %d keys under %r", path, len(kept), len(obj), strip_prefix)
        obj = kept
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise InputError(
            f"{path}: {len(bad)} entries are not tensors (e.g. {bad[:5]}); "
            "set state_dict_key to the entry that holds the state dict"
        )
    return dict(obj)


def _unreadable(path: Path, err: Exception) -> InputError:
    """One-line error for a file torch.load cannot parse, with the gist of torch's message."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    gist = next((ln for ln in lines if ln.startswith("Unsupported")), lines[0] if lines else "")
    reason = type(err).__name__ + (f": {gist.split('. ')[0]}" if gist else "")
    return InputError(
        f"{path}: cannot read the checkpoint ({reason}) (truncated or not a torch.save file?); "
        "expected a state dict saved with torch.save"
    )


def _first(keys: list[str]) -> str:
    more = f", ... ({len(keys) - _MAX_KEYS_SHOWN} more)" if len(keys) > _MAX_KEYS_SHOWN else ""
    return ", ".join(keys[:_MAX_KEYS_SHOWN]) + more


def load_checkpoint(
    model: nn.Module,
    path: str | Path,
    *,
    classifier: tuple[str, ...] = (),
    state_dict_key: str | None = None,
    strip_prefix: str | None = None,
) -> None:
    """Load a local checkpoint into a headless ``model`` (classifier already removed), strictly.

    Keys under a ``classifier`` module name (e.g. "fc" also drops MoCo's "fc.0.weight") are
    ignored, present or not; BatchNorm ``num_batches_tracked`` counters may be absent. Any
    other missing or unexpected key, or a shape mismatch, is an error.

    Raises:
        ValueError: see :func:`read_state_dict`; or a key/shape mismatch, the message lists the
            first 10 missing and unexpected keys with their counts.
    """
    state = read_state_dict(path, state_dict_key, strip_prefix)
    heads = tuple(f"{c}." for c in classifier)
    state = {k: v for k, v in state.items() if not (heads and k.startswith(heads))}
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(BN_COUNTER)]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(v.shape)} vs {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if missing or unexpected or shapes:
        arch = type(model).__name__
        raise InputError(
            f"{path}: checkpoint does not match {arch}: {len(missing)} missing keys "
            f"[{_first(missing)}]; {len(unexpected)} unexpected keys [{_first(unexpected)}]; "
            f"{len(shapes)} shape mismatches [{_first(shapes)}] "
            "(check state_dict_key / strip_prefix / arch)"
        )
    model.load_state_dict(state, strict=False)


@dataclass(frozen=True)
class LocalWeights:
    """A local checkpoint file and where its state dict sits (see :func:`read_state_dict`)."""

    path: Path
    state_dict_key: str | None = None
    strip_prefix: str | None = None

    def load_into(self, model: nn.Module, classifier: tuple[str, ...] = ()) -> dict[str, str]:
        """:func:`load_checkpoint` into ``model``; returns the file's path and SHA-256."""
        load_checkpoint(
            model,
            self.path,
            classifier=classifier,
            state_dict_key=self.state_dict_key,
            strip_prefix=self.strip_prefix,
        )
        return {"weights": str(self.path), "weights_sha256": file_sha256(self.path)}
