"""The Linux system calls the grading sandbox is made of (ctypes over the C library, libseccomp's binding):
namespaces, mounts, prctl, capabilities, the session keyring and the seccomp filter. autograder/kernel/sandbox.py
decides what a kernel sees and in which order these run; this module only makes each call and turns a failure
into a SandboxError naming the step.
"""
from __future__ import annotations

import ctypes
import importlib
import importlib.util
import os
import struct

__all__ = ["SandboxError", "DENIED_SYSCALLS", "check", "prctl", "mount", "read_only", "unshare", "drop_privileges",
           "join_new_session_keyring", "filter_syscalls", "seccomp"]

NEWNS, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET = 0x20000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000
RDONLY, NOSUID, NODEV, NOEXEC, REMOUNT, BIND, REC, PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
KEPT = {os.ST_NOEXEC: 8, os.ST_NOATIME: 1024, os.ST_NODIRATIME: 2048, os.ST_RELATIME: 1 << 21}  # statvfs -> mount
STRICTATIME, DETACH = 1 << 24, 2
PDEATHSIG, DUMPABLE, CAPBSET_DROP, NO_NEW_PRIVS, CAP_AMBIENT, AMBIENT_CLEAR_ALL = 1, 4, 24, 38, 47, 4
NS_FLAGS = (NEWNS, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, 0x02000000)  # the last: CLONE_NEWCGROUP
#: Answered EPERM by the kernel's seccomp filter (besides clone with a namespace flag, and clone3 with ENOSYS,
#: since its flags are out of a filter's reach and the C library then falls back to clone).
DENIED_SYSCALLS = ("unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount",
                   "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "ptrace", "process_vm_readv",
                   "process_vm_writev", "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd")
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}

libc = ctypes.CDLL(None, use_errno=True)


class SandboxError(OSError):
    """A step of entering the sandbox failed; the message names the step and its path."""


def unshare(root: bool, uid: int, gid: int) -> None:
    """New namespaces for this process (the PID namespace for its next child); without root, a user
    namespace too, mapping our own uid and gid only."""
    check(libc.unshare(NEWNS | NEWNET | NEWPID | NEWIPC | NEWUTS | (0 if root else NEWUSER)), "unshare")
    if not root:  # a process that switched uids itself is not dumpable, and so may not write its own maps
        prctl(DUMPABLE, 1)
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)


def read_only(mountpoint: str) -> None:
    """Remount read-only, keeping the flags a user namespace may not change (nosuid, nodev, noexec, atime)."""
    kept = os.statvfs(mountpoint).f_flag
    flags = BIND | REMOUNT | RDONLY | NOSUID | NODEV | sum(ms for st, ms in KEPT.items() if kept & st)
    mount(None, mountpoint, None, flags | (0 if kept & (os.ST_NOATIME | os.ST_RELATIME) else STRICTATIME))


def drop_privileges(uid: int, gid: int, root: bool) -> None:
    """Empty every capability set (bounding and ambient too), switch to the kernel's uid, set no_new_privs."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        for cap in range(int(f.read()) + 1):
            prctl(CAPBSET_DROP, cap)
    if root:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    header = ctypes.create_string_buffer(struct.pack("Ii", 0x20080522, 0))  # _LINUX_CAPABILITY_VERSION_3
    data = ctypes.create_string_buffer(24)  # effective, permitted, inheritable: all empty
    check(libc.capset(header, data), "capset")
    prctl(CAP_AMBIENT, AMBIENT_CLEAR_ALL)
    prctl(NO_NEW_PRIVS, 1)


def join_new_session_keyring() -> None:
    """Join a new anonymous session keyring (keyctl KEYCTL_JOIN_SESSION_KEYRING, NULL): the grader's session
    keyring, and whatever the instructor's login put there, is no longer this process's."""
    binding = seccomp()
    keyctl = binding.resolve_syscall(binding.Arch.NATIVE, "keyctl")
    if libc.syscall(ctypes.c_long(keyctl), ctypes.c_long(1), ctypes.c_void_p(None)) < 0:
        check(-1, "keyctl(KEYCTL_JOIN_SESSION_KEYRING)")


def filter_syscalls() -> None:
    """Install the seccomp filter: DENIED_SYSCALLS and clone with a namespace flag fail with EPERM, clone3
    with ENOSYS (threads and forks fall back to clone), everything else is allowed. Needs no_new_privs."""
    binding = seccomp()
    rules = binding.SyscallFilter(binding.ALLOW)
    for name in DENIED_SYSCALLS:
        rules.add_rule(binding.ERRNO(1), name)
    for flag in NS_FLAGS:
        rules.add_rule(binding.ERRNO(1), "clone", binding.Arg(0, binding.MASKED_EQ, flag, flag))
    rules.add_rule(binding.ERRNO(38), "clone3")
    rules.load()


def seccomp():
    """libseccomp's Python API, loaded with this module, or SandboxError naming the fix."""
    if isinstance(_SECCOMP, str):
        raise SandboxError(38, f"seccomp: libseccomp's Python binding is unavailable ({_SECCOMP}); install the "
                               "instructor extra (pyseccomp) and the system's libseccomp2")
    return _SECCOMP


def _load_seccomp():
    """pyseccomp (PyPI: ctypes over libseccomp.so.2), else libseccomp's own binding (Debian's python3-seccomp,
    for a grader on the system's Python); the same API. A string says why neither loads. Loaded when this
    module is: a kernel's new root, or its uid, may not reach where the binding is installed."""
    try:
        if importlib.util.find_spec("pyseccomp") is not None:
            import pyseccomp
            return pyseccomp
        if importlib.util.find_spec("seccomp") is not None:
            return importlib.import_module("seccomp")
    except OSError as exc:  # the binding is there, libseccomp.so.2 is not
        return f"{type(exc).__name__}: {exc}"
    return "pyseccomp is not installed"


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda s: None if s is None else os.fsencode(s)  # noqa: E731
    result = libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data))
    check(result, f"mount {source or ''} on {target.removeprefix('/new') or '/'}")


def prctl(option: int, value: int = 0) -> None:
    check(libc.prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)),
          f"prctl({option})")


def check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise SandboxError(code, f"{what}: {os.strerror(code)}")


_SECCOMP = _load_seccomp()
