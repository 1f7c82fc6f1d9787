"""Fixtures shared by the end-to-end tests: real cloudstord and cloudstor-shim
processes on temporary sockets and state, stopped by pid and cleaned up after
(no mounts, loop devices or processes are left behind)."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("CLOUDSTOR_BIN", os.path.join(ROOT, ".build", "debug"))


def binary(name):
    path = os.path.join(BIN, name)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built (set CLOUDSTOR_BIN or run make build)")
    return path


def free_port(host="127.0.0.1"):
    """A TCP port nothing listens on now, on host."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_socket(path, proc, log, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}:\n{read(log)}")
        if os.path.exists(path):
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(path)
                return
            except OSError:
                pass
            finally:
                s.close()
        time.sleep(0.05)
    raise RuntimeError(f"{path} did not appear:\n{read(log)}")


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def spawn(args, log, socket_path, env=None):
    """Starts a process logging to log and waits until it serves socket_path."""
    with open(log, "a") as logf:
        proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    wait_for_socket(socket_path, proc, log)
    return proc


def stop(proc, sig=signal.SIGTERM, timeout=20):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def mounts_under(prefix):
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split(" ")[4].replace("\\040", " ")
            if point.startswith(prefix):
                points.append(point)
    return points


def loops_backed_by(prefix):
    out = subprocess.run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"], capture_output=True, text=True).stdout
    found = []
    for line in out.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[1].strip().startswith(prefix):
            found.append(parts[0])
    return found


def cleanup_host(prefix):
    """Unmounts and detaches whatever a test left under prefix; returns what it found."""
    leaked = sorted(mounts_under(prefix), key=len, reverse=True)
    for point in leaked:
        subprocess.run(["umount", "-l", point], check=False)
    loops = loops_backed_by(prefix)
    for dev in loops:
        subprocess.run(["losetup", "-d", dev], check=False)
    return leaked, loops


class Daemon:
    def __init__(self, workdir, extra_args=(), node_id="test-node"):
        self.dir = workdir
        self.node_id = node_id
        self.socket = os.path.join(workdir, "d.sock")
        self.state = os.path.join(workdir, "state")
        self.log = os.path.join(workdir, "cloudstord.log")
        self.extra_args = list(extra_args)
        self.proc = None

    RESTORED = "restored the last run's volumes"

    def start(self):
        self.restores = read(self.log).count(self.RESTORED)
        self.proc = spawn(
            [binary("cloudstord"), "--socket", self.socket, "--state-dir", self.state, "--node-id", self.node_id,
             "--log-level", "debug", *self.extra_args], self.log, self.socket)
        return self

    def wait_restored(self, timeout=30):
        """Waits until this run has put back what the last one left: the daemon
        serves first, and mounts again what its ledger holds meanwhile."""
        deadline = time.monotonic() + timeout
        while read(self.log).count(self.RESTORED) <= self.restores:
            assert time.monotonic() < deadline, f"not restored after {timeout} s:\n{read(self.log)[-3000:]}"
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM):
        return stop(self.proc, sig) if self.proc else None

    def restart(self):
        self.stop()
        return self.start()

    def ctl(self, *args, check=True):
        """Runs cloudstorctl against this daemon; returns the CompletedProcess."""
        env = dict(os.environ, CLOUDSTOR_SOCKET=self.socket)
        result = subprocess.run([binary("cloudstorctl"), *args], env=env, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"cloudstorctl {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result


class Shim:
    """cloudstor-shim; `env` is the settings it shares with its daemon (the
    provider, the cluster root), which decide the Scope it tells Docker."""

    def __init__(self, workdir, daemon_socket, listen=None, env=None):
        self.socket = listen or os.path.join(workdir, "plugin.sock")
        self.log = os.path.join(workdir, "cloudstor-shim.log")
        self.daemon_socket = daemon_socket
        self.env = env or {}
        self.proc = None

    def start(self):
        env = {k: v for k, v in os.environ.items() if k not in ("CLOUDSTOR_PROVIDER", "CLOUDSTOR_CLUSTER_ROOT")}
        self.proc = spawn(
            [binary("cloudstor-shim"), "--listen", self.socket, "--service-socket", self.daemon_socket,
             "--log-level", "debug"], self.log, self.socket, env=dict(env, **self.env))
        return self

    def stop(self, sig=signal.SIGTERM):
        return stop(self.proc, sig) if self.proc else None


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=130):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class PluginClient:
    """Talks to the shim exactly as the Docker engine does: POST, a JSON body, the
    plugin Accept header, no Content-Type, one keep-alive connection."""

    ACCEPT = "application/vnd.docker.plugins.v1.2+json"

    def __init__(self, path):
        self.conn = UnixHTTPConnection(path)

    def raw(self, endpoint, body=b"", method="POST", headers=None):
        if isinstance(body, str):
            body = body.encode()
        hdrs = {"Accept": self.ACCEPT}
        hdrs.update(headers or {})
        self.conn.request(method, endpoint, body=body, headers=hdrs)
        resp = self.conn.getresponse()
        data = resp.read()
        return resp.status, resp.getheader("Content-Type"), data

    def call(self, name, payload):
        status, ctype, data = self.raw("/" + name, json.dumps(payload))
        return status, json.loads(data)

    def close(self):
        self.conn.close()


@pytest.fixture
def workdir():
    # Short paths: a unix socket path must fit in 108 bytes.
    path = tempfile.mkdtemp(prefix="cs-", dir="/tmp")
    yield path
    leaked, loops = cleanup_host(path)
    shutil.rmtree(path, ignore_errors=True)
    assert not leaked, f"test left mounts behind: {leaked}"
    assert not loops, f"test left loop devices behind: {loops}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report carries the tails of the logs in its workdir (daemon,
    shim), read before the workdir fixture deletes them: a failure seen once in CI
    can then be understood from its output alone."""
    outcome = yield
    report = outcome.get_result()
    workdir = getattr(item, "funcargs", {}).get("workdir")
    if not report.failed or not isinstance(workdir, str) or not os.path.isdir(workdir):
        return
    for root, _, files in sorted(os.walk(workdir)):
        for name in sorted(f for f in files if f.endswith(".log")):
            path = os.path.join(root, name)
            with open(path, errors="replace") as f:
                tail = f.read()[-8000:]
            report.sections.append((f"{os.path.relpath(path, workdir)} (tail)", tail))


@pytest.fixture
def daemon(workdir):
    d = Daemon(workdir).start()
    yield d
    rc = d.stop()
    assert rc == 0, f"cloudstord exited {rc} on SIGTERM:\n{read(d.log)}"


@pytest.fixture
def shim(workdir, daemon):
    s = Shim(workdir, daemon.socket).start()
    yield s
    rc = s.stop()
    assert rc == 0, f"cloudstor-shim exited {rc} on SIGTERM:\n{read(s.log)}"


@pytest.fixture
def plugin(shim):
    c = PluginClient(shim.socket)
    yield c
    c.close()


# grpc.health.v1 is not in proto/ (the daemon serves the standard one); Debian's
# grpc-proto package ships it, and this copy stands in where it is missing.
HEALTH_PROTO_SYSTEM = "/usr/share/grpc-proto/grpc/health/v1/health.proto"
HEALTH_PROTO = """syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse {
  enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
  ServingStatus status = 1;
}
service Health {
  rpc Check(HealthCheckRequest) returns (HealthCheckResponse);
  rpc Watch(HealthCheckRequest) returns (stream HealthCheckResponse);
}
"""


@pytest.fixture(scope="session")
def pb(tmp_path_factory):
    """Generates the Python stubs into a temporary directory and imports them."""
    from grpc_tools import protoc
    import importlib.resources

    out = tmp_path_factory.mktemp("stubs")
    extra = tmp_path_factory.mktemp("protos")
    # Not under grpc/...: that package name belongs to grpcio itself.
    (extra / "health_v1").mkdir()
    text = read(HEALTH_PROTO_SYSTEM) or HEALTH_PROTO
    (extra / "health_v1" / "health.proto").write_text(text)
    well_known = str(importlib.resources.files("grpc_tools") / "_proto")
    rc = protoc.main(["protoc", f"-I{os.path.join(ROOT, 'proto')}", f"-I{extra}", f"-I{well_known}",
                      f"--python_out={out}", f"--grpc_python_out={out}",
                      "cloudstor/v1/volume.proto", "health_v1/health.proto"])
    assert rc == 0, "protoc failed on proto/cloudstor/v1/volume.proto"
    sys.path.insert(0, str(out))
    try:
        from cloudstor.v1 import volume_pb2, volume_pb2_grpc
        from health_v1 import health_pb2, health_pb2_grpc
    finally:
        sys.path.remove(str(out))

    class Stubs:
        dir = str(out)
        v = volume_pb2
        vg = volume_pb2_grpc
        h = health_pb2
        hg = health_pb2_grpc
    return Stubs
