"""Input validation shared by every public function of ``course_utils``.

Each helper raises ``ValueError`` (or ``TypeError`` for a wrong kind of object) with a message that
names the argument and says what is wrong, so a student reading the traceback knows what to fix.
"""
from __future__ import annotations

import numpy as np

__all__ = ["as_float_array", "as_labels", "check_axis", "check_same_length"]


def as_float_array(x, name: str, *, min_ndim: int = 1, max_ndim: int | None = None,
                   allow_inf: bool = False, allow_pos_inf: bool = False) -> np.ndarray:
    """Return ``x`` as a floating array after checking ndim, emptiness and NaN/inf.

    ``allow_inf`` admits ``-inf`` (a masked entry); ``allow_pos_inf`` admits ``+inf`` as well.

    Integer and boolean inputs are cast to float64 (documented behaviour: logits may be given as ints);
    float16/float32/float64 keep their dtype. Complex, object and string arrays are rejected.
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} must be an array of numbers; could not convert it ({exc})") from None
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    elif arr.dtype.kind != "f":
        raise TypeError(f"{name} must hold real numbers; got dtype {arr.dtype}")
    if arr.ndim < min_ndim or (max_ndim is not None and arr.ndim > max_ndim):
        want = f"{min_ndim}" if max_ndim == min_ndim else f"at least {min_ndim}" if max_ndim is None \
            else f"{min_ndim} to {max_ndim}"
        raise ValueError(f"{name} must have {want} dimension(s); got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); it needs at least one element")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN at index {tuple(int(i) for i in np.argwhere(np.isnan(arr))[0])}")
    if not allow_inf and np.isinf(arr).any():
        raise ValueError(f"{name} contains an infinite value at index "
                         f"{tuple(int(i) for i in np.argwhere(np.isinf(arr))[0])}")
    if allow_inf and not allow_pos_inf and (arr == np.inf).any():  # isposinf makes three passes
        raise ValueError(f"{name} contains +inf; only -inf (a masked entry) is allowed")
    return arr


def as_labels(y, name: str, num_classes: int, *, length: int | None = None) -> np.ndarray:
    """Return integer class labels ``y`` of shape ``(N,)`` with values in ``0 .. num_classes-1``."""
    arr = np.asarray(y)
    # Integral floats (and [], which NumPy makes float64) become ints; other floats are rejected below.
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class labels; got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per example); got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; it needs at least one label")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{name} has {arr.shape[0]} labels but there are {length} examples")
    bad = (arr < 0) | (arr >= num_classes)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name}[{i}] = {arr[i]} is not a class label in 0..{num_classes - 1}")
    return arr.astype(np.intp, copy=False)


def check_axis(axis: int, ndim: int, name: str = "axis") -> int:
    """Return ``axis`` normalised to ``0 .. ndim-1``; raise ValueError if it is out of range."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{name} must be an int; got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}={axis} is out of range for an array with {ndim} dimension(s)")
    return int(axis) % ndim


def check_same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise ValueError unless ``a`` and ``b`` have the same number of rows."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{name_a} has {a.shape[0]} rows but {name_b} has {b.shape[0]}; "
                         "they must describe the same examples")
