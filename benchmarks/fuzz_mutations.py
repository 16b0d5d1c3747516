"""The damage ``benchmarks.fuzz`` does to submissions: to a notebook's JSON (cells, metadata, outputs,
kernelspec), to its text encoding, and to the file itself."""
from __future__ import annotations

import copy
import json
import random
import uuid

__all__ = ["DESTRUCTIVE", "ENCODINGS", "NOTEBOOK_MUTATIONS", "file_mutation"]

#: Mutations that leave no gradable notebook: the grader must say what happened.
DESTRUCTIVE = {"truncate", "empty", "missing", "garbage_bytes", "not_a_notebook"}


def _code_cells(cells):
    return [i for i, c in enumerate(cells) if isinstance(c, dict) and c.get("cell_type") == "code"]


def _delete(nb, rng):
    for _ in range(rng.randint(1, 3)):
        if nb["cells"]:
            del nb["cells"][rng.randrange(len(nb["cells"]))]


def _duplicate(nb, rng):
    cell = copy.deepcopy(rng.choice(nb["cells"]))
    cell["id"] = uuid.UUID(int=rng.getrandbits(128)).hex[:8]
    nb["cells"].insert(rng.randint(0, len(nb["cells"])), cell)


def _reorder(nb, rng):
    i, j = rng.randrange(len(nb["cells"])), rng.randrange(len(nb["cells"]))
    nb["cells"][i], nb["cells"][j] = nb["cells"][j], nb["cells"][i]


def _split(nb, rng):
    i = rng.randrange(len(nb["cells"]))
    cell = nb["cells"][i]
    lines = "".join(cell["source"]).splitlines(keepends=True)
    cut = rng.randint(0, len(lines))
    second = copy.deepcopy(cell) if rng.random() < 0.5 else {**copy.deepcopy(cell), "metadata": {}}
    second["id"] = uuid.UUID(int=rng.getrandbits(128)).hex[:8]
    cell["source"], second["source"] = "".join(lines[:cut]), "".join(lines[cut:])
    nb["cells"].insert(i + 1, second)


def _merge(nb, rng):
    if len(nb["cells"]) > 1:
        i = rng.randrange(len(nb["cells"]) - 1)
        nb["cells"][i]["source"] = "".join(nb["cells"][i]["source"]) + "\n" + "".join(nb["cells"].pop(i + 1)["source"])


def _swap_sources(nb, rng):
    i, j = rng.randrange(len(nb["cells"])), rng.randrange(len(nb["cells"]))
    nb["cells"][i]["source"], nb["cells"][j]["source"] = nb["cells"][j]["source"], nb["cells"][i]["source"]


def _damage_metadata(nb, rng):
    tagged = [c for c in nb["cells"] if "nbgrader" in c.get("metadata", {})]
    if not tagged:
        return
    cell, other = rng.choice(tagged), rng.choice(tagged)
    meta = cell["metadata"]["nbgrader"]
    rng.choice([
        lambda: meta.pop(rng.choice(["grade", "solution", "locked", "grade_id", "schema_version", "points"]), None),
        lambda: meta.update(points=rng.choice(["three", None, -1, [2]])),
        lambda: meta.update(grade=rng.choice(["yes", 1, None])),
        lambda: meta.update(schema_version=rng.choice([0, 1, 2, 4, "3"])),
        lambda: meta.update(grade_id=rng.choice(["", "not_a_cell", 42])),
        lambda: meta.update(grade_id=other["metadata"]["nbgrader"].get("grade_id")),
        lambda: meta.update(grade=True, points=1, grade_id="fuzz_" + str(rng.randrange(99))),
        lambda: cell["metadata"].update(nbgrader=rng.choice(["garbage", [1, 2], None, 7])),
    ])()


def _damage_structure(nb, rng):
    cell = rng.choice(nb["cells"])
    rng.choice([
        lambda: cell.pop("source", None),
        lambda: cell.update(cell_type=rng.choice(["heading", "", None])),
        lambda: cell.update(outputs="not a list") if cell.get("cell_type") == "code" else cell.update(outputs=[]),
        lambda: cell.update(metadata=[1, 2, 3]),
        lambda: cell.update(source=[1, 2]),
        lambda: nb["cells"].append("not a cell"),
        lambda: nb.update(nbformat_minor="five"),
    ])()


def _huge_output(nb, rng):
    code = _code_cells(nb["cells"])
    if code:
        big = rng.choice([{"output_type": "stream", "name": "stdout", "text": "spam\n" * 400_000},
                          {"output_type": "display_data", "metadata": {},
                           "data": {"image/png": "A" * (8 * 2**20)}}])
        nb["cells"][rng.choice(code)].setdefault("outputs", []).append(big)


def _kernelspec(nb, rng):
    nb["metadata"]["kernelspec"] = rng.choice([
        {"name": "ir", "display_name": "R", "language": "R"},
        {"name": "python2", "display_name": "Python 2", "language": "python"},
        {"name": "julia-1.10", "display_name": "Julia 1.10.0", "language": "julia"}, {}])
    nb["metadata"]["language_info"] = {"name": nb["metadata"]["kernelspec"].get("language", "?")}


NOTEBOOK_MUTATIONS = {"delete": _delete, "duplicate": _duplicate, "reorder": _reorder, "split": _split,
                      "merge": _merge, "swap_sources": _swap_sources, "damage_metadata": _damage_metadata,
                      "damage_structure": _damage_structure, "huge_output": _huge_output,
                      "kernelspec": _kernelspec}
ENCODINGS = {"utf-16": lambda t: t.encode("utf-16"), "utf-32": lambda t: t.encode("utf-32"),
             "utf-8-bom": lambda t: b"\xef\xbb\xbf" + t.encode(),
             "latin-1": lambda t: t.encode("latin-1", "replace")}


def _still_a_notebook(content: bytes) -> bool:
    """Whether damaged bytes still read as the notebook JSON they were (UTF-8, an object with cells)."""
    try:
        return isinstance(json.loads(content.decode("utf-8")).get("cells"), list)
    except (ValueError, AttributeError):
        return False


def file_mutation(content: bytes, filename: str, rng: random.Random) -> tuple[str, bytes | None, str]:
    """Damage at the file level: truncate, empty, garbage, not a notebook, missing (None) or renamed;
    return (what was done, the new content, the new file name). Garbage that leaves a readable notebook is
    ``garbage_bytes_harmless``, not destructive."""
    kind = rng.choice(["truncate", "empty", "garbage_bytes", "not_a_notebook", "missing", "renamed"])
    if kind == "truncate":
        content = content[:rng.randrange(len(content))]
    elif kind == "empty":
        content = b""
    elif kind == "garbage_bytes":
        data = bytearray(content)
        for _ in range(rng.randint(1, 50)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        content = bytes(data)
        if _still_a_notebook(content):  # e.g. printable bytes inside a long output: nothing to say about it
            kind = "garbage_bytes_harmless"
    elif kind == "not_a_notebook":
        content = json.dumps(rng.choice([[1, 2], {"cells": 7}, {"worksheets": []}, "text"])).encode()
    elif kind == "missing":
        content = None
    else:
        stem = filename[:-len(".ipynb")]
        filename = rng.choice(["{} (1).ipynb", "Copy of {}.ipynb", "{}-final.ipynb"]).format(stem)
    return kind, content, filename
