"""Similarity (autograder/term/similarity.py) on a class written here as notebooks: honest solutions written
differently, two copied pairs (renamed variables, reordered functions, new comments and spacing) and two
untouched releases. No grading: the command reads ``release/`` and ``submitted/`` only."""
import csv
import html
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main
from autograder.course import Course
from autograder.term.similarity import own_code

A = "02_likelihood"
REPO = Path(__file__).resolve().parent.parent

# Each student: grade id -> body of the function (the release's signature and docstring are kept above it).
HONEST_1 = {
    "your_softmax": """
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)""",
    "one_hot": """
    y = np.asarray(y)
    if (y < 0).any() or (y >= num_classes).any():
        raise ValueError("labels out of range")
    Y = np.zeros((y.shape[0], num_classes))
    Y[np.arange(y.shape[0]), y] = 1.0
    return Y""",
    "cross_entropy_from_probs": """
    probs = np.asarray(probs, dtype=np.float64)
    p_true = probs[np.arange(probs.shape[0]), np.asarray(y)]
    with np.errstate(divide="ignore"):
        return float(-np.log(p_true).mean())""",
    "soft_cross_entropy": """
    def xlogy(t, p):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(t > 0, t * np.log(p), 0.0)

    def batch_mean(rows):
        return 0 - rows.sum(axis=1).mean()

    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    return batch_mean(xlogy(targets, probs))""",
    "smooth_labels": """
    Y = np.asarray(Y, dtype=np.float64)
    return (1.0 - eps) * Y + eps / Y.shape[1]""",
    "soft_cross_entropy_grad": """
    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    return (probs - targets) / probs.shape[0]""",
}
HONEST_2 = {  # loops and plain Python where the first uses NumPy idioms
    "your_softmax": """
    arr = np.array(z, dtype=np.float64)
    shifted = arr - np.max(arr, axis=axis, keepdims=True)
    numer = np.exp(shifted)
    denom = np.sum(numer, axis=axis, keepdims=True)
    return numer / denom""",
    "one_hot": """
    out = np.zeros((len(y), num_classes), dtype=np.float64)
    for row, label in enumerate(y):
        if not 0 <= label < num_classes:
            raise ValueError(f"bad label {label}")
        out[row, label] = 1
    return out""",
    "cross_entropy_from_probs": """
    total = 0.0
    for row, label in zip(probs, y):
        p = float(row[label])
        total += np.inf if p == 0 else -np.log(p)
    return total / len(y)""",
    "soft_cross_entropy": """
    loss = 0.0
    for p_row, t_row in zip(np.asarray(probs, float), np.asarray(targets, float)):
        for p_k, t_k in zip(p_row, t_row):
            if t_k > 0:
                loss -= t_k * (np.log(p_k) if p_k > 0 else -np.inf)
    return loss / len(probs)""",
    "smooth_labels": """
    Y = np.array(Y, dtype=float)
    K = Y.shape[-1]
    return Y * (1 - eps) + np.full_like(Y, eps / K)""",
    "soft_cross_entropy_grad": """
    n = len(probs)
    grad = np.empty_like(np.asarray(probs, dtype=float))
    for i in range(n):
        grad[i] = (np.asarray(probs[i], float) - np.asarray(targets[i], float)) / n
    return grad""",
}
HONEST_3 = {  # yet another style: np.eye, take_along_axis, scipy-like helpers
    "your_softmax": """
    m = np.amax(z, axis=axis, keepdims=True)
    w = np.exp(np.subtract(z, m))
    return np.divide(w, np.add.reduce(w, axis=axis, keepdims=True))""",
    "one_hot": """
    labels = np.asarray(y, dtype=int)
    assert labels.min() >= 0 and labels.max() < num_classes, "label outside the classes"
    return np.eye(num_classes)[labels]""",
    "cross_entropy_from_probs": """
    picked = np.take_along_axis(np.asarray(probs, float), np.asarray(y)[:, None], axis=1)[:, 0]
    logs = np.log(picked, out=np.full(picked.shape, -np.inf), where=picked > 0)
    return float(np.negative(logs).sum() / picked.size)""",
    "soft_cross_entropy": """
    P, T = np.asarray(probs, float), np.asarray(targets, float)
    safe = np.log(P, out=np.zeros_like(P), where=P > 0)
    bad = ((T > 0) & (P == 0)).any(axis=1)
    per_row = -np.einsum("nk,nk->n", T, safe)
    per_row[bad] = np.inf
    return per_row.mean()""",
    "smooth_labels": """
    K = np.shape(Y)[1]
    return np.asarray(Y, float) - eps * (np.asarray(Y, float) - 1.0 / K)""",
    "soft_cross_entropy_grad": """
    N = np.shape(probs)[0]
    return np.subtract(probs, targets, dtype=float) * (1.0 / N)""",
}


def _copy_of(original: dict, renames: dict, comment: str) -> dict:
    """``original`` with names replaced (whole words), a comment per line and other spacing."""
    out = {}
    for gid, body in original.items():
        for old, new in renames.items():
            body = re.sub(rf"\b{old}\b", new, body)
        lines = [line.replace(", ", ",  ").replace(" = ", "  =  ") for line in body.splitlines()]
        out[gid] = "\n".join(f"{line}  # {comment}" if line.strip() and not line.rstrip().endswith(":") else line
                             for line in lines)
    return out


# A copy of HONEST_1 with renamed variables and its two helper functions defined in the other order.
COPY_1 = _copy_of(HONEST_1, {"e": "expz", "Y": "onehot", "p_true": "picked", "rows": "mat", "t": "tgt",
                             "p": "prb", "xlogy": "safe_term"}, "my own work")
COPY_1["soft_cross_entropy"] = """
    def average_rows(mat):  # mean over the batch
        return 0 - mat.sum(axis=1).mean()
    def safe_term(tgt, prb):
        with np.errstate(divide="ignore",  invalid="ignore"):
            return np.where(tgt > 0,  tgt * np.log(prb),  0.0)
    prb_arr = np.asarray(probs,  dtype=np.float64)
    tgt_arr = np.asarray(targets,  dtype=np.float64)
    return average_rows(safe_term(tgt_arr,  prb_arr))"""
# A copy of HONEST_2 with renamed variables and new comments.
COPY_2 = _copy_of(HONEST_2, {"arr": "values", "shifted": "centred", "numer": "top", "denom": "bottom",
                             "out": "encoded", "row": "i", "label": "cls", "total": "acc", "loss": "result",
                             "p_row": "pr", "t_row": "tr", "grad": "g", "n": "count"}, "loop version")

CLASS = {"honest_1": HONEST_1, "honest_2": HONEST_2, "honest_3": HONEST_3, "copy_1": COPY_1, "copy_2": COPY_2,
         "untouched_a": None, "untouched_b": None}


def _submission(release_nb, answers: dict | None):
    """The release notebook with each solution cell's stub replaced by ``answers[grade id]``."""
    nb = nbformat.from_dict(release_nb)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if answers is not None and gid in answers:
            head = cell.source.split("    # YOUR CODE HERE")[0].rstrip("\n")
            cell.source = head + "\n" + answers[gid].strip("\n")
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course directory with the real release of notebook 2 and the class's submissions (no gradebook)."""
    course = Course(tmp_path_factory.mktemp("sim") / "course")
    shutil.copytree(REPO / "notebooks" / A, course.release_dir / A)
    release = nbformat.read(course.release_dir / A / "likelihood.ipynb", 4)
    for student, answers in CLASS.items():
        folder = course.submitted / student / A
        folder.mkdir(parents=True)
        nbformat.write(_submission(release, answers), folder / "likelihood.ipynb")
    return course


@pytest.fixture(scope="module")
def ranked(course):
    assert main(["--course", str(course.root), "similarity", "--assignment", A]) == 0
    with open(course.root / "similarity" / f"{A}.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return rows


def _pair(row):
    return frozenset((row["student_a"], row["student_b"]))


def test_copied_pairs_rank_first(ranked):
    top = {_pair(r) for r in ranked[:2]}
    assert top == {frozenset(("honest_1", "copy_1")), frozenset(("honest_2", "copy_2"))}, ranked[:4]
    honest = [float(r["similarity"]) for r in ranked[2:] if not _pair(r) & {"untouched_a", "untouched_b"}]
    assert float(ranked[1]["similarity"]) > 0.5 and float(ranked[1]["similarity"]) > 1.5 * max(honest), ranked[:4]


def test_untouched_release_scores_no_similarity(ranked):
    scores = {_pair(r): float(r["similarity"]) for r in ranked}
    assert scores[frozenset(("untouched_a", "untouched_b"))] == 0.0
    assert all(s == 0.0 for p, s in scores.items() if p & {"untouched_a", "untouched_b"})


def test_csv_has_every_pair_sorted_in_range(ranked):
    n = len(CLASS)
    assert len(ranked) == n * (n - 1) // 2
    assert list(ranked[0]) == ["student_a", "student_b", "similarity"]
    values = [float(r["similarity"]) for r in ranked]
    assert values == sorted(values, reverse=True) and all(0.0 <= v <= 1.0 for v in values)


def test_page_shows_top_pairs_escaped_and_says_it_is_an_aid(course, ranked):
    page = (course.root / "similarity" / f"{A}.html").read_text()
    assert "<script" not in page.lower() and "no penalty is applied automatically" in page
    text = re.sub(r"<[^>]+>", "", page)  # what the page shows
    assert "honest_1 &amp; copy_1" in text or "copy_1 &amp; honest_1" in text
    assert html.escape('with np.errstate(divide="ignore"):') in text  # student code, quotes escaped
    assert 'divide="ignore"' not in page


def test_own_code_drops_the_release_lines():
    given = 'def f(x):\n    """Doc."""\n    # YOUR CODE HERE\n    raise NotImplementedError()'
    written = 'def f(x):\n    """Doc."""\n    y = x + 1\n    return y'
    assert own_code(written, given) == "    y = x + 1\n    return y"
    assert own_code(given, given) == ""
