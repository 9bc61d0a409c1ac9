"""Errors of hume-workflow, and the 'did you mean' hint of their messages."""

from __future__ import annotations

import difflib


class InputError(ValueError):
    """Bad input from the user.

    Its message is one line naming the file, key or value and what was expected.
    """


def did_you_mean(name: str, choices: list[str]) -> str:
    """ "; did you mean 'a', 'b'?" for the choices close to ``name`` (at most 5), or ""."""
    close = difflib.get_close_matches(name, choices, n=5, cutoff=0.6)
    return f"; did you mean {', '.join(map(repr, close))}?" if close else ""
