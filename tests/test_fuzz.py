"""The mutation fuzzer (benchmarks/fuzz.py) on a small class, through the real instructor commands: no aborted
batch, no lost gradebook row, one row per submission, a note for every submission not graded normally."""
import json

import pytest

from autograder.course import REPO
from benchmarks.fuzz import INVARIANTS, make_submissions, run
from benchmarks.fuzz_mutations import DESTRUCTIVE


def test_submissions_are_damaged_deterministically():
    ids = ["01_softmax", "02_likelihood", "03_jacobian", "04_stability", "05_network"]
    sources = {a: REPO / "solutions" / a for a in ids}
    releases = {a: REPO / "notebooks" / a for a in ids}
    first, again = (make_submissions(60, 11, sources, releases) for _ in range(2))
    assert [(s.student, s.mutations, s.filename, s.content) for s in first] == \
           [(s.student, s.mutations, s.filename, s.content) for s in again]
    assert {s.assignment for s in first} == set(ids)
    assert len({m for s in first for m in s.mutations}) >= 12
    for s in first:
        if not DESTRUCTIVE & set(s.mutations) and not {"utf-16", "utf-32", "latin-1", "utf-8-bom"} & set(s.mutations):
            json.loads(s.content)  # notebook-level damage keeps the file JSON


@pytest.mark.slow
def test_small_fuzz_run_keeps_every_invariant():
    """Two damaged submissions of each notebook (the 1,000-submission run is BENCHMARKS section 5)."""
    tally, problems = run(10, seed=5, batch_size=10, progress=False)
    assert tally["submissions"] == 10
    assert all(tally[name] == 0 for name in INVARIANTS), (dict(tally), problems)
