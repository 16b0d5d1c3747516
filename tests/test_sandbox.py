"""The grading sandbox (autograder/kernel/sandbox.py), proved from inside real sandboxed children.

Each check forks this test process, enters a sandbox in the child exactly as a forked kernel does, runs a
probe there and sends its findings back through a pipe; the host side is the oracle (what exists on the
machine, what a server outside receives). Run as root, the grader's usual case; the same isolation is also
checked for a grader that is not root (the child first becomes ``nobody``, then enters a user namespace).
"""
import base64
import ctypes
import dataclasses
import json
import os
import pickle
import queue
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import pytest
from jupyter_client import BlockingKernelClient
from jupyter_client.connect import write_connection_file

from autograder.kernel import sandbox
from autograder.kernel.sandbox import HOME, UID_BASE, WORKDIR, SandboxPolicy, default_readonly, enter_sandbox

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is built from Linux namespaces")

NOBODY = 65534
CAPS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


def in_sandbox(probe, policy, scratch, *, user=None, wait=True):
    """Run ``probe()`` in a sandbox entered by a forked child (first switched to uid ``user``, if given) and
    return what it returned (JSON), or with ``wait=False`` the child's pid and a function that returns it."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            if user is not None:
                os.setgroups([])
                os.setresgid(user, user, user)
                os.setresuid(user, user, user)
            enter_sandbox(policy, scratch, keep_fds=(write,))
            found = {"value": probe()}
        except BaseException:
            found = {"error": traceback.format_exc()}
        os.write(write, json.dumps(found).encode())
        os._exit(0)
    os.close(write)

    def result():
        with os.fdopen(read, "rb") as f:
            found = json.loads(f.read() or b'{"error": "the sandboxed child sent nothing"}')
        os.waitpid(pid, 0)
        if "error" in found:
            pytest.fail("inside the sandbox:\n" + found["error"])
        return found["value"]
    return result() if wait else (pid, result)


def status_of(pid="self"):
    """A process's capability sets, no_new_privs flag and uids from /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.rstrip("\n").split(":\t", 1) for line in f)
    return {name: fields[name] for name in (*CAPS, "NoNewPrivs", "Uid", "Gid", "Groups", "PPid")}


def write_fails(path):
    try:
        with open(os.path.join(path, "sandbox-probe-write"), "w"):
            return False
    except OSError:
        return True


@pytest.fixture(scope="module")
def sandbox_available():
    problem = sandbox.sandbox_problem()
    if problem and not os.environ.get("CI"):
        pytest.skip(problem)
    assert problem is None, problem  # CI runs as root on Linux: the sandbox must work there


@pytest.fixture
def world(sandbox_available):
    """A grading machine in miniature, outside /tmp and traversable by any uid: the scratch folder of the
    submission, the kernel's own socket folder, the course (gradebook, solutions, source, other students)
    and another kernel's scratch folder."""
    root = Path(tempfile.mkdtemp(prefix="sandbox-test-", dir="/var/tmp"))
    root.chmod(0o755)
    for folder in ("scratch", "kernel", "other-scratch", "course/solutions/ps1", "course/source/ps1",
                   "course/submitted/bob/ps1", "shown/solutions", "shown/pkg/sandboxprobe"):
        (root / folder).mkdir(parents=True)
    (root / "scratch/softmax.ipynb").write_text("{}")
    (root / "scratch/data.csv").write_text("1,2\n")
    (root / "course/gradebook.db").write_text("grades")
    (root / "course/solutions/ps1/softmax.ipynb").write_text("answers")
    (root / "other-scratch/secret.txt").write_text("someone else's work")
    (root / "shown/solutions/answers.py").write_text("ANSWER = 42\n")
    (root / "shown/pkg/sandboxprobe/__init__.py").write_text("VALUE = 'imported inside'\n")
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield root
    shutil.rmtree(root)


def policy_for(world, **changes):
    return SandboxPolicy(**{"keep": (str(world / "kernel"),), **changes})


def ways_through_tmp(*paths) -> list[str]:
    """What a private /tmp must show: the first folder on the way to each shown path under /tmp (a checkout
    or virtualenv in /tmp is shown read-only at its own place), nothing else."""
    tmp = os.path.realpath("/tmp")
    return sorted({Path(os.path.realpath(p)).relative_to(tmp).parts[0] for p in paths
                   if os.path.realpath(p).startswith(tmp + os.sep)})


def test_sandbox_problem_names_cause_and_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "platform", "darwin")
    message = sandbox.sandbox_problem.__wrapped__()
    assert "Linux" in message and "--no-sandbox" in message
    monkeypatch.setattr(sys, "platform", "linux")
    switch = tmp_path / "unprivileged_userns_clone"
    switch.write_text("0\n")
    monkeypatch.setattr(sandbox, "_USERNS_SWITCHES", ((str(switch), "0", "sudo sysctl -w kernel.x=1"),))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    message = sandbox.sandbox_problem.__wrapped__()
    assert "sudo sysctl -w kernel.x=1" in message and str(switch) in message
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    failed = subprocess.CompletedProcess([], 1, "", "SandboxError: [Errno 1] unshare: Operation not permitted\n")
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: failed)
    message = sandbox.sandbox_problem.__wrapped__()
    assert "unshare: Operation not permitted" in message and "CAP_SYS_ADMIN" in message and "--no-sandbox" in message


def test_default_view_holds_the_python_environment_but_not_the_repository():
    shown = default_readonly()
    assert sys.prefix in shown and sys.base_prefix in shown
    repo = Path(sandbox.__file__).resolve().parents[2]
    assert str(repo / "course_utils") in shown and str(repo) not in shown


@pytest.mark.slow  # enters a sandbox
def test_view_is_the_allow_list_only(world):
    marker = Path(tempfile.mkdtemp(prefix="host-tmp-marker-"))  # in the machine's /tmp
    home = Path.home()
    hidden = [world / "course", world / "course/gradebook.db", world / "other-scratch", world / "shown", marker,
              *(home / name for name in os.listdir(home))]
    shown = set(default_readonly())
    course_fd = os.open(world / "course", os.O_RDONLY)  # a folder outside, open in the process that forks

    def probe():
        try:
            leak = os.listdir(course_fd)
        except OSError as exc:
            leak = type(exc).__name__
        return {"leak": leak, "cwd": os.getcwd(), "files": sorted(os.listdir(".")), "tmp": os.listdir("/tmp"),
                "shm": os.listdir("/dev/shm"), "root": sorted(os.listdir("/")),
                "visible": [str(p) for p in hidden if os.path.lexists(p)],
                "env": {k: os.environ[k] for k in ("HOME", "TMPDIR", "MPLCONFIGDIR", "JUPYTER_RUNTIME_DIR")},
                "tempdir": tempfile.gettempdir()}

    try:
        found = in_sandbox(probe, policy_for(world), str(world / "scratch"))
    finally:
        marker.rmdir()
        os.close(course_fd)
    assert found["leak"] == "OSError", "an inherited descriptor of a folder outside is still open"
    assert found["cwd"] == WORKDIR and found["files"] == ["data.csv", "softmax.ipynb"]
    assert sorted(found["tmp"]) == ways_through_tmp(*shown)
    assert found["shm"] == [] and found["tempdir"] == "/tmp"
    # of the instructor's home, at most the way to a shown folder inside it (here pyenv's Python) is visible
    assert [p for p in found["visible"] if not any(s == p or s.startswith(p + "/") for s in shown)] == []
    tops = {p.split("/")[1] for p in shown | {str(world / "kernel")}} | {"proc", "dev", "tmp", "home"}
    assert set(found["root"]) <= tops
    assert found["env"]["HOME"] == HOME and found["env"]["TMPDIR"] == "/tmp"
    assert all(v.startswith(HOME + "/") for k, v in found["env"].items() if k not in ("HOME", "TMPDIR"))


@pytest.mark.slow  # enters a sandbox
def test_hidden_paths_inside_a_shown_tree_are_empty(world):
    policy = policy_for(world, readonly=(*default_readonly(), str(world / "shown")),
                        hide=(str(world / "shown/solutions"),))

    def probe():
        sys.modules.pop("sandboxprobe", None)
        import sandboxprobe  # a package of the shown tree, imported fresh inside
        return {"solutions": os.listdir(world / "shown/solutions"), "pkg": sandboxprobe.VALUE}

    sys.path.insert(0, str(world / "shown/pkg"))
    try:
        found = in_sandbox(probe, policy, str(world / "scratch"))
    finally:
        sys.path.remove(str(world / "shown/pkg"))
    assert found == {"solutions": [], "pkg": "imported inside"}


@pytest.mark.slow  # enters a sandbox
def test_system_and_python_environment_read_only_but_importable(world):
    import course_utils
    import numpy
    readonly = ["/usr", "/etc", sys.prefix, sys.base_prefix, os.path.dirname(numpy.__file__),
                os.path.dirname(course_utils.__file__), "/", "/home", str(world / "kernel/..")]
    script = ("import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt, numpy, sympy, course_utils\n"
              "plt.plot([0, 1], [1, 0]); plt.savefig('plot.png'); print(sympy.diff(sympy.exp(sympy.Symbol('x'))))\n"
              "from multiprocessing import Pool\n"
              "if __name__ == '__main__':\n    print(Pool(2).map(abs, [-1, -2]))")

    def probe():
        run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        return {"refused": [p for p in readonly if write_fails(p)], "out": run.stdout, "err": run.stderr[-3000:],
                "plot": os.path.getsize("plot.png") if os.path.exists("plot.png") else 0}

    found = in_sandbox(probe, policy_for(world), str(world / "scratch"))
    assert found["refused"] == readonly
    assert found["out"] == "exp(x)\n[1, 2]\n", found["err"]
    assert found["plot"] > 0  # written in the working directory


@pytest.mark.slow  # enters a sandbox
def test_nothing_a_kernel_writes_persists(world):
    name = f"sandbox-persist-{os.getpid()}"
    places = [WORKDIR, "/tmp", HOME, "/dev/shm", "/var/tmp"]

    def probe():
        written = []
        for place in places:
            try:
                Path(place, name).write_text("x")
                written.append(place)
            except OSError:
                pass
        Path("data.csv").write_text("changed")
        return written, sorted(os.listdir("."))

    written, listing = in_sandbox(probe, policy_for(world), str(world / "scratch"))
    assert written == [WORKDIR, "/tmp", HOME, "/dev/shm"] and listing == sorted(["data.csv", "softmax.ipynb", name])
    assert sorted(os.listdir(world / "scratch")) == ["data.csv", "softmax.ipynb"]  # the submission as it was
    assert (world / "scratch" / "data.csv").read_text() == "1,2\n"
    assert not [p for p in ("/tmp", "/dev/shm", "/var/tmp", os.path.expanduser("~"), str(world))
                if os.path.exists(os.path.join(p, name))]


@pytest.mark.slow  # enters a sandbox
def test_a_kernel_cannot_fill_the_disk(world):
    big = world / "scratch" / "big.bin"
    big.write_bytes(os.urandom(3 * 2**20))  # the submission's own files always fit, whatever their size
    big.chmod(0o644)

    def probe():
        own = len(Path("big.bin").read_bytes())
        written = 0
        try:
            with open("fill.bin", "wb") as f:
                for _ in range(64):
                    f.write(b"\0" * 2**20)
                    f.flush()
                    written += 2**20
        except OSError as exc:
            return own, written, exc.errno
        return own, written, None

    own, written, errno = in_sandbox(probe, policy_for(world, tmp_bytes=8 * 2**20), str(world / "scratch"))
    assert own == 3 * 2**20 and errno == 28  # ENOSPC
    assert 4 * 2**20 <= written <= 8 * 2**20
    assert not (world / "scratch" / "fill.bin").exists()


def _answer(server):
    try:
        conn, _ = server.accept()
        conn.sendall(b"pong")
        conn.close()
    except OSError:  # nobody came before the fixture closed the server
        pass


@pytest.fixture
def servers(world):
    """A TCP server on the machine's 127.0.0.1, a Unix socket server in the kernel's folder and one on an
    abstract address; each answers 'pong' to whoever connects."""
    tcp = socket.create_server(("127.0.0.1", 0))
    path = str(world / "kernel/server.sock")
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(path)
    os.chmod(path, 0o777)
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(f"\0sandbox-test-{os.getpid()}")
    for server in (tcp, unix, abstract):
        server.listen()
        threading.Thread(target=_answer, args=(server,), daemon=True).start()
    yield {"tcp": tcp.getsockname(), "unix": path, "abstract": abstract.getsockname()}
    for server in (tcp, unix, abstract):
        server.shutdown(socket.SHUT_RDWR)
        server.close()


def network_probe(addresses):
    def probe():
        found = {}
        for kind, family, address in (("tcp", socket.AF_INET, tuple(addresses["tcp"])),
                                      ("unix", socket.AF_UNIX, addresses["unix"]),
                                      ("abstract", socket.AF_UNIX, addresses["abstract"])):
            try:
                with socket.socket(family) as s:
                    s.settimeout(5)
                    s.connect(address)
                    found[kind] = s.recv(4).decode()
            except OSError as exc:
                found[kind] = type(exc).__name__
        return found
    return probe


@pytest.mark.slow  # enters a sandbox
def test_no_network_but_unix_sockets_in_kept_folder(world, servers):
    found = in_sandbox(network_probe(servers), policy_for(world), str(world / "scratch"))
    assert found["unix"] == "pong"
    assert found["tcp"] != "pong" and found["abstract"] != "pong"


@pytest.mark.slow  # enters a sandbox
def test_root_grader_runs_kernels_unprivileged_with_no_way_back(world):
    def probe():
        found = {"status": status_of(), "pid": os.getpid()}
        try:
            os.setuid(0)
            found["setuid"] = "allowed"
        except PermissionError:
            found["setuid"] = "refused"
        child = subprocess.run(["cat", "/proc/self/status"], capture_output=True, text=True).stdout
        found["child"] = [line for line in child.splitlines() if line.startswith(("Cap", "NoNewPrivs"))]
        found["unshare"] = ctypes.CDLL(None).unshare(0x20000)  # CLONE_NEWNS needs CAP_SYS_ADMIN
        found["owner"] = os.stat("data.csv").st_uid
        return found

    if os.geteuid() != 0:
        pytest.skip("checks the root grader's uid switch")
    found = in_sandbox(probe, policy_for(world), str(world / "scratch"))
    uid = int(found["status"]["Uid"].split()[0])
    assert uid >= UID_BASE and found["status"]["Uid"].split() == [str(uid)] * 4
    assert found["status"]["Gid"].split() == [str(uid)] * 4 and found["status"]["Groups"].strip() == ""
    assert all(int(found["status"][cap], 16) == 0 for cap in CAPS) and found["status"]["NoNewPrivs"] == "1"
    assert found["setuid"] == "refused" and found["unshare"] == -1 and found["pid"] == 2  # after its init
    assert sorted(found["child"]) == sorted(f"{cap}:\t0000000000000000" for cap in CAPS) + ["NoNewPrivs:\t1"]
    assert found["owner"] == uid  # its copy of the scratch folder was handed to the kernel
    assert (world / "scratch/data.csv").stat().st_uid == os.geteuid()  # the grader's files stay the grader's


@pytest.mark.slow  # enters a sandbox
def test_limits_are_applied_in_the_kernel_itself(world):
    with open("/proc/self/status") as f:  # the forked child starts with this process's address space
        size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    memory = size + 2**30
    policy = policy_for(world, memory_bytes=memory, max_processes=24)

    def probe():
        limits = [resource.getrlimit(r) for r in (resource.RLIMIT_AS, resource.RLIMIT_NPROC, resource.RLIMIT_CORE)]
        try:
            bytearray(2 * 2**30)
            memory = "allocated"
        except MemoryError:
            memory = "MemoryError"
        children = []
        try:
            for _ in range(100):
                pid = os.fork()
                if pid == 0:
                    time.sleep(60)
                    os._exit(0)
                children.append(pid)
            forks = "unlimited"
        except BlockingIOError:
            forks = "refused"
        return {"limits": limits, "memory": memory, "forks": forks, "children": len(children)}

    found = in_sandbox(probe, policy, str(world / "scratch"))
    assert found["limits"] == [[memory] * 2, [24, 24], [0, 0]]
    assert found["memory"] == "MemoryError" and found["forks"] == "refused" and found["children"] < 24


def _children(parent):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if status_of(pid)["PPid"] == str(parent):
                found.append(int(pid))
        except OSError:  # a process of the machine that has just exited
            pass
    return found


def _processes_with(marker):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            pass
    return found


@pytest.mark.slow  # enters a sandbox
def test_other_kernels_are_invisible_and_nothing_outlives_a_kernel(world):
    """Kernel A runs (and leaves a daemon behind that escaped its process group) while kernel B looks for it
    through /proc and signals; once A exits, nothing it started is left."""
    marker = f"{4000 + os.getpid() % 1000}.5"
    a_folder = world / "a-kernel"  # A's own kept folder: B cannot see it
    a_folder.mkdir(mode=0o755)
    release = a_folder / "release"

    def kernel_a():
        subprocess.Popen(["sleep", marker], start_new_session=True)
        while not release.exists():  # until B has looked
            time.sleep(0.02)
        return "done"

    a_pid, a_result = in_sandbox(kernel_a, policy_for(world, keep=(str(a_folder),)), str(world / "other-scratch"),
                                 wait=False)
    deadline = time.monotonic() + 30
    while not _processes_with(marker.encode()) and time.monotonic() < deadline:
        time.sleep(0.05)
    a_init = _children(a_pid)
    a_kernel = [pid for init in a_init for pid in _children(init)]
    a_processes = [int(p) for p in _processes_with(marker.encode())] + [a_pid] + a_init + a_kernel
    assert len(a_processes) == 4, "kernel A, its init, its supervisor and its daemon"
    a_uid = int(status_of(a_kernel[0])["Uid"].split()[0])

    def kernel_b():
        found = {"proc": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()), "reached": [],
                 "uid": os.getuid()}
        for pid in a_processes:
            for entry in ("root", "cwd", "environ"):
                if os.path.lexists(f"/proc/{pid}/{entry}"):
                    found["reached"].append(f"/proc/{pid}/{entry}")
            try:
                os.kill(pid, 0)
                found["reached"].append(f"kill {pid}")
            except ProcessLookupError:
                pass
        return found

    try:
        found = in_sandbox(kernel_b, policy_for(world), str(world / "scratch"))
    finally:
        release.write_text("")
    assert a_result() == "done"
    assert (found["proc"], found["reached"]) == ([1, 2], [])  # B's init and B
    assert found["uid"] != a_uid or os.geteuid() != 0, "two kernels of a root grader share a uid"
    deadline = time.monotonic() + 30
    while _processes_with(marker.encode()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_with(marker.encode()) == [], "a process the kernel started outlived it"


WARM_PROCESS = """\
import base64, os, pickle, sys
import numpy, matplotlib.pyplot, sympy, course_utils  # imported once, as the zygote does
from ipykernel.kernelapp import launch_new_instance
from autograder.kernel.sandbox import enter_sandbox
policy, scratch, connection = pickle.loads(base64.b64decode(sys.argv[1]))
if os.fork() == 0:
    enter_sandbox(policy, scratch)
    sys.argv = ["ipykernel_launcher", "-f", connection]
    launch_new_instance()
    os._exit(0)
os.wait()
"""


def _wait_until_ready(client, seconds=120):
    """Until the kernel answers kernel_info on the shell channel and its idle status arrives on IOPub (so
    no output is missed); the warm process imports for a while first, so there is no heartbeat yet."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        request = client.kernel_info()
        try:
            client.get_shell_msg(timeout=seconds)
            while True:
                msg = client.get_iopub_msg(timeout=1)
                if msg["parent_header"].get("msg_id") == request and msg["content"].get("execution_state") == "idle":
                    return
        except queue.Empty:
            pass
    raise TimeoutError("the sandboxed kernel never answered")


@pytest.mark.slow  # enters a sandbox
def test_ipykernel_starts_in_the_sandbox_and_runs_the_course_stack(world, tmp_path):
    """A real IPython kernel forked from a warm process (as the zygote makes them) and sandboxed, driven
    from outside over its Unix sockets in the kept folder."""
    connection = str(world / "kernel/kernel.json")
    write_connection_file(connection, transport="ipc", ip=str(world / "kernel/s"), key=os.urandom(16).hex().encode())
    spec = base64.b64encode(pickle.dumps((policy_for(world), str(world / "scratch"), connection))).decode()
    with open(tmp_path / "kernel.log", "w") as log:
        warm = subprocess.Popen([sys.executable, "-c", WARM_PROCESS, spec], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)
    client = BlockingKernelClient(connection_file=connection)
    client.load_connection_file()
    client.start_channels()
    printed, reply = [], None
    try:
        _wait_until_ready(client)
        reply = client.execute_interactive(
            "import os, numpy as np, matplotlib, matplotlib.pyplot as plt, sympy, course_utils\n"
            "plt.plot(np.arange(3)); plt.savefig('kernel-plot.png')\n"
            "os.makedirs(os.environ['MPLCONFIGDIR'], exist_ok=True)\n"
            "print(os.getcwd(), os.environ['MPLCONFIGDIR'], os.getuid() != 0, sympy.Rational(1, 3) * 3,\n"
            "      os.path.getsize('kernel-plot.png') > 0)",
            timeout=60, output_hook=lambda msg: printed.append(msg["content"].get("text", "")))
        client.shutdown()
    except TimeoutError:  # reported below with the kernel's log
        pass
    finally:
        client.stop_channels()
        if reply is None:  # the kernel never answered: its supervisor and it die with the warm process
            warm.kill()
        warm.wait(60)
    assert reply is not None, (tmp_path / "kernel.log").read_text()
    assert reply["content"]["status"] == "ok", reply["content"]
    assert "".join(printed).split() == [WORKDIR, HOME + "/.config/matplotlib", "True", "1", "True"]


@pytest.mark.slow  # enters a sandbox
def test_grader_that_is_not_root_gets_the_same_isolation(world, servers):
    """Under a root grader the child first becomes ``nobody`` (so this machine's root-only Python folder is not
    shown: the probe uses modules already imported, and a package of its own); under a grader that is not root
    it stays who it is. Then it enters a user namespace. (A grader process that was never root:
    test_an_unprivileged_grader_process_sandboxes_its_kernels.)"""
    user = NOBODY if os.geteuid() == 0 else None
    for switch, forbidden, fix in sandbox._USERNS_SWITCHES:
        if os.path.exists(switch) and Path(switch).read_text().strip() == forbidden:
            pytest.skip(f"this machine forbids user namespaces to non-root users ({switch}; {fix})")
    for path in [world / "scratch", *(world / "scratch").iterdir(), world / "kernel"] if user else ():
        os.chown(path, NOBODY, NOBODY)
    policy = policy_for(world, readonly=("/usr", "/bin", "/lib", "/lib64", "/etc", str(world / "shown/pkg")))
    probe_network = network_probe(servers)

    def probe():
        sys.path.insert(0, str(world / "shown/pkg"))
        sys.modules.pop("sandboxprobe", None)
        import sandboxprobe
        Path("result.txt").write_text("written")
        return {"status": status_of(), "pid": os.getpid(), "proc": [p for p in os.listdir("/proc") if p.isdigit()],
                "tmp": os.listdir("/tmp"), "files": sorted(os.listdir(".")), "pkg": sandboxprobe.VALUE,
                "hidden": [p for p in ("/root", str(world / "course"), str(world / "other-scratch")) if os.path.exists(p)],
                "refused": write_fails("/usr") and write_fails(str(world / "shown/pkg")),
                "network": probe_network()}

    found = in_sandbox(probe, policy, str(world / "scratch"), user=user)
    assert found["status"]["Uid"].split() == [str(user or os.geteuid())] * 4
    assert all(int(found["status"][cap], 16) == 0 for cap in CAPS) and found["status"]["NoNewPrivs"] == "1"
    assert (found["pid"], sorted(found["proc"]), found["tmp"]) == (2, ["1", "2"], [])
    assert found["files"] == ["data.csv", "result.txt", "softmax.ipynb"] and found["pkg"] == "imported inside"
    assert found["hidden"] == [] and found["refused"]
    assert found["network"]["unix"] == "pong" and "pong" not in (found["network"]["tcp"], found["network"]["abstract"])


@pytest.mark.slow  # enters a sandbox
def test_kept_folder_under_tmp_shows_only_the_way_to_it(world):
    kernel_dir = Path(tempfile.mkdtemp(prefix="kernels-"))
    try:
        found = in_sandbox(lambda: os.listdir("/tmp"), dataclasses.replace(policy_for(world), keep=(str(kernel_dir),)),
                           str(world / "scratch"))
    finally:
        kernel_dir.rmdir()
    assert sorted(found) == ways_through_tmp(kernel_dir, *default_readonly())


@pytest.mark.slow  # enters a sandbox
def test_a_submitted_symbolic_link_leads_nowhere(world):
    """A link in the scratch folder to a file of the machine: the file is not handed to the kernel's uid,
    and inside the link points into the sandbox's view, where the file does not exist."""
    target = world / "course/gradebook.db"
    (world / "scratch/grades").symlink_to(target)

    def probe():
        try:
            return Path("grades").read_text()
        except OSError as exc:
            return type(exc).__name__

    assert in_sandbox(probe, policy_for(world), str(world / "scratch")) == "FileNotFoundError"
    assert target.stat().st_uid == os.geteuid() and target.read_text() == "grades"


@pytest.mark.slow  # enters a sandbox
def test_ipykernel_would_not_take_the_kernel_s_init_for_a_dead_parent(world, monkeypatch):
    """The kernel's parent inside is its init (PID 1), which ipykernel's parent poller reads as "my parent
    exited": the sandbox drops JPY_PARENT_PID, so a kernel started there polls for nothing."""
    from ipykernel.kernelapp import IPKernelApp

    monkeypatch.setenv("JPY_PARENT_PID", str(os.getpid()))

    def probe():
        app = IPKernelApp(parent_handle=int(os.environ.get("JPY_PARENT_PID") or 0))
        app.init_poller()
        return {"ppid": os.getppid(), "env": os.environ.get("JPY_PARENT_PID"), "poller": app.poller is not None}

    assert in_sandbox(probe, policy_for(world), str(world / "scratch")) == {"ppid": 1, "env": None, "poller": False}


@pytest.mark.slow  # enters a sandbox
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_kernel_that_signals_itself_dies_as_it_would_outside(world, signum):
    """``os.kill(os.getpid(), 9)`` ends a sandboxed kernel at once (PID 1 of a namespace would ignore it:
    the kernel is PID 2, after a tiny init); its supervisor reports the death as 128 + the signal, and a
    daemon the kernel started is gone with it."""
    marker = f"{5000 + os.getpid() % 1000}.{signum}"
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            enter_sandbox(policy_for(world), str(world / "scratch"), keep_fds=(write,))
            subprocess.Popen(["sleep", marker], start_new_session=True)
            os.write(write, f"{os.getpid()}\n".encode())
            os.kill(os.getpid(), signum)
            time.sleep(20)
            os.write(write, b"survived its own signal\n")
        finally:
            os._exit(0)
    os.close(write)
    started = time.monotonic()
    with os.fdopen(read) as f:
        said = f.read().split("\n")
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    assert said == ["2", ""], said
    assert code == 128 + signum and time.monotonic() - started < 15
    deadline = time.monotonic() + 10
    while _processes_with(marker.encode()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_with(marker.encode()) == [], "the kernel's daemon outlived it"


def _python_for(uid: int) -> str | None:
    """An interpreter that user ``uid`` may run: this one if it may, else the system's python3, else None.
    (The sandbox module needs the standard library only.)"""
    for candidate in (sys.executable, shutil.which("python3", path="/usr/bin:/bin")):
        if candidate is None:
            continue
        # it must start itself again as that user (setpriv execs it before its capabilities are gone)
        probe = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", candidate, "-c",
                                "import ctypes, subprocess, sys; subprocess.run([sys.executable, '-c', ''], check=True)"],
                               capture_output=True)
        if probe.returncode == 0:
            return candidate
    return None


UNPRIVILEGED_GRADER = """\
import json, os, sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(sys.argv[1]))))
from autograder.kernel import sandbox
problem = sandbox.sandbox_problem.__wrapped__()
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(read)
    sandbox.enter_sandbox(sandbox.SandboxPolicy(readonly=("/usr", "/bin", "/lib", "/lib64", "/etc")), sys.argv[2],
                          keep_fds=(write,))
    status = dict(line.rstrip("\\n").split(":\\t", 1) for line in open("/proc/self/status"))
    os.write(write, json.dumps({"uid": status["Uid"].split(), "caps": [status[c] for c in sys.argv[3].split(",")],
                                "nnp": status["NoNewPrivs"], "pid": os.getpid(), "cwd": os.getcwd(),
                                "proc": sorted(p for p in os.listdir("/proc") if p.isdigit()),
                                "files": sorted(os.listdir(".")), "seen": [p for p in sys.argv[4:] if os.path.lexists(p)]
                                }).encode())
    os._exit(0)
os.close(write)
with os.fdopen(read) as f:
    inside = json.loads(f.read() or "null")
print(json.dumps({"problem": problem, "grader_uid": os.getuid(), "inside": inside,
                  "code": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}))
"""


@pytest.mark.slow  # enters a sandbox
def test_an_unprivileged_grader_process_sandboxes_its_kernels(world):
    """A grader process that was never root (started as ``nobody`` by setpriv under a root test run, as itself
    otherwise) finds the sandbox usable and its kernel isolated: the same uid, no capabilities, no_new_privs,
    PID 2 of its own namespace, the scratch folder as its working directory, the course invisible."""
    if os.geteuid() == 0:
        python = _python_for(NOBODY)
        if python is None:
            pytest.fail("no Python interpreter that nobody may run (install python3)")
        for path in [world / "scratch", *(world / "scratch").iterdir()]:
            os.chown(path, NOBODY, NOBODY)
        cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", python]
    else:
        cmd = [sys.executable]
    for switch, forbidden, fix in sandbox._USERNS_SWITCHES:
        if os.path.exists(switch) and Path(switch).read_text().strip() == forbidden:
            pytest.skip(f"this machine forbids user namespaces to non-root users ({switch}; {fix})")
    hidden = [str(world / "course"), str(world / "other-scratch"), "/root", str(Path(sandbox.__file__).parents[1])]
    copy = world / "grader"  # a copy the grader's uid can read, wherever this checkout lives (mode 700?)
    kernel_pkg = Path(sandbox.__file__).parent
    for rel in ("autograder/__init__.py", "autograder/kernel/__init__.py", "autograder/kernel/sandbox.py",
                "autograder/kernel/namespaces.py"):
        (copy / rel).parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        shutil.copyfile(kernel_pkg.parent.parent / rel, copy / rel)
    for path in [copy, *copy.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    module = copy / "autograder" / "kernel" / "sandbox.py"
    proc = subprocess.run([*cmd, "-c", UNPRIVILEGED_GRADER, str(module), str(world / "scratch"), ",".join(CAPS),
                           *hidden], capture_output=True, text=True, timeout=120, cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout)
    uid = found["grader_uid"]
    assert uid != 0 and found["problem"] is None and found["code"] == 0
    inside = found["inside"]
    assert inside is not None, "the sandboxed kernel sent nothing"
    assert inside["uid"] == [str(uid)] * 4 and all(int(c, 16) == 0 for c in inside["caps"]) and inside["nnp"] == "1"
    assert (inside["pid"], inside["proc"], inside["cwd"]) == (2, ["1", "2"], WORKDIR)
    assert inside["files"] == ["data.csv", "softmax.ipynb"] and inside["seen"] == []
