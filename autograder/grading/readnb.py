"""Reading a submitted notebook file: its text in whatever encoding it was saved, and a notebook rebuilt from
the readable cells when its JSON structure is damaged."""
from __future__ import annotations

import codecs
import copy
import json
import uuid

import nbformat

__all__ = ["Ungradable", "decode", "as_notebook"]

#: Byte-order marks, longest first (the UTF-32-LE mark starts with the UTF-16-LE one).
_BOMS = [(codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")]


class Ungradable(Exception):
    """The notebook cannot be graded; the message says why in plain words."""


def decode(raw: bytes) -> tuple[str, list[str]]:
    """The file's text: UTF-8, or what its byte-order mark says, or else Latin-1 (which reads any bytes)."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError as exc:
                raise Ungradable(f"the file starts like {codec.upper()} text but is not (byte {exc.start})")
            if codec == "utf-8-sig":
                return text, []  # UTF-8 all the same: nothing the student needs to know
            return text, [f"the file was saved as {codec.upper()} text, not UTF-8; it was read as {codec.upper()}."]
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        return raw.decode("latin-1"), [f"the file is not UTF-8 text (byte {exc.start}); it was read as Latin-1, "
                                       "so accented letters in it may show wrongly."]


def as_notebook(data, rel) -> tuple:
    """A valid v4 notebook from parsed JSON; a damaged structure is rebuilt from the readable cells."""
    _renumber_duplicate_ids(data)
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
        nbformat.validate(nb)
        return nb, []
    except Exception:  # noqa: BLE001 - any schema problem: fall back to the cells that can be read
        pass
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise Ungradable("the file is not a Jupyter notebook (it has no list of cells)")
    nb = nbformat.v4.new_notebook(metadata=copy.deepcopy(rel.metadata))
    nb.cells = [c for c in map(_salvage_cell, cells) if c is not None]
    nbformat.validate(nb)
    return nb, [f"its notebook structure was damaged; {len(nb.cells)} of its {len(cells)} cells could be read "
                "and were graded."]


def _renumber_duplicate_ids(data) -> None:
    """Give copied cells fresh cell ids (nbformat would do it too, with a warning per cell)."""
    seen = set()
    for cell in data.get("cells", []) if isinstance(data, dict) and isinstance(data.get("cells"), list) else []:
        if isinstance(cell, dict) and "id" in cell:
            if cell["id"] in seen or not isinstance(cell["id"], str):
                cell["id"] = uuid.uuid4().hex[:8]
            seen.add(cell["id"])


def _salvage_cell(raw):
    """A fresh cell with ``raw``'s type, source and nbgrader metadata, or None when they are unreadable."""
    if not isinstance(raw, dict):
        return None
    source = raw.get("source")
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        source = "".join(source)
    make = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
            "raw": nbformat.v4.new_raw_cell}.get(raw.get("cell_type"))
    if make is None or not isinstance(source, str):
        return None
    meta = raw.get("metadata")
    return make(source, metadata={"nbgrader": meta["nbgrader"]} if isinstance(meta, dict) and "nbgrader" in meta
                else {})
