"""Preflight repairs, checked without running nbgrader: every repaired notebook must pass nbgrader's own
metadata validation (the check that otherwise stops nbgrader for the whole notebook), keep exactly one cell per
grade id of the release, and keep the student's answer; the scores themselves are checked end to end by the
hostile corpus (tests/test_autograder.py)."""
import copy
import json
from pathlib import Path

import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator

from autograder.grading.preflight import grade_ids, locked_ids, preflight

from hostile_corpus import GOOD, NB, _metadata_cases, _with_copy

REPO = Path(__file__).resolve().parent.parent
RELEASE = REPO / "notebooks" / "01_softmax"


@pytest.fixture(scope="module")
def release():
    return nbformat.read(RELEASE / NB, 4)


def _run(tmp_path, make):
    folder = tmp_path / "sub"
    folder.mkdir()
    make(folder)
    notes = preflight(folder, RELEASE, locked_ids(RELEASE))
    return nbformat.read(folder / NB, 4), notes


def _ids(nb):
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "grade_id" in c.metadata.get("nbgrader", {})]


@pytest.mark.parametrize("case", sorted(_metadata_cases(nbformat.read(RELEASE / NB, 4))))
def test_disturbed_metadata_and_encodings_become_gradable(tmp_path, release, case):
    score, make, fragment = _metadata_cases(release)[case]
    nb, notes = _run(tmp_path, make)
    if score == 0:  # the tampering case: refused, replaced by the release
        assert any(fragment in n for n in notes), notes
        return
    MetadataValidator().validate_nb(nb)  # raises on duplicates, unknown schema, wrong types
    ids = _ids(nb)
    assert len(ids) == len(set(ids)) and set(ids) <= grade_ids(release)
    assert {i for i in grade_ids(release) if "test" in i} <= set(ids)
    assert any("np.exp(z - z.max(axis=axis, keepdims=True))" in c.source for c in nb.cells if c.cell_type == "code")
    if fragment:
        assert any(fragment in n for n in notes), notes


def _solution_cell(nb):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "softmax")


@pytest.mark.parametrize("answered_first", [True, False])
def test_duplicated_solution_keeps_the_answered_copy(tmp_path, release, answered_first):
    i = next(k for k, c in enumerate(release.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "softmax")
    nb = _with_copy(copy.deepcopy(release), "softmax", i if answered_first else None, GOOD)
    out, notes = _run(tmp_path, lambda f: nbformat.write(nb, f / NB))
    assert _solution_cell(out).source == GOOD
    assert sum(c.source == GOOD for c in out.cells) == 1 and len(out.cells) == len(release.cells) + 1


def test_copied_test_cell_keeps_the_copy_in_release_order(tmp_path, release):
    nb = _with_copy(copy.deepcopy(release), "test_softmax_examples", len(release.cells))  # pasted at the end
    test = nb.cells[-1]
    out, _ = _run(tmp_path, lambda f: nbformat.write(nb, f / NB))
    assert _ids(out) == _ids(release)
    assert "nbgrader" not in out.cells[-1].metadata and out.cells[-1].source == test.source


def test_copy_with_tampering_code_is_checked_as_student_code(tmp_path, release):
    nb = _with_copy(copy.deepcopy(release), "imports", len(release.cells), "import builtins\nbuiltins.AssertionError = Warning")
    out, notes = _run(tmp_path, lambda f: nbformat.write(nb, f / NB))
    assert any("modifies the grader" in n for n in notes)
    assert out.cells == release.cells


@pytest.mark.parametrize("damage", [
    lambda d: d["cells"].append("not a cell"),
    lambda d: d["cells"][3].update(cell_type="heading"),
    lambda d: d["cells"][5].update(metadata=[1, 2]),
    lambda d: d.update(nbformat_minor="five"),
])
def test_damaged_structure_keeps_the_readable_cells(tmp_path, release, damage):
    data = json.loads(nbformat.writes(release))
    data["cells"][5]["source"] = GOOD  # the solution cell, answered
    damage(data)
    out, notes = _run(tmp_path, lambda f: (f / NB).write_text(json.dumps(data)))
    nbformat.validate(out)
    MetadataValidator().validate_nb(out)
    assert any(GOOD.strip() in c.source for c in out.cells), notes


@pytest.mark.parametrize("payload", [b"\x00\x01garbage", b"[1, 2, 3]", b'{"cells": 7}', b"\xfe\xff\x00{\x00"])
def test_unreadable_files_are_graded_as_unanswered(tmp_path, release, payload):
    out, notes = _run(tmp_path, lambda f: (f / NB).write_bytes(payload))
    assert out.cells == release.cells and "unanswered" in notes[-1]


def test_renamed_notebook_in_another_encoding_is_found(tmp_path, release):
    nb = copy.deepcopy(release)
    nb.cells[5].source = GOOD
    out, notes = _run(tmp_path, lambda f: (f / "softmax (1).ipynb").write_bytes(nbformat.writes(nb).encode("utf-16")))
    assert any("found as 'softmax (1).ipynb'" in n for n in notes) and any("UTF-16" in n for n in notes)
    assert out.cells[5].source == GOOD
