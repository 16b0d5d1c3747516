"""nbgrader's hidden-test regions (``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``), read in one place
for the feedback (which removes them) and the report (which names the hidden line a failure came from)."""
from __future__ import annotations

import re

__all__ = ["strip_hidden", "hidden_lines"]

_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)


def strip_hidden(source: str) -> str:
    """``source`` with each hidden-test region replaced by a one-line placeholder."""
    return _HIDDEN.sub("# (hidden tests are not shown)\n", source)


def hidden_lines(source: str) -> dict[int, str]:
    """{line number (1-based): stripped text} of the non-empty lines inside hidden-test regions."""
    lines = {}
    for match in _HIDDEN.finditer(source):
        first = source.count("\n", 0, match.start()) + 1
        for k, text in enumerate(match.group(0).splitlines()[1:-1], start=first + 1):
            if text.strip():
                lines[k] = text.strip()
    return lines
