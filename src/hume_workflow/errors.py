"""Errors of hume-workflow, and the 'did you mean' hint of their messages."""

from __future__ import annotations

import difflib


class InputError(ValueError):
    """Bad input from the user.

    Its message is one line naming the file, key or value and what was expected.
    """


def did_you_mean(name: str, choices: list[str], quote: bool = True) -> str:
    """The hint "; did you mean 'a', 'b'?" for the choices close to ``name`` (at most 5), or "".

    ``quote=False`` lists them bare ("; did you mean a, b?"), as model names are written.
    """
    close = difflib.get_close_matches(name, choices, n=5, cutoff=0.6)
    shown = map(repr, close) if quote else close
    return f"; did you mean {', '.join(shown)}?" if close else ""
