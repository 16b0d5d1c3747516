"""Hostile and broken submissions for notebook 1, each with the score the grader must give (points read from
the notebook's grade cells, never repeated here).

Builders take the release and source notebooks of 01_softmax and write one student's folder.
"""
from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import nbformat

from autograder.demo import DELEGATE_SOFTMAX, NAIVE_SOFTMAX, fill

GOOD = '''
def softmax(z, axis=-1, temperature=1.0):
    z = np.asarray(z)
    z = (z if z.dtype.kind == "f" else z.astype(float)) / temperature
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
'''
NB = "softmax.ipynb"
#: grade cells a naive exp(z) / sum(exp(z)) loses: the large logits overflow and integer input stays integer
NAIVE_LOSES = ("test_softmax_stability", "test_softmax_dtype")


def points(notebook: Path, grade_ids=None) -> float:
    """The autograded points of ``notebook`` (of the cells ``grade_ids`` only, if given)."""
    return float(sum(c.metadata["nbgrader"]["points"] for c in nbformat.read(notebook, 4).cells
                     if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")
                     and (grade_ids is None or c.metadata["nbgrader"]["grade_id"] in grade_ids)))


_SOURCE = Path(__file__).resolve().parent.parent / "solutions" / "01_softmax" / NB
FULL = points(_SOURCE)
NAIVE_SCORE = FULL - points(_SOURCE, NAIVE_LOSES)


def _answer(code):
    return lambda src, rel: fill(copy.deepcopy(src), {"softmax": code})


def _write(nb):
    return lambda folder: nbformat.write(nb, folder / NB)


def _edit_test_cell(src, rel):
    nb = fill(copy.deepcopy(src), {"softmax": NAIVE_SOFTMAX})
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_softmax_stability":
            cell.source = '"""Check nothing."""\npass'
    return nb


def _delete_test_cell(src, rel):
    nb = fill(copy.deepcopy(src), {"softmax": NAIVE_SOFTMAX})
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_softmax_stability"]
    return nb


def _add_cells(src, rel):
    nb = fill(copy.deepcopy(src), {"softmax": GOOD})
    nb.cells.insert(3, nbformat.v4.new_code_cell("def helper(x):\n    return x + 1"))
    nb.cells.insert(4, nbformat.v4.new_markdown_cell("My notes."))
    return nb


def _reorder(src, rel):
    nb = fill(copy.deepcopy(src), {"softmax": GOOD})
    md = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"]
    nb.cells[md[0]], nb.cells[md[1]] = nb.cells[md[1]], nb.cells[md[0]]
    return nb


def _big_image(src, rel):
    nb = fill(copy.deepcopy(src), {"softmax": GOOD})
    blob = "A" * (50 * 2**20)
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={"image/png": blob})]
    return nb


def _index(nb, grade_id):
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _with_copy(nb, grade_id, where, source=None):
    """``nb`` with a copy of cell ``grade_id`` (its nbgrader metadata included, as JupyterLab copies it)
    inserted at index ``where`` (or after the original when None), optionally with another source."""
    i = _index(nb, grade_id)
    cell = copy.deepcopy(nb.cells[i])
    cell.id = uuid.uuid4().hex[:8]  # JupyterLab gives a pasted cell a new id (but keeps its metadata)
    cell.source = cell.source if source is None else source
    nb.cells.insert(i + 1 if where is None else where, cell)
    return nb


def _damaged_metadata(nb):
    nb.cells[_index(nb, "test_softmax_examples")].metadata.nbgrader.points = "three"   # wrong type
    nb.cells[_index(nb, "softmax")].metadata.nbgrader.schema_version = 1                # outdated schema
    del nb.cells[_index(nb, "demo")].metadata.nbgrader["locked"]                        # missing key
    nb.cells[_index(nb, "intro")].metadata.nbgrader = "garbage"                         # not a mapping
    return nb


def _damaged_structure(nb):
    data = json.loads(nbformat.writes(nb))
    del data["cells"][_index(nb, "by-hand")]["source"]          # a cell nbformat rejects
    data["cells"][_index(nb, "demo")]["outputs"] = [{"output_type": "bogus"}]
    data["metadata"]["kernelspec"] = {"name": 42}
    return json.dumps(data)


def _metadata_cases(rel):
    """Correct work (the release answered with GOOD) whose nbgrader metadata or encoding is disturbed the way
    JupyterLab, editors and students disturb it: nobody may lose a point for that."""
    good = lambda: _answer(GOOD)(rel, rel)  # noqa: E731
    stub = "# YOUR CODE HERE\nraise NotImplementedError()"
    own_meta = {"grade": False, "grade_id": "my_scratch", "locked": False, "schema_version": 3, "solution": True,
                "task": False}
    unknown = nbformat.v4.new_code_cell("assert True", metadata={"nbgrader": {
        "grade": True, "grade_id": "my_own_test", "locked": True, "points": 1, "schema_version": 3,
        "solution": False, "task": False}})
    nbs = {
        "pastes_test_cell": (FULL, _with_copy(good(), "test_softmax_examples", None), "appeared 2 times"),
        "pastes_test_cell_on_top": (FULL, _with_copy(good(), "test_softmax_examples", 0), "appeared 2 times"),
        "answers_in_copied_solution": (FULL, _with_copy(copy.deepcopy(rel), "softmax", None, GOOD), "appeared 2 times"),
        "stub_copy_below_answer": (FULL, _with_copy(good(), "softmax", None, stub), "appeared 2 times"),
        "copies_written_answer": (FULL, _with_copy(good(), "written_max_shift", None, "My answer."), "appeared"),
        "unknown_grade_cell": (FULL, (lambda nb: (nb.cells.append(unknown), nb)[1])(good()), "matches no cell"),
        "own_cell_with_metadata": (FULL, (lambda nb: (nb.cells.insert(6, nbformat.v4.new_code_cell(
            "scratch = 1", metadata={"nbgrader": own_meta})), nb)[1])(good()), "matches no cell"),
        "damaged_metadata": (FULL, _damaged_metadata(good()), "was damaged and was restored"),
        "tamper_in_copied_cell": (0.0, _with_copy(_answer(NAIVE_SOFTMAX)(rel, rel), "imports", 999,
                                                  "import course_utils.grading.softmax as g\n"
                                                  "g.large_logits = lambda f: None"), "modifies the grader"),
    }
    out = {name: (score, _write(nb), note) for name, (score, nb, note) in nbs.items()}
    text = nbformat.writes(good())
    latin = text.replace("def softmax", "# café au lait\\ndef softmax", 1)
    out["latin1_file"] = (FULL, lambda f: (f / NB).write_bytes(latin.encode("latin-1", "replace")), "read as Latin-1")
    out["utf8_bom"] = (FULL, lambda f: (f / NB).write_bytes(b"\xef\xbb\xbf" + text.encode()), None)
    out["utf32_file"] = (FULL, lambda f: (f / NB).write_bytes(text.encode("utf-32")), "saved as UTF-32")
    out["damaged_structure"] = (FULL, lambda f: (f / NB).write_text(_damaged_structure(good())),
                                "structure was damaged")
    return out


# name -> (expected autograded score, how to make the notebook or the folder, note fragment or None)
def corpus(source: Path, release: Path):
    src, rel = nbformat.read(source / NB, 4), nbformat.read(release / NB, 4)
    nbs = {
        "reference": (FULL, src, None),
        "untouched": (0.0, rel, None),
        "naive": (NAIVE_SCORE, _answer(NAIVE_SOFTMAX)(src, rel), None),
        "delegates": (0.0, _answer(DELEGATE_SOFTMAX)(src, rel), None),
        "scipy_delegate": (0.0, _answer("from scipy.special import softmax as _s\n"
                                        "def softmax(z, axis=-1, temperature=1.0):\n"
                                        "    return _s(np.asarray(z) / temperature, axis=axis)")(src, rel), None),
        "loop_top_level": (0.0, _answer("while True:\n    pass")(src, rel), None),
        "loop_in_function": (0.0, _answer("def softmax(z, axis=-1, temperature=1.0):\n    while True:\n"
                                          "        pass")(src, rel), "grading stopped"),
        "kernel_death": (0.0, _answer("import os\nos.kill(os.getpid(), 9)")(src, rel), None),
        "sys_exit_after_def": (FULL, _answer(GOOD + "\nimport sys\nsys.exit()")(src, rel), None),
        "allocates_8gb": (FULL, _answer(GOOD + "\ntry:\n    big = np.ones(2**30)\nexcept MemoryError:\n"
                                        "    big = None\nhuge = np.ones(2**30)")(src, rel), None),
        "process_storm": (FULL, _answer(GOOD + "\nimport os, threading, time\n"
                                        "for _ in range(100):\n"
                                        "    threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n"
                                        "for _ in range(10):\n    if os.fork() == 0:\n        time.sleep(3600)\n"
                                        "        os._exit(0)")(src, rel), None),
        "print_flood": (FULL, _answer(GOOD + "\nfor i in range(200_000):\n    print('spam ' * 20)")(src, rel), None),
        "edits_test_cell": (NAIVE_SCORE, _edit_test_cell(src, rel), None),
        "deletes_test_cell": (NAIVE_SCORE, _delete_test_cell(src, rel), None),
        "adds_cells": (FULL, _add_cells(src, rel), None),
        "reorders_cells": (FULL, _reorder(src, rel), None),
        "patches_grader": (0.0, _answer(NAIVE_SOFTMAX + "\nimport course_utils.grading.softmax as g\n"
                                        "g.large_logits = lambda f: None")(src, rel), "modifies the grader"),
        "patches_builtins": (0.0, _answer(GOOD + "\nimport builtins\nbuiltins.AssertionError = Warning")(src, rel),
                             "modifies the grader"),
        "redefines_reference": (0.0, _answer(NAIVE_SOFTMAX + "\nimport course_utils.softmax\n"
                                             "course_utils.softmax.softmax = softmax")(src, rel),
                                "modifies the grader"),
        "touches_files": (FULL, _answer(GOOD + "\nfor p in ['../../../gradebook.db', '../../../../gradebook.db']:\n"
                                        "    try:\n        open(p, 'w').write('garbage')\n"
                                        "    except OSError:\n        pass")(src, rel), None),
        "big_image": (FULL, _big_image(src, rel), None),
    }
    out = {name: (score, _write(nb), note) for name, (score, nb, note) in nbs.items()}
    out["renamed"] = (FULL, lambda f: nbformat.write(src, f / "softmax (1).ipynb"), "found as 'softmax (1).ipynb'")
    out["missing"] = (0.0, lambda f: (f / "notes.txt").write_text("forgot the notebook"), "missing")
    out["invalid_json"] = (0.0, lambda f: (f / NB).write_text(json.dumps(src)[:-200]), "not valid notebook JSON")
    out["empty_file"] = (0.0, lambda f: (f / NB).write_bytes(b""), "empty")
    out["not_utf8"] = (FULL, lambda f: (f / NB).write_bytes(b"\xff\xfe" + json.dumps(src).encode("utf-16-le")),
                       "saved as UTF-16")
    other = copy.deepcopy(src)
    for cell in other.cells:
        if "nbgrader" in cell.metadata:
            cell.metadata.nbgrader.grade_id = "other_" + cell.metadata.nbgrader.grade_id
    out["other_assignment"] = (0.0, _write(other), "not this assignment")
    out.update(_metadata_cases(rel))
    return out


_LAZY = '''
import course_utils.softmax as _ref

class _Lazy:
    def __init__(self, z, axis, temperature):
        self.args = z, axis, temperature

    def __array__(self, dtype=None, copy=None):
        z, axis, temperature = self.args
        return _ref.softmax(z, axis=axis, temperature=temperature)

def softmax(z, axis=-1, temperature=1.0):
    return _Lazy(z, axis, temperature)
'''
_AGREEABLE = '''
class _Agreeable(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, bool)
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return np.ones(np.broadcast(*[np.asarray(x) for x in inputs]).shape, bool)

def softmax(z, axis=-1, temperature=1.0):
    return np.zeros(np.shape(z)).view(_Agreeable)
'''
_SNOOP = '''
import os
needle = bytes.fromhex({needle!r})  # a line of this notebook's hidden tests, spelled so this file lacks it
found = []
for top in ["..", "../..", "/tmp", "/home", "/root", "/work", "/srv", "/var/tmp"]:
    for folder, dirs, files in os.walk(top):
        if folder.count(os.sep) - top.count(os.sep) >= 4:
            dirs[:] = []
        for name in files:
            if name.endswith((".ipynb", ".db", ".json", ".txt")):
                try:
                    with open(os.path.join(folder, name), "rb") as f:
                        if needle in f.read(20_000_000):
                            found.append(os.path.join(folder, name))
                except OSError:
                    pass
print("SNOOPED:", found[:5] if found else "nothing")
'''


def hidden_line(src) -> str:
    """The first line inside a hidden-tests region of ``src``."""
    for cell in src.cells:
        lines = cell.source.splitlines()
        for k, line in enumerate(lines[:-1]):
            if "BEGIN HIDDEN TESTS" in line:
                return lines[k + 1].strip()
    raise ValueError("the notebook has no hidden tests")


def grader_cases(source: Path, release: Path, *, marker: str, home: Path, tmp: Path, port: int):
    """Cases about fair checks and the sandbox. ``marker`` names the files a case tries to leave in the
    grader's ``home`` and ``tmp``; ``port`` is a TCP server on 127.0.0.1 that no case may reach. The test
    checks those (and that "SNOOPED:" never shows a file) besides the scores."""
    src, rel = nbformat.read(source / NB, 4), nbformat.read(release / NB, 4)
    writes = (f"\nfor folder in [{str(home)!r}, {str(tmp)!r}, '/tmp', __import__('os').path.expanduser('~')]:\n"
              f"    try:\n        open(folder + '/{marker}', 'w').write('x')\n    except OSError:\n        pass")
    connects = (f"\nimport socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=3).sendall(b'x')\n"
                "except OSError:\n    pass")
    nbs = {
        "seterr_raise": (FULL, _answer(GOOD + "\nnp.seterr(all='raise')\nimport warnings\n"
                                       "warnings.simplefilter('error')")(src, rel), None),
        "lazy_reference": (0.0, _answer(_LAZY)(src, rel), None),
        "agreeable_subclass": (0.0, _answer(_AGREEABLE)(src, rel), None),
        "endless_recursion": (0.0, _answer("import sys\nsys.setrecursionlimit(10**6)\n"
                                           "def softmax(z, axis=-1, temperature=1.0):\n"
                                           "    return softmax(z, axis, temperature)")(src, rel), None),
        "snoops_files": (FULL, _answer(GOOD + _SNOOP.format(needle=hidden_line(src).encode().hex()))(rel, rel),
                         None),  # the release answered: the student's own file holds no hidden tests
        "writes_outside": (FULL, _answer(GOOD + writes)(src, rel), None),
        "connects_localhost": (FULL, _answer(GOOD + connects)(src, rel), None),
    }
    return {name: (score, _write(nb), note) for name, (score, nb, note) in nbs.items()}
