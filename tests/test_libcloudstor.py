"""libcloudstor, the C client library, end to end: built and installed into a
temporary prefix with `make install PREFIX=...`, a C test program compiled
against it through pkg-config and run against a live cloudstord (every call,
every error path, hostile input, 20,000 sequential calls, a daemon restart and
outage), the same under valgrind, the exported symbols, a ctypes example, and
a Python grpcio client plus cloudstorctl seeing the same volumes."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

import grpc
import pytest

from conftest import ROOT, binary, read

C_TEST = os.path.join(ROOT, "libcloudstor", "tests", "test_client.c")
EXAMPLE = os.path.join(ROOT, "libcloudstor", "examples", "volumes.py")
REUSE = "CLOUDSTOR_MAX_REQUESTS_PER_CONNECTION"


def run(cmd, env=None, timeout=600, check=True, **kw):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


class Installed:
    def __init__(self, prefix):
        self.prefix = prefix
        self.lib = os.path.join(prefix, "lib")
        self.env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(self.lib, "pkgconfig"), LD_LIBRARY_PATH=self.lib)
        self.env.pop(REUSE, None)
        self.test = os.path.join(prefix, "test_client")

    def pkg_config(self, *args):
        return run(["pkg-config", *args, "cloudstor"], env=self.env).stdout.split()

    def client(self, *args, reuse=None, check=True, timeout=600, prefix=()):
        env = dict(self.env)
        if reuse is not None:
            env[REUSE] = str(reuse)
        return run([*prefix, self.test, *args], env=env, check=check, timeout=timeout)


@pytest.fixture(scope="module")
def lib():
    """Builds and installs libcloudstor alone (its own Makefile: no Swift build)
    into a temporary prefix, then compiles the C test program against the
    installed copy, as a user would."""
    prefix = tempfile.mkdtemp(prefix="cs-lib-", dir="/tmp")
    try:
        run(["make", "-C", os.path.join(ROOT, "libcloudstor"), "--no-print-directory", "install", f"PREFIX={prefix}",
             f"BUILDDIR={os.path.join(prefix, 'build')}"], timeout=300)
        inst = Installed(prefix)
        flags = inst.pkg_config("--cflags", "--libs")
        run(["cc", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-Wall", "-Wextra", "-Werror", "-g", C_TEST,
             *flags, "-o", inst.test], env=inst.env)
        yield inst
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


@pytest.fixture(scope="module")
def pb():
    """Python grpcio stubs generated from proto/ into a temporary directory."""
    from grpc_tools import protoc
    import importlib.resources
    out = tempfile.mkdtemp(prefix="cs-stubs-", dir="/tmp")
    try:
        well_known = str(importlib.resources.files("grpc_tools") / "_proto")
        rc = protoc.main(["protoc", f"-I{os.path.join(ROOT, 'proto')}", f"-I{well_known}", f"--python_out={out}",
                          f"--grpc_python_out={out}", "cloudstor/v1/volume.proto"])
        assert rc == 0
        sys.path.insert(0, out)
        try:
            from cloudstor.v1 import volume_pb2, volume_pb2_grpc
        finally:
            sys.path.remove(out)
        yield volume_pb2, volume_pb2_grpc
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_installed_layout_and_exports(lib):
    for path in ["include/cloudstor.h", "lib/libcloudstor.so", "lib/libcloudstor.so.0", "lib/libcloudstor.a",
                 "lib/pkgconfig/cloudstor.pc"]:
        assert os.path.exists(os.path.join(lib.prefix, path)), path
    # One release: the library's version is the daemon's.
    version = run([binary("cloudstord"), "--version"]).stdout.strip()
    assert run(["pkg-config", "--modversion", "cloudstor"], env=lib.env).stdout.strip() == version
    so = os.path.join(lib.lib, "libcloudstor.so")
    assert "Library soname: [libcloudstor.so.0]" in run(["readelf", "-d", so]).stdout
    symbols = [line.split()[-1] for line in run(["nm", "-D", "--defined-only", so]).stdout.splitlines()]
    assert len(symbols) > 30
    assert [s for s in symbols if not s.startswith("cloudstor_")] == []
    # The static archive exports the API only, too (protobuf-c messages are local).
    archive = run(["nm", "--defined-only", "-g", os.path.join(lib.lib, "libcloudstor.a")]).stdout
    globals_ = [line.split()[-1] for line in archive.splitlines() if len(line.split()) == 3]
    assert globals_ and [s for s in globals_ if not s.startswith("cloudstor_")] == []
    header = read(os.path.join(lib.prefix, "include", "cloudstor.h"))
    assert "protobuf" not in header.replace("protobuf-c or", "") and "curl.h" not in header
    assert "Thread safety" in header


def test_every_call_and_20000_sequential_gets(lib, daemon):
    r = lib.client("all", daemon.socket, "20000")
    assert "20000 sequential Get calls" in r.stdout and r.stdout.endswith("all ok\n"), r.stdout
    print(r.stdout)


@pytest.mark.parametrize("reuse", [0, 50])
def test_every_call_on_reused_connections(lib, daemon, reuse):
    """Connection reuse forced on (libcurl 7.88 then fails every reused request
    without sending it, and the call is retried on a new connection)."""
    r = lib.client("all", daemon.socket, "1000", reuse=reuse)
    assert r.stdout.endswith("all ok\n"), r.stdout


def test_static_library(lib, daemon):
    exe = os.path.join(lib.prefix, "test_client_static")
    deps = run(["pkg-config", "--libs", "libprotobuf-c", "libcurl"]).stdout.split()
    run(["cc", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-Wall", "-Wextra", "-Werror", C_TEST,
         *lib.pkg_config("--cflags"), os.path.join(lib.lib, "libcloudstor.a"), *deps, "-o", exe])
    assert "libcloudstor" not in run(["ldd", exe]).stdout
    r = run([exe, "all", daemon.socket, "100"])
    assert r.stdout.endswith("all ok\n")


VALGRIND = ["valgrind", "-q", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect,possible",
            "--error-exitcode=1"]


@pytest.mark.parametrize("reuse", [None, 0])
def test_valgrind_finds_no_leak_or_invalid_access(lib, daemon, reuse):
    r = lib.client("all", daemon.socket, "300", reuse=reuse, prefix=VALGRIND, check=False)
    assert r.returncode == 0, f"valgrind exit {r.returncode}:\n{r.stdout}\n{r.stderr}"
    assert r.stdout.endswith("all ok\n")


def test_valgrind_on_daemon_down(lib, workdir):
    r = lib.client("down", os.path.join(workdir, "absent.sock"), prefix=VALGRIND, check=False)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"


@pytest.mark.parametrize("reuse", [None, 0])
def test_daemon_restarted_between_calls_and_down(lib, daemon, reuse):
    """A restart between two calls, then an outage and a return, on one client.
    With a kept connection (reuse=0) the restart leaves the client a dead pooled
    connection, which the next call must detect and replace. That variant kills
    the daemon: cloudstord's graceful shutdown waits for a client that holds an
    idle HTTP/2 connection without reading it (libcurl reads only during a
    call), so SIGTERM would hang."""
    env = dict(lib.env)
    sig = signal.SIGTERM
    if reuse is not None:
        env[REUSE] = str(reuse)
        sig = signal.SIGKILL
    proc = subprocess.Popen([lib.test, "restart", daemon.socket], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for step in ["restart", "stop", "start"]:
            line = proc.stdout.readline().strip()
            assert line == step, f"wanted {step!r}, got {line!r}: {proc.stderr.read() if proc.poll() is not None else ''}"
            if step == "restart":
                assert daemon.stop(sig) == (0 if sig == signal.SIGTERM else -sig)
                daemon.start()
            elif step == "stop":
                assert daemon.stop(sig) == (0 if sig == signal.SIGTERM else -sig)
            else:
                daemon.start()
            proc.stdin.write("go\n")
            proc.stdin.flush()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, f"{out}\n{err}"
        assert "restart ok" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_daemon_down_is_unavailable_at_once(lib, workdir):
    # No socket file at all.
    r = lib.client("down", os.path.join(workdir, "absent.sock"), timeout=10)
    assert "No such file or directory" in r.stdout
    # A socket file nobody listens on (a daemon that died without unlinking it).
    path = os.path.join(workdir, "dead.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    try:
        r = lib.client("down", path, timeout=10)
        assert "Connection refused" in r.stdout
    finally:
        s.close()


def test_a_peer_that_never_answers_times_out(lib, workdir):
    path = os.path.join(workdir, "mute.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(8)  # connections queue in the backlog; nothing is ever read or answered
    try:
        r = lib.client("timeout", path, timeout=10)
        assert "timed out after 300 ms" in r.stdout
    finally:
        s.close()


def test_ctypes_example(lib, daemon):
    env = dict(lib.env, CLOUDSTOR_LIBRARY=os.path.join(lib.lib, "libcloudstor.so.0"))
    r = run([sys.executable, EXAMPLE, "--socket", daemon.socket, "from-ctypes"], env=env, timeout=60)
    assert "created from-ctypes" in r.stdout and "volumes: from-ctypes" in r.stdout
    assert "removed from-ctypes" in r.stdout
    assert "from-ctypes" not in daemon.ctl("volume", "ls").stdout


def test_c_grpcio_and_cloudstorctl_see_the_same_volumes(lib, daemon, pb):
    v, vg = pb
    with grpc.insecure_channel("unix://" + daemon.socket) as channel:
        stub = vg.VolumesStub(channel)

        def grpc_names():
            return sorted(x.name for x in stub.List(v.ListRequest(), timeout=30).volumes)

        def c_names():
            return sorted(lib.client("list", daemon.socket).stdout.split()[:-2])  # drops "list ok"

        def ctl_names():
            return sorted(line.split()[0] for line in daemon.ctl("volume", "ls").stdout.splitlines()[1:] if line)

        lib.client("create", daemon.socket, "from-c")
        stub.Create(v.CreateRequest(name="from-grpcio", options={"backing": "shared"}), timeout=30)
        daemon.ctl("volume", "create", "from-ctl", "-o", "backing=shared")
        everything = ["from-c", "from-ctl", "from-grpcio"]
        assert c_names() == grpc_names() == ctl_names() == everything
        got = stub.Get(v.GetRequest(name="from-c"), timeout=30).volume
        assert got.backing == v.BACKING_SHARED

        # Each removes another's volume.
        lib.client("remove", daemon.socket, "from-grpcio")
        stub.Remove(v.RemoveRequest(name="from-ctl"), timeout=30)
        daemon.ctl("volume", "rm", "from-c")
        assert c_names() == grpc_names() == ctl_names() == []
        with pytest.raises(grpc.RpcError) as err:
            stub.Get(v.GetRequest(name="from-c"), timeout=30)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
