"""The kernel runner: one submission executed in a fresh, sandboxed kernel forked from a warm zygote, and the
executors (local threads, Dask) that move jobs and outcomes. The Linux system calls of the sandbox are in
``namespaces``; the memory cap of a kernel's process tree in ``memcap``."""
