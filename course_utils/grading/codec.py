"""Results as data: what a grade cell hands to the judge, in a form that cannot carry code.

A result is JSON: numbers, strings, booleans and None as themselves; an array (or NumPy scalar) as the bytes of
``np.save`` without pickles, base64-encoded; tuples, lists and string-keyed dicts as tagged containers. Anything
else (a function, an object array, a SymPy expression the check did not turn into numbers) is encoded as
``{"unreadable": <type name>}``, which no judge accepts as a right answer.
"""
from __future__ import annotations

import base64
import io
import math

import numpy as np

__all__ = ["encode", "decode", "Raised"]

MAX_DEPTH = 4


class Raised:
    """A case whose call failed: ``kind`` is "raised", "delegated" or "not implemented"; ``message`` says what."""

    def __init__(self, kind: str, message: str):
        self.kind, self.message = str(kind), str(message)

    def __repr__(self) -> str:
        return f"Raised({self.kind!r}, {self.message!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Raised) and (self.kind, self.message) == (other.kind, other.message)


def encode(value, depth: int = 0):
    """``value`` as JSON-ready data (see the module docstring)."""
    if isinstance(value, Raised):
        return {"raised": value.kind, "message": value.message[:2000]}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value if abs(value) < 2**53 else {"npy": _npy(np.float64(value)), "scalar": True}
    if isinstance(value, float):
        return value if math.isfinite(value) else {"npy": _npy(np.float64(value)), "scalar": True}
    if depth < MAX_DEPTH and isinstance(value, (tuple, list)):
        return {"tuple" if isinstance(value, tuple) else "list": [encode(v, depth + 1) for v in value]}
    if depth < MAX_DEPTH and isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: encode(v, depth + 1) for k, v in value.items()}}
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind in "biufc":
        return {"npy": _npy(np.asarray(value)), "scalar": isinstance(value, np.generic)}
    return {"unreadable": type(value).__name__}


def decode(data, depth: int = 0):
    """The value :func:`encode` encoded; raises ValueError for anything it could not have written."""
    if data is None or isinstance(data, (bool, str, int, float)):
        return data
    if not isinstance(data, dict) or depth > MAX_DEPTH:
        raise ValueError(f"not an encoded result: {type(data).__name__}")
    if "npy" in data:
        arr = np.load(io.BytesIO(base64.b64decode(data["npy"], validate=True)), allow_pickle=False)
        if arr.dtype.kind not in "biufc":
            raise ValueError(f"an encoded array of dtype {arr.dtype}")
        return arr[()] if data.get("scalar") else arr
    if "raised" in data:
        return Raised(data["raised"], data.get("message", ""))
    if "tuple" in data or "list" in data:
        items = [decode(v, depth + 1) for v in _list(data.get("tuple", data.get("list")))]
        return tuple(items) if "tuple" in data else items
    if "dict" in data and isinstance(data["dict"], dict):
        return {str(k): decode(v, depth + 1) for k, v in data["dict"].items()}
    if "unreadable" in data:
        return Unreadable(str(data["unreadable"]))
    raise ValueError(f"not an encoded result: keys {sorted(data)[:5]}")


class Unreadable:
    """A result that was not numbers (a function, an object array, ...): never a right answer."""

    def __init__(self, kind: str):
        self.kind = kind

    def __repr__(self) -> str:
        return f"<{self.kind}>"


def _npy(arr: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.save(buffer, np.require(arr, requirements='C'), allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _list(items) -> list:
    if not isinstance(items, list):
        raise ValueError("an encoded container that is not a list")
    return items
