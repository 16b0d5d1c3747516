"""Fashion-MNIST loader used by the network notebook (5).

Looked for, in order: ``data_dir`` (or the ``FASHION_MNIST_DIR`` environment variable), the directory
of the Debian package ``dataset-fashion-mnist``, then a per-user cache that is filled by downloading
from Zalando's server. Every file is checked against the SHA-256 of its decompressed IDX content
(once per process), so a corrupted or truncated copy is reported instead of silently training on it.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

__all__ = ["CLASS_NAMES", "load_fashion_mnist", "find_data_dir", "DataError"]

CLASS_NAMES: tuple[str, ...] = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
BASE_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
ENV_VAR = "FASHION_MNIST_DIR"
DOWNLOAD_TIMEOUT = 60.0  # seconds without data before a download is abandoned

# name -> (IDX magic number, shape, SHA-256 of the decompressed file)
_FILES: dict[str, tuple[int, tuple[int, ...], str]] = {
    "train-images-idx3-ubyte": (2051, (60000, 28, 28),
                                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train-labels-idx1-ubyte": (2049, (60000,),
                                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "t10k-images-idx3-ubyte": (2051, (10000, 28, 28),
                               "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "t10k-labels-idx1-ubyte": (2049, (10000,),
                               "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}
_FIX = ("install the Debian package (sudo apt-get install dataset-fashion-mnist) or set "
        f"{ENV_VAR} to a directory holding the four Fashion-MNIST files (gzipped or not)")
_VERIFIED: set[tuple[str, int, int]] = set()  # (path, mtime_ns, size) of files whose SHA-256 matched


class DataError(ValueError):
    """A Fashion-MNIST file is missing, corrupt or truncated, or could not be downloaded."""


def _cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "softmax-course" / "fashion-mnist"


def _locate(directory: Path, name: str) -> Path | None:
    """The file ``name`` or ``name.gz`` in ``directory`` (uncompressed preferred), or None."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _is_complete(directory: Path) -> bool:
    return all(_locate(directory, name) is not None for name in _FILES)


def _key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def _parse(raw: bytes, label: str, name: str, key: tuple[str, int, int] | None) -> np.ndarray:
    """Validate size, IDX header and SHA-256 of decompressed ``raw``; return the array it holds.

    ``label`` names the source in error messages. The hash is skipped if ``key`` is already verified.
    """
    magic, shape, sha = _FILES[name]
    size = 4 + 4 * len(shape) + int(np.prod(shape))
    if len(raw) != size:
        problem = "truncated" if len(raw) < size else "too long"
        raise DataError(f"{label}: {problem}: decompressed content is {len(raw)} bytes, expected {size}")
    header = np.frombuffer(raw, dtype=">u4", count=1 + len(shape))
    if header[0] != magic:
        raise DataError(f"{label}: IDX magic number is {header[0]}, expected {magic}")
    if tuple(header[1:].tolist()) != shape:
        raise DataError(f"{label}: IDX dimensions are {tuple(header[1:].tolist())}, expected {shape}")
    if key is None or key not in _VERIFIED:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != sha:
            raise DataError(f"{label}: SHA-256 of decompressed content is {digest}, expected {sha}")
        if key is not None:
            _VERIFIED.add(key)
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * len(shape)).reshape(shape)


def _decompressed(path: Path, label: str, gzipped: bool) -> bytes:
    raw = path.read_bytes()
    if not gzipped:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{label}: not a valid gzip file ({exc})") from None


def _read_idx(path: Path, name: str) -> np.ndarray:
    """Read, validate and parse the IDX file ``path`` (gzipped or not); DataError names what is wrong."""
    return _parse(_decompressed(path, str(path), path.suffix == ".gz"), str(path), name, _key(path))


def _searched(cache: Path) -> str:
    return f"${ENV_VAR} (not set), {DEBIAN_DIR} or the cache {cache}"


def _download(name: str, cache: Path, progress: bool) -> np.ndarray:
    """Fetch ``BASE_URL/name.gz`` into ``cache``; it is verified before being moved into place."""
    url = f"{BASE_URL.rstrip('/')}/{name}.gz"
    target = cache / f"{name}.gz"
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=cache)
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, desc=f"{name}.gz", unit="B", unit_scale=True,
                          disable=not progress) as bar:
                    while chunk := resp.read(1 << 20):
                        out.write(chunk)
                        bar.update(len(chunk))
            array = _parse(_decompressed(tmp, url, gzipped=True), url, name, key=None)
            os.replace(tmp, target)
        finally:  # also on KeyboardInterrupt; a no-op once the file has been moved into place
            tmp.unlink(missing_ok=True)
    except DataError as exc:
        raise DataError(f"download is corrupt: {exc}") from None
    except (OSError, ValueError) as exc:  # URLError and socket timeouts are OSErrors
        raise DataError(f"could not download {url} into {cache} ({exc}). Fashion-MNIST is not in "
                        f"{_searched(cache)} either; {_FIX}") from exc
    _VERIFIED.add(_key(target))
    return array


def _explicit_dir(data_dir: str | os.PathLike | None) -> Path | None:
    chosen = data_dir if data_dir is not None else os.environ.get(ENV_VAR) or None
    return None if chosen is None else Path(chosen).expanduser()


def find_data_dir(data_dir: str | os.PathLike | None = None, *,
                  cache_dir: str | os.PathLike | None = None) -> Path | None:
    """Return the directory :func:`load_fashion_mnist` reads from without downloading, or None.

    Parameters
    ----------
    data_dir : path-like, optional
        As in :func:`load_fashion_mnist`. If it (or ``$FASHION_MNIST_DIR``) is given, it is the only
        place considered.
    cache_dir : path-like, optional
        The download cache; default ``${XDG_CACHE_HOME:-~/.cache}/softmax-course/fashion-mnist``.

    Returns
    -------
    Path or None
        The first directory holding all four files (not yet checksummed), or None if none does.
    """
    explicit = _explicit_dir(data_dir)
    candidates = [explicit] if explicit is not None else [DEBIAN_DIR, _cache_dir(cache_dir)]
    return next((d for d in candidates if _is_complete(d)), None)


def _check_subset(subset) -> tuple[int, int] | None:
    def count(n, limit: int, what: str) -> int:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= limit:
            raise ValueError(f"subset: {what} must be an integer in 1..{limit}; got {n!r}")
        return int(n)

    n_train, n_test = _FILES["train-labels-idx1-ubyte"][1][0], _FILES["t10k-labels-idx1-ubyte"][1][0]
    if subset is None:
        return None
    if isinstance(subset, tuple) and len(subset) == 2:
        return count(subset[0], n_train, "n_train"), count(subset[1], n_test, "n_test")
    if not isinstance(subset, (tuple, list)):
        n = count(subset, n_train, "n")
        return n, min(n, n_test)
    raise ValueError(f"subset must be None, an int n or a (n_train, n_test) tuple; got {subset!r}")


def load_fashion_mnist(data_dir: str | os.PathLike | None = None, *, subset=None, download: bool = True,
                       cache_dir: str | os.PathLike | None = None, progress: bool = True,
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load Fashion-MNIST as flat float images and integer labels.

    Parameters
    ----------
    data_dir : path-like, optional
        Directory holding the four IDX files, gzipped or not. Default ``$FASHION_MNIST_DIR``; when
        neither is set, ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``)
        and then ``cache_dir`` are used.
    subset : None, int or (int, int)
        None for all data; ``n`` for the first ``n`` training and first ``min(n, 10000)`` test
        examples; ``(n_train, n_test)`` to choose both.
    download : bool
        Download missing (or corrupt) files into ``cache_dir`` when no directory has them.
    cache_dir : path-like, optional
        Download cache; default ``${XDG_CACHE_HOME:-~/.cache}/softmax-course/fashion-mnist``.
    progress : bool
        Show a tqdm progress bar while downloading.

    Returns
    -------
    X_train : ndarray, float32, shape (n_train, 784)
        Pixel intensities scaled to [0, 1], one row per image (row-major 28x28).
    y_train : ndarray, int64, shape (n_train,)
        Class labels 0..9; ``CLASS_NAMES[y]`` is the name.
    X_test, y_test : as above, for the test set.

    Raises
    ------
    DataError
        A file is missing, corrupt or truncated, or could not be downloaded.
    ValueError
        ``subset`` is not valid.
    """
    counts = _check_subset(subset)
    explicit, cache = _explicit_dir(data_dir), _cache_dir(cache_dir)
    if explicit is not None and not _is_complete(explicit):
        missing = [f"{n}[.gz]" for n in _FILES if _locate(explicit, n) is None]
        raise DataError(f"{explicit} (from {'data_dir' if data_dir is not None else ENV_VAR}) lacks "
                        f"{', '.join(missing)}; fix the path or {_FIX}")
    source = explicit if explicit is not None else DEBIAN_DIR if _is_complete(DEBIAN_DIR) else None
    if source is not None:
        arrays = {name: _read_idx(_locate(source, name), name) for name in _FILES}
    else:
        arrays = {}
        for name in _FILES:
            path = _locate(cache, name)
            try:
                if path is None:
                    raise DataError(f"{cache / name}.gz: missing")
                arrays[name] = _read_idx(path, name)
            except DataError as exc:
                if not download:
                    raise DataError(f"no usable Fashion-MNIST in {_searched(cache)} ({exc}); download=False, "
                                    f"so {_FIX}, or pass download=True") from None
                if path is not None:
                    path.unlink()
                arrays[name] = _download(name, cache, progress)
    n_train, n_test = counts or (None, None)
    x_train = arrays["train-images-idx3-ubyte"][:n_train].reshape(-1, 784)
    x_test = arrays["t10k-images-idx3-ubyte"][:n_test].reshape(-1, 784)
    return (x_train / np.float32(255), arrays["train-labels-idx1-ubyte"][:n_train].astype(np.int64),
            x_test / np.float32(255), arrays["t10k-labels-idx1-ubyte"][:n_test].astype(np.int64))
