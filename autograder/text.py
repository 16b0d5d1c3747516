"""Names that come from students (folder and file names, ids) made safe to print and to use as ids.

A student names their own folders and files: a name can carry terminal escape sequences (which would
rewrite the instructor's terminal: colours, cursor moves, a fake "all OK" line), newlines (a fake log line),
bidirectional overrides that display text in another order, or bytes that are not UTF-8. ``printable`` shows
such characters as Python escapes (``\\x1b``, ``\\n``, ``\\u202e``), so what reaches the terminal is what the
name is. ``id_problem`` says why a name cannot be a student id: ids become folder names under
``submitted/``, arguments of nbgrader's globbing (``autograde "*"``) and gradebook keys.
"""
from __future__ import annotations

import unicodedata

__all__ = ["printable", "id_problem", "name_problem"]

#: Unicode categories never shown raw: controls, format characters (bidi overrides, zero-width), line and
#: paragraph separators, surrogates (undecodable bytes of a file name) and unassigned code points.
_HIDDEN = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: Longest student id accepted (nbgrader's gradebook column is VARCHAR(128)).
MAX_ID = 128


def _hidden(ch: str) -> bool:
    return unicodedata.category(ch) in _HIDDEN


def printable(name: object, keep_newlines: bool = False) -> str:
    """``name`` with every control, format or undecodable character written as a Python escape; a backslash
    is doubled so an escape in the output always means an escaped character. ``keep_newlines`` keeps
    ``\\n`` (for a multi-line message whose lines are the program's own)."""
    out = []
    for ch in str(name):
        if ch == "\\":
            out.append("\\\\")
        elif keep_newlines and ch == "\n":
            out.append(ch)
        elif ch in _SHORT:
            out.append(_SHORT[ch])
        elif _hidden(ch):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def name_problem(name: str) -> str | None:
    """Why ``name`` is not acceptable as a file name in a submission (None if it is)."""
    if not name or name in (".", ".."):
        return "an empty name, '.' or '..'"
    if "/" in name or "\\" in name or "\0" in name:
        return "a path separator in the name"
    if any(_hidden(ch) for ch in name):
        return "a control, format or undecodable character in the name"
    return None


def id_problem(student: str) -> str | None:
    """Why ``student`` cannot be a student id (None if it can): empty, ``.``/``..``, a path separator, a
    control character or newline, a leading ``-`` (it would read as an option) or ``.`` (a hidden folder
    nbgrader's globs skip), glob characters (``* ? [ ]``: nbgrader matches ids as patterns), surrounding
    spaces, or longer than 128 characters."""
    problem = name_problem(student)
    if problem:
        return problem.replace("in the name", "in the student id")
    if student.startswith("-"):
        return "a student id may not start with '-'"
    if student.startswith("."):
        return "a student id may not start with '.'"
    if any(ch in "*?[]" for ch in student):
        return "a glob character (* ? [ ]) in the student id"
    if student != student.strip():
        return "spaces around the student id"
    if len(student) > MAX_ID:
        return f"a student id longer than {MAX_ID} characters"
    return None
