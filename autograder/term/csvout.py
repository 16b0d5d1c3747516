"""The one way this project writes a CSV: the csv module, every cell quoted, spreadsheet formulas neutralised.

A grades file is opened in Excel, LibreOffice or an LMS, and its cells come from students (ids, names from a
roster, folder names). A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read
as a formula by spreadsheets (OWASP, "CSV Injection"): such a text cell is written with a single quote in
front (``'=HYPERLINK(...)``), which spreadsheets show as text. Numbers (``int``/``float``) are written as
numbers, never neutralised, so a score stays a score. Quoting every cell keeps a comma or a newline in an id
inside its cell: ``mallory,,,,,,99,14`` is one cell, never eight.
"""
from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["write_csv", "neutralise", "number"]

#: A text cell starting with one of these is a formula to a spreadsheet (the full-width forms too, which some
#: spreadsheets normalise).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise(cell: str) -> str:
    """``cell`` with a single quote in front if a spreadsheet would read it as a formula."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def number(x: float) -> str:
    """A score as text: ``12``, ``10.8`` (at most 6 decimals, no float noise such as 1.2000000000000002)."""
    if not math.isfinite(x):
        raise ValueError(f"not a finite number: {x!r}")
    return f"{round(x, 6) + 0.0:.15g}"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return number(value)
    return neutralise(str(value))


def write_csv(path: os.PathLike | str, header: Sequence[str], rows: Iterable[Sequence]) -> Path:
    """Write ``header`` and ``rows`` to ``path`` (UTF-8, every cell quoted, text cells neutralised, numbers as
    numbers, ``None`` as an empty cell) through a temporary file, so a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
        writer.writerow([_cell(h) for h in header])
        for row in rows:
            if len(row) != len(header):
                raise ValueError(f"a row of {len(row)} cells under a header of {len(header)}: {list(row)[:3]}")
            writer.writerow([_cell(v) for v in row])
    tmp.replace(path)
    return path

