"""What the numbers were measured on: CPU, cores, load, BLAS and library versions."""
from __future__ import annotations

import os
import platform
from importlib import metadata

from benchmarks.common import optional, table


def _cpu_model() -> str:
    """Model name, family/model numbers and the widest vector extension, from /proc/cpuinfo."""
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor is enough
                key, _, value = line.partition(":")
                info[key.strip()] = value.strip()
    except OSError:
        return platform.processor() or platform.machine()
    flags = info.get("flags", "").split()
    vec = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return (f"{info.get('model name', platform.machine())} (family {info.get('cpu family', '?')}, "
            f"model {info.get('model', '?')}, {vec})")


def _memory() -> str:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        return f"{kib / 2**20:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        return "?"


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def _version(dist: str) -> str:
    name = dist.split("-")[0] if dist != "scikit-learn" else "sklearn"
    if optional(name.replace("-", "_")) is None:
        return "not installed"
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "installed (version unknown)"


def blas() -> list[str]:
    """One line per BLAS/OpenMP pool NumPy & co. loaded (threadpoolctl), else NumPy's build config."""
    import numpy as np

    tpc = optional("threadpoolctl")
    if tpc is not None:
        rows = []
        for info in tpc.threadpool_info():
            rows.append(f"{info.get('internal_api')} {info.get('version')} "
                        f"(kernel {info.get('architecture', '-')}, {info.get('num_threads')} threads, "
                        f"{os.path.basename(info.get('filepath', ''))})")
        return rows or ["threadpoolctl found no BLAS/OpenMP pool"]
    try:
        blas_cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return [f"{blas_cfg.get('name')} {blas_cfg.get('version')} (numpy.show_config; install "
                "threadpoolctl to see the kernel and thread count)"]
    except Exception:  # noqa: BLE001 - only informative
        return ["unknown (install threadpoolctl)"]


def report() -> str:
    """The machine section of the report, in Markdown."""
    import numpy as np

    one, five, fifteen = load()
    torch = optional("torch")
    torch_info = "not installed"
    if torch is not None:
        cap = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", lambda: "?")()
        torch_info = (f"{torch.__version__} (CPU capability {cap}, {torch.get_num_threads()} intra-op threads, "
                      f"MKL {'yes' if torch.backends.mkl.is_available() else 'no'}, "
                      f"oneDNN {'yes' if torch.backends.mkldnn.is_available() else 'no'})")
    rows = [
        ("CPU", _cpu_model()),
        ("cores available", f"{cores()} (os.cpu_count() = {os.cpu_count()})"),
        ("memory", _memory()),
        ("load average (1, 5, 15 min) at start", f"{one:.2f}, {five:.2f}, {fifteen:.2f}"),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()}), {platform.system()}"),
        ("numpy", np.__version__),
        ("BLAS (threadpoolctl)", "<br>".join(blas())),
        ("OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE",
         f"{os.environ.get('OPENBLAS_CORETYPE', 'unset')} / {os.environ.get('OPENBLAS_L2_SIZE', 'unset')}"),
        ("scipy", _version("scipy")),
        ("torch", torch_info),
        ("scikit-learn", _version("scikit-learn")),
        ("threadpoolctl", _version("threadpoolctl")),
        ("mpmath", _version("mpmath")),
    ]
    return table(["", ""], rows)
