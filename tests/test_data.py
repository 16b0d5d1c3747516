"""Tests for ``course_utils.data`` on the real Fashion-MNIST files of the Debian package.

CI installs ``dataset-fashion-mnist``, so a missing ``/usr/share/datasets/fashion-mnist`` makes the
real-data tests FAIL (not skip). Download tests serve copies of those files through ``file://`` URLs;
no image content is ever faked — corruption is one flipped byte or a truncation of a real file.
"""
from __future__ import annotations

import gzip
import os
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from course_utils import data
from course_utils.data import CLASS_NAMES, DataError, find_data_dir, load_fashion_mnist

NAMES = list(data._FILES)  # train-images, train-labels, t10k-images, t10k-labels (-idx?-ubyte)
SHA = {name: sha for name, (_, _, sha) in data._FILES.items()}
DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def _require_debian() -> None:
    missing = [n for n in NAMES if not (DEBIAN / f"{n}.gz").is_file()]
    if missing:
        pytest.fail(f"{DEBIAN} lacks {missing}: install it with `sudo apt-get install dataset-fashion-mnist`")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No test sees the user's FASHION_MNIST_DIR or real cache, and no test can reach the internet."""
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setattr(data, "BASE_URL", (tmp_path / "no-such-mirror").as_uri())


@pytest.fixture(scope="module")
def full():
    """The full data set loaded from the Debian directory by the default search (no download)."""
    _require_debian()
    assert data.DEBIAN_DIR == DEBIAN
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("FASHION_MNIST_DIR", raising=False)
        return load_fashion_mnist(download=False, cache_dir="/nonexistent/cache", progress=False)


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory) -> Path:
    """A directory with decompressed copies of the four real IDX files."""
    _require_debian()
    d = tmp_path_factory.mktemp("raw")
    for n in NAMES:
        (d / n).write_bytes(gzip.decompress((DEBIAN / f"{n}.gz").read_bytes()))
    return d


@pytest.fixture
def mirror(tmp_path, monkeypatch) -> Path:
    """A local 'server' (file:// BASE_URL) holding the real .gz files; the Debian dir is hidden."""
    _require_debian()
    d = tmp_path / "mirror"
    d.mkdir()
    for n in NAMES:
        (d / f"{n}.gz").symlink_to(DEBIAN / f"{n}.gz")
    monkeypatch.setattr(data, "BASE_URL", d.as_uri() + "/")
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian-package")
    return d


def _dir_with(tmp_path: Path, src: Path, name: str, content: bytes, suffix: str = "") -> Path:
    """A directory whose file ``name + suffix`` holds ``content``; the other three link to ``src``."""
    d = tmp_path / "given"
    d.mkdir()
    for n in NAMES:
        if n != name:
            (d / n).symlink_to(src / n)
    (d / f"{name}{suffix}").write_bytes(content)
    return d


def _flip(raw: bytes, i: int) -> bytes:
    b = bytearray(raw)
    b[i] ^= 0x01
    return bytes(b)


def _same(a, b) -> None:
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


# --- the real data ------------------------------------------------------------------------------------

def test_shapes_dtypes_and_range(full):
    X_train, y_train, X_test, y_test = full
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert X_train.dtype == X_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    for X in (X_train, X_test):
        assert X.min() == 0.0 and X.max() == 1.0


def test_label_counts(full):
    _, y_train, _, y_test = full
    np.testing.assert_array_equal(np.bincount(y_train, minlength=10), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test, minlength=10), [1000] * 10)


def test_pixel_statistics(full):
    X_train = full[0]
    assert abs(X_train.mean(dtype=np.float64) - 0.2860) < 1e-3
    assert abs(X_train.std(dtype=np.float64) - 0.3530) < 1e-3
    # exactly k/255 for integer k: the uint8 pixels were only rescaled
    np.testing.assert_array_equal(np.round(X_train[:100] * 255) / np.float32(255), X_train[:100])


def test_first_labels_and_class_names(full):
    assert full[1][0] == 9 and full[3][0] == 9
    assert CLASS_NAMES[9] == "Ankle boot"
    assert CLASS_NAMES == ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def test_find_data_dir_prefers_debian(tmp_path):
    _require_debian()
    assert find_data_dir() == DEBIAN
    assert find_data_dir(cache_dir=tmp_path) == DEBIAN


def test_public_api():
    assert data.__all__ == ["CLASS_NAMES", "load_fashion_mnist", "find_data_dir", "DataError"]
    assert issubclass(DataError, ValueError)


# --- subset -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("subset", "n_train", "n_test"),
                         [(100, 100, 100), (np.int64(7), 7, 7), (25000, 25000, 10000), (60000, 60000, 10000),
                          ((500, 20), 500, 20), ((1, 10000), 1, 10000)])
def test_subset(full, subset, n_train, n_test):
    X_train, y_train, X_test, y_test = load_fashion_mnist(subset=subset, progress=False)
    assert X_train.shape == (n_train, 784) and y_train.shape == (n_train,)
    assert X_test.shape == (n_test, 784) and y_test.shape == (n_test,)
    _same((X_train, y_train, X_test, y_test),
          (full[0][:n_train], full[1][:n_train], full[2][:n_test], full[3][:n_test]))


@pytest.mark.parametrize("subset", [0, -1, 60001, 1.5, 100.0, "100", True, (10,), (10, 0), (0, 10),
                                    (60001, 10), (10, 10001), (10, 10, 10), (10.0, 10), [10, 10], {"n": 1}])
def test_bad_subset_raises_value_error(subset):
    with pytest.raises(ValueError, match="subset"):
        load_fashion_mnist(subset=subset, download=False)


# --- user-given directories ---------------------------------------------------------------------------

def test_env_var_with_gzipped_copies(full, tmp_path, monkeypatch):
    d = tmp_path / "gz-copies"
    d.mkdir()
    for n in NAMES:
        (d / f"{n}.gz").write_bytes((DEBIAN / f"{n}.gz").read_bytes())
    monkeypatch.setenv("FASHION_MNIST_DIR", str(d))
    assert find_data_dir() == d
    _same(load_fashion_mnist(download=False), full)


def test_env_var_with_decompressed_copies(full, raw_dir, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(raw_dir))
    assert find_data_dir() == raw_dir
    _same(load_fashion_mnist(download=False), full)


def test_data_dir_argument_wins_over_env_var(full, raw_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "elsewhere"))
    assert find_data_dir(raw_dir) == raw_dir
    _same(load_fashion_mnist(raw_dir, subset=50), [a[:50] for a in full])


def test_given_dir_missing_a_file_is_an_error_not_a_fallback(raw_dir, tmp_path, monkeypatch):
    d = tmp_path / "partial"
    d.mkdir()
    for n in NAMES[:3]:
        (d / n).symlink_to(raw_dir / n)
    monkeypatch.setenv("FASHION_MNIST_DIR", str(d))
    assert find_data_dir() is None
    with pytest.raises(DataError, match=r"lacks t10k-labels-idx1-ubyte\[\.gz\].*FASHION_MNIST_DIR"):
        load_fashion_mnist()


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"])
def test_flipped_byte_is_reported(raw_dir, tmp_path, name):
    raw = (raw_dir / name).read_bytes()
    d = _dir_with(tmp_path, raw_dir, name, _flip(raw, len(raw) - 1))  # a pixel / a label (9 -> 8)
    with pytest.raises(DataError) as info:
        load_fashion_mnist(d, download=False)
    msg = str(info.value)
    assert str(d / name) in msg
    assert "SHA-256 of decompressed content is " in msg and f"expected {SHA[name]}" in msg


def test_bad_magic_number_is_reported(raw_dir, tmp_path):
    name = "train-labels-idx1-ubyte"
    d = _dir_with(tmp_path, raw_dir, name, _flip((raw_dir / name).read_bytes(), 3))
    with pytest.raises(DataError, match=rf"{name}: IDX magic number is 2048, expected 2049"):
        load_fashion_mnist(d, download=False)


def test_truncated_decompressed_file_is_reported(raw_dir, tmp_path):
    name = "train-images-idx3-ubyte"
    d = _dir_with(tmp_path, raw_dir, name, (raw_dir / name).read_bytes()[:-784])
    with pytest.raises(DataError, match=rf"{name}: truncated: .* 47039232 bytes, expected 47040016"):
        load_fashion_mnist(d, download=False)


def test_truncated_gzip_file_is_reported(raw_dir, tmp_path):
    name = "t10k-images-idx3-ubyte"
    gz = (DEBIAN / f"{name}.gz").read_bytes()
    d = _dir_with(tmp_path, raw_dir, name, gz[: len(gz) // 2], suffix=".gz")
    with pytest.raises(DataError, match=rf"{name}\.gz: not a valid gzip file"):
        load_fashion_mnist(d, download=False)


def test_corrupt_file_in_debian_dir_is_reported_not_downloaded(raw_dir, tmp_path, monkeypatch):
    name = "t10k-labels-idx1-ubyte"
    d = _dir_with(tmp_path, raw_dir, name, _flip((raw_dir / name).read_bytes(), 100))
    monkeypatch.setattr(data, "DEBIAN_DIR", d)
    with pytest.raises(DataError, match=f"{name}: SHA-256"):
        load_fashion_mnist(cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_checksum_computed_once_per_file_version(raw_dir, tmp_path, monkeypatch):
    name = "train-labels-idx1-ubyte"
    d = _dir_with(tmp_path, raw_dir, name, (raw_dir / name).read_bytes())
    hashed = []
    real_sha256 = data.hashlib.sha256
    monkeypatch.setattr(data.hashlib, "sha256", lambda b: hashed.append(len(b)) or real_sha256(b))
    load_fashion_mnist(d, subset=10)
    load_fashion_mnist(d, subset=10)
    assert hashed == [60008]  # the three symlinked files were verified before; this one only once
    st = (d / name).stat()
    os.utime(d / name, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a new version of the file
    load_fashion_mnist(d, subset=10)
    assert hashed == [60008, 60008]


# --- download into the cache --------------------------------------------------------------------------

def test_download_fills_empty_cache(full, mirror, tmp_path):
    cache = tmp_path / "cache"
    assert find_data_dir(cache_dir=cache) is None
    _same(load_fashion_mnist(cache_dir=cache, progress=False), full)
    assert _leftovers(cache) == sorted(f"{n}.gz" for n in NAMES)
    for n in NAMES:
        assert (cache / f"{n}.gz").read_bytes() == (mirror / f"{n}.gz").read_bytes()
    assert find_data_dir(cache_dir=cache) == cache
    _same(load_fashion_mnist(cache_dir=cache, download=False), full)


def test_download_default_cache_location_and_progress_bar(mirror, tmp_path, capsys):
    load_fashion_mnist(subset=5, progress=True)
    cache = tmp_path / "xdg-cache" / "softmax-course" / "fashion-mnist"
    assert find_data_dir() == cache
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_cached_file_is_refetched(full, mirror, tmp_path, damage):
    cache = tmp_path / "cache"
    load_fashion_mnist(cache_dir=cache, subset=1, progress=False)
    cached = cache / "t10k-labels-idx1-ubyte.gz"
    raw = gzip.decompress(cached.read_bytes())
    cached.write_bytes(gzip.compress(_flip(raw, 500) if damage == "flip" else raw[:-1]))
    st = cached.stat()
    os.utime(cached, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # as if modified later
    expected = r"no usable Fashion-MNIST.*t10k-labels-idx1-ubyte\.gz: (SHA-256|truncated)"
    with pytest.raises(DataError, match=expected):
        load_fashion_mnist(cache_dir=cache, download=False)
    _same(load_fashion_mnist(cache_dir=cache, progress=False), full)
    assert cached.read_bytes() == (mirror / "t10k-labels-idx1-ubyte.gz").read_bytes()
    assert _leftovers(cache) == sorted(f"{n}.gz" for n in NAMES)


def test_missing_remote_file_leaves_nothing(mirror, tmp_path):
    (mirror / "t10k-images-idx3-ubyte.gz").unlink()
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=r"could not download .*t10k-images-idx3-ubyte\.gz.*apt-get install "
                                        r"dataset-fashion-mnist"):
        load_fashion_mnist(cache_dir=cache, progress=False)
    assert _leftovers(cache) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def test_corrupt_download_is_rejected_and_not_kept(mirror, tmp_path):
    name = "train-labels-idx1-ubyte"
    raw = gzip.decompress((DEBIAN / f"{name}.gz").read_bytes())
    (mirror / f"{name}.gz").unlink()
    (mirror / f"{name}.gz").write_bytes(gzip.compress(_flip(raw, 8)))
    cache = tmp_path / "cache"
    expected = rf"download is corrupt: .*{name}\.gz: SHA-256 .* expected {SHA[name]}"
    with pytest.raises(DataError, match=expected):
        load_fashion_mnist(cache_dir=cache, progress=False)
    assert _leftovers(cache) == ["train-images-idx3-ubyte.gz"]


@pytest.mark.parametrize("error", [TimeoutError("The read operation timed out"), KeyboardInterrupt()])
def test_interrupted_download_leaves_no_partial_file(mirror, tmp_path, monkeypatch, error):
    real_urlopen = urllib.request.urlopen

    def dropping_urlopen(url, timeout):
        assert timeout == data.DOWNLOAD_TIMEOUT
        resp = real_urlopen(url, timeout=timeout)
        real_read, calls = resp.read, []

        def read(n):
            calls.append(n)
            if len(calls) > 2:
                raise error
            return real_read(n)
        resp.read = read
        return resp

    monkeypatch.setattr(data.urllib.request, "urlopen", dropping_urlopen)
    cache = tmp_path / "cache"
    expected = r"could not download .*train-images-idx3-ubyte\.gz.*timed out"
    with pytest.raises(DataError if isinstance(error, OSError) else KeyboardInterrupt,
                       match=expected if isinstance(error, OSError) else None):
        load_fashion_mnist(cache_dir=cache, progress=False)
    assert _leftovers(cache) == []


def test_nothing_found_without_download_explains_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian-package")
    cache = tmp_path / "cache"
    assert find_data_dir(cache_dir=cache) is None
    with pytest.raises(DataError) as info:
        load_fashion_mnist(cache_dir=cache, download=False)
    msg = str(info.value)
    for needle in ("FASHION_MNIST_DIR", str(tmp_path / "no-debian-package"), str(cache),
                   "apt-get install dataset-fashion-mnist", "download=True"):
        assert needle in msg
    assert not cache.exists()
