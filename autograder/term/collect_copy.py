"""Copying one student's folder for collection: never following a link, within limits.

Every folder and file is opened with ``O_NOFOLLOW`` relative to its parent's descriptor, so a symbolic link is
refused even when it is swapped in while the copy runs; hard links (another user's file, in the exchange),
FIFOs and devices are refused too, and each file is copied at most to its size limit. ``read_timestamp``
checks a ``timestamp.txt`` the way ``nbgrader autograde`` will read it.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from nbgrader.utils import parse_utc

from autograder.text import name_problem, printable

__all__ = ["Budget", "CollectLimits", "Refused", "copy_tree", "read_timestamp", "write_bounded"]

_SKIPPED_DIRS = {".ipynb_checkpoints", "__pycache__"}
_CHUNK = 2**20


@dataclass(frozen=True)
class CollectLimits:
    """What one collection accepts: sizes in bytes (decompressed), counts in files."""
    member_bytes: int = 100 * 2**20   # one file (nbgrader's own max_file_size is 100,000 KB)
    total_bytes: int = 2 * 2**30      # an LMS archive, all members together
    members: int = 50_000             # files in an LMS archive
    submission_bytes: int = 500 * 2**20  # one submission folder
    submission_files: int = 1_000


class Refused(Exception):
    """One submission cannot be collected; the message says why."""


def read_timestamp(path: Path) -> tuple[str | None, str | None]:
    """``(text, None)`` for a ``timestamp.txt`` nbgrader can parse, ``(None, why)`` for one it cannot (or a
    link, or not a file), ``(None, None)`` when there is none."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"timestamp.txt cannot be read ({exc.strerror})"
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None, "timestamp.txt is not a regular file"
        raw = fh.read(201)
    try:
        text = raw.decode().strip()
        if not text or len(raw) > 200:
            raise ValueError("empty or longer than 200 bytes")
        parse_utc(text)  # what nbgrader autograde does with it
    except Exception as exc:  # noqa: BLE001 - dateutil raises ValueError, OverflowError, TypeError, ...
        return None, ("timestamp.txt is not a date nbgrader can read "
                      f"({raw[:60].decode(errors='replace')!r}: {type(exc).__name__})")  # repr: escaped
    return text, None


class Budget:
    """Files and bytes left for one submission."""

    def __init__(self, limits: CollectLimits):
        self.limits, self.files, self.bytes = limits, limits.submission_files, limits.submission_bytes

    def take(self, size: int, shown: str) -> None:
        self.files -= 1
        self.bytes -= size
        if self.files < 0 or self.bytes < 0:
            raise Refused(f"{shown}: the submission has more than {self.limits.submission_files} files or "
                           f"{self.limits.submission_bytes} bytes; not collected")


def copy_tree(dir_fd: int, dest: Path, shown: str, budget: Budget, notes: list[str]) -> None:
    """Copy the folder open as ``dir_fd`` into ``dest`` without following any link."""
    dest.mkdir(parents=True, exist_ok=True)
    with os.scandir(dir_fd) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        where = f"{shown}/{printable(entry.name)}"
        problem = name_problem(entry.name)
        if problem:
            notes.append(f"{where}: not collected: {problem}")
        elif entry.is_symlink():
            notes.append(f"{where}: a symbolic link; not followed, not collected")
        elif entry.is_dir(follow_symlinks=False):
            if entry.name in _SKIPPED_DIRS:
                continue
            try:
                fd = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
            except OSError as exc:
                notes.append(f"{where}: cannot be opened ({exc.strerror}); not collected")
                continue
            try:
                copy_tree(fd, dest / entry.name, where, budget, notes)
            finally:
                os.close(fd)
        else:
            _copy_file(dir_fd, entry.name, dest / entry.name, where, budget, notes)


def _copy_file(dir_fd: int, name: str, dest: Path, where: str, budget: Budget, notes: list[str]) -> None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError as exc:  # ELOOP: a link swapped in after the listing
        notes.append(f"{where}: cannot be opened without following a link ({exc.strerror}); not collected")
        return
    with os.fdopen(fd, "rb") as src:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            notes.append(f"{where}: not a regular file; not collected")
        elif st.st_nlink > 1:
            notes.append(f"{where}: a hard link (it may be another user's file); not collected")
        elif st.st_size > budget.limits.member_bytes:
            notes.append(f"{where}: {st.st_size} bytes, over the {budget.limits.member_bytes}-byte limit; "
                         "not collected")
        else:
            budget.take(st.st_size, where)
            if not write_bounded(src, dest, budget.limits.member_bytes):
                notes.append(f"{where}: grew over the {budget.limits.member_bytes}-byte limit; not collected")


def write_bounded(src, dest: Path, limit: int) -> bool:
    """Copy ``src`` into the new file ``dest``, at most ``limit`` bytes; False (and no file) if it had more."""
    written = 0
    with open(dest, "xb") as out:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                break
            out.write(chunk)
    if written > limit:
        dest.unlink()
        return False
    return True
