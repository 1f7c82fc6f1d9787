"""End to end against a real Docker engine (issue 2).

The module starts its own dockerd (vfs storage driver, no bridge, no iptables,
its own data root, exec root and API socket), imports a one-binary image built
from Debian's busybox-static, and drives cloudstor-shim + cloudstord through
`docker volume …` and `docker run -v …` exactly as a user would.

Every engine on a host shares /run/docker/plugins, so each test serves the
plugin under a unique driver name (`cstest<hex>`) and removes its socket after.
Needs root (dockerd, loop devices, mounts); where something is missing the
tests fail with the reason rather than skip: CI runs them as root.
"""
import contextlib
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time

import pytest

from conftest import Daemon, Shim, UnixHTTPConnection, cleanup_host, loops_backed_by, mounts_under, read, stop

DOCKERD = "/usr/sbin/dockerd"
BUSYBOX = "/bin/busybox"
IMAGE = "cstest-busybox:latest"
PLUGIN_DIR = "/run/docker/plugins"
ETC_DOCKER = "/etc/docker"
ETC_KEY = os.path.join(ETC_DOCKER, "key.json")  # dockerd 20.10 writes its trust key there, whatever the flags


def docker_cli():
    for path in (shutil.which("docker"), "/usr/local/bin/docker", "/usr/bin/docker"):
        if path and os.access(path, os.X_OK):
            return path
    pytest.fail("no docker CLI found (install docker.io)")


class Engine:
    """A private dockerd and a CLI pointed at it."""

    def __init__(self, root):
        self.root = root
        self.sock = os.path.join(root, "d.sock")
        self.data_root = os.path.join(root, "root")
        self.exec_root = os.path.join(root, "x")
        self.pidfile = os.path.join(root, "d.pid")
        self.log = os.path.join(root, "dockerd.log")
        self.cli = docker_cli()
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")}
        self.env.update(DOCKER_HOST="unix://" + self.sock, DOCKER_CONFIG=os.path.join(root, "cli"),
                        DOCKER_CLI_HINTS="false")
        self.proc = None

    def start(self):
        if not os.access(DOCKERD, os.X_OK):
            pytest.fail(f"{DOCKERD} is missing (apt-get install docker.io)")
        config = os.path.join(self.root, "daemon.json")
        with open(config, "w") as f:
            f.write("{}\n")  # never pick up the host's /etc/docker/daemon.json
        logf = open(self.log, "a")
        self.proc = subprocess.Popen(
            [DOCKERD, "--config-file", config, "--data-root", self.data_root, "--exec-root", self.exec_root,
             "--pidfile", self.pidfile, "-H", "unix://" + self.sock, "--storage-driver", "vfs",
             "--bridge", "none", "--iptables=false", "--ip-masq=false"],
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        logf.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"dockerd exited with {self.proc.returncode} at start:\n{read(self.log)}")
            if self.ping():
                return self
            time.sleep(0.1)
        pytest.fail(f"dockerd did not answer /_ping on {self.sock} within 60 s:\n{read(self.log)}")

    def ping(self):
        if not os.path.exists(self.sock):
            return False
        conn = UnixHTTPConnection(self.sock, timeout=5)
        try:
            conn.request("GET", "/_ping")
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def containerd_pid(self):
        try:
            with open(os.path.join(self.exec_root, "containerd", "containerd.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        containerd = self.containerd_pid()
        rc = stop(self.proc, timeout=30) if self.proc else None
        # dockerd stops the containerd it supervises; make sure, by pid, that it did.
        if containerd and _is_ours(containerd, self.root):
            os.kill(containerd, signal.SIGTERM)
            for _ in range(100):
                if not _is_ours(containerd, self.root):
                    break
                time.sleep(0.1)
            else:
                os.kill(containerd, signal.SIGKILL)
        return rc

    def run(self, *args, check=True, timeout=120):
        result = subprocess.run([self.cli, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}:\n"
                                 f"stdout: {result.stdout}\nstderr: {result.stderr}")
        return result

    def container(self, *args, check=True):
        """docker run --network none IMAGE …"""
        opts, cmd = [], list(args)
        while cmd and cmd[0].startswith("-"):  # options come first, then the command
            opt = cmd.pop(0)
            opts.append(opt)
            if opt in ("-v", "--name", "--volume-driver"):
                opts.append(cmd.pop(0))
        return self.run("run", "--network", "none", *opts, IMAGE, *cmd, check=check)

    def remove_all_containers(self):
        ids = self.run("ps", "-aq").stdout.split()
        if ids:
            self.run("rm", "-f", *ids)
        return ids

    def remove_everything_of(self, driver):
        """Removes every container, then every volume of the driver (a test's teardown)."""
        self.remove_all_containers()
        for vol in self.run("volume", "ls", "-q", "--filter", "driver=" + driver).stdout.split():
            self.run("volume", "rm", "-f", vol, check=False)

    def wait_for_log(self, name, marker, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            logs = self.run("logs", name)
            if marker in logs.stdout:
                return logs.stdout
            state = json.loads(self.run("inspect", "--format", "{{json .State}}", name).stdout)
            if not state.get("Running"):
                raise AssertionError(f"container {name} stopped before printing {marker!r}: {state}\n"
                                     f"stdout: {logs.stdout}\nstderr: {logs.stderr}")
            time.sleep(0.1)
        raise AssertionError(f"container {name} did not print {marker!r} within {timeout} s")


def _is_ours(pid, root):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().decode(errors="replace")
    except OSError:
        return False
    return "containerd" in cmdline and root in cmdline


def build_image_tar(path):
    """A rootfs with the static busybox and a symlink per applet."""
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    with tarfile.open(path, "w") as tar:
        for d in ("bin", "tmp", "data"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755 if d != "tmp" else 0o1777
            tar.addfile(info)
        tar.add(BUSYBOX, "bin/busybox")
        for applet in applets:
            if applet == "busybox":
                continue
            info = tarfile.TarInfo("bin/" + applet)
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)


@contextlib.contextmanager
def etc_docker_kept():
    """Takes away, afterwards, the /etc/docker/key.json (and /etc/docker) that dockerd
    20.10 writes whatever its flags, unless the machine had them before."""
    had_etc_docker, had_key = os.path.isdir(ETC_DOCKER), os.path.exists(ETC_KEY)
    try:
        yield
    finally:
        if not had_key and os.path.exists(ETC_KEY):
            os.unlink(ETC_KEY)
        if not had_etc_docker:
            try:
                os.rmdir(ETC_DOCKER)
            except OSError:
                pass


@contextlib.contextmanager
def running_engine():
    """A started private engine with the test image imported; stopped by pid after,
    leaving no containers, mounts or loop devices."""
    if os.geteuid() != 0:
        pytest.fail("the Docker end-to-end tests need root (dockerd, loop devices, mounts)")
    if subprocess.run(["dpkg", "-s", "busybox-static"], capture_output=True).returncode != 0 \
            or not os.access(BUSYBOX, os.X_OK):
        pytest.fail("busybox-static is not installed (apt-get install busybox-static)")
    root = tempfile.mkdtemp(prefix="cse-", dir="/tmp")  # short: containerd's socket lives below
    eng = Engine(root)
    with etc_docker_kept():
        try:
            eng.start()
            tar = os.path.join(root, "busybox.tar")
            build_image_tar(tar)
            eng.run("import", "-c", "ENV PATH=/bin", tar, IMAGE)
            out = eng.container("--rm", "sh", "-c", "echo alive").stdout
            assert out.strip() == "alive", f"a plain container does not run: {out!r}\n{read(eng.log)}"
            yield eng
            assert not eng.run("ps", "-aq").stdout.split(), "a test left containers behind"
        finally:
            rc = eng.stop()
            leaked, loops = cleanup_host(root)
            shutil.rmtree(root, ignore_errors=True)
    assert rc == 0, f"dockerd exited {rc} on SIGTERM"
    assert not leaked, f"dockerd left mounts behind: {leaked}"
    assert not loops, f"dockerd left loop devices behind: {loops}"


@pytest.fixture(scope="module")
def engine():
    with running_engine() as eng:
        yield eng


@pytest.fixture(scope="module")
def engine_b():
    """A second engine: another node of the cluster, for shared volumes."""
    with running_engine() as eng:
        yield eng


@pytest.fixture(scope="module")
def driver_name():
    # One name per module: the engine keeps every driver it has ever looked up and
    # asks each of them (for ~15 s if its socket is gone) on every `docker volume ls`.
    return "cstest" + secrets.token_hex(4)


@pytest.fixture
def driver(engine, driver_name, workdir, daemon):
    """A cloudstor-shim, on this test's daemon, served to the engine under the module's
    unique driver name; yields the name. Teardown removes this test's containers and
    volumes before the daemon stops and the workdir fixture checks for leaked mounts and
    loop devices."""
    name = driver_name
    sock = os.path.join(PLUGIN_DIR, name + ".sock")
    shim = Shim(workdir, daemon.socket, listen=sock).start()
    try:
        yield name
    finally:
        try:
            engine.remove_everything_of(name)
        finally:
            rc = shim.stop()
            for path in (sock, sock + ".lock"):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
    # A plugin is stopped while the engine runs (Ctrl-C of `make run`, `docker plugin
    # disable`), and the engine keeps an idle keep-alive connection open to it.
    assert rc != -signal.SIGKILL, ("cloudstor-shim did not exit within 20 s of SIGTERM while the Docker "
                                   f"engine held a keep-alive connection (killed):\n{read(shim.log)}")
    assert rc == 0, f"cloudstor-shim exited {rc} on SIGTERM:\n{read(shim.log)}"


def ctl_inspect(daemon, name):
    return json.loads(daemon.ctl("volume", "inspect", name).stdout)


def ctl_names(daemon):
    return [v["name"] for v in json.loads(daemon.ctl("volume", "ls", "--json").stdout)]


def wait_unmounted(daemon, name, timeout=60):
    """The engine unmounts a volume when the container exits; `docker rm -f` may return
    just before that Unmount reaches the plugin."""
    deadline = time.monotonic() + timeout
    while True:
        vol = ctl_inspect(daemon, name)
        if vol["status"]["state"] == "VOLUME_STATE_CREATED" or time.monotonic() > deadline:
            return vol
        time.sleep(0.1)


def assert_nothing_mounted(daemon, workdir, name):
    vol = wait_unmounted(daemon, name)
    assert vol["status"]["state"] == "VOLUME_STATE_CREATED", vol
    assert vol["status"].get("mount_count", 0) == 0, vol
    assert mounts_under(workdir) == [], "volume still mounted on the host"
    assert loops_backed_by(workdir) == [], "loop device still attached"


def test_create_ls_inspect(engine, driver, daemon):
    out = engine.run("volume", "create", "-d", driver, "--opt", "size=1", "v1").stdout
    assert out.strip() == "v1"

    rows = engine.run("volume", "ls", "--format", "{{.Driver}} {{.Name}}").stdout.splitlines()
    assert f"{driver} v1" in rows

    [info] = json.loads(engine.run("volume", "inspect", "v1").stdout)
    assert info["Name"] == "v1"
    assert info["Driver"] == driver
    # No cluster root: the volume is this node's, and says so.
    assert info["Scope"] == "local"
    assert info["Status"]["Node"] == daemon.node_id
    assert info["Options"] == {"size": "1"}
    assert info["Status"]["Backing"] == "relocatable"
    assert info["Status"]["State"] == "created"
    assert info["Status"]["Options"]["size"] == "1"

    vol = ctl_inspect(daemon, "v1")
    assert vol["backing"] == "BACKING_RELOCATABLE"
    assert vol["options"]["size"] == "1"

    # Creating it again is a no-op, not an error.
    assert engine.run("volume", "create", "-d", driver, "--opt", "size=1", "v1").stdout.strip() == "v1"


def test_data_survives_the_container(engine, driver, daemon, workdir):
    engine.run("volume", "create", "-d", driver, "--opt", "size=1", "v1")
    out = engine.container("--rm", "-v", "v1:/data", "sh", "-c",
                           "grep ' /data ' /proc/mounts && echo hello-from-one > /data/f").stdout
    # The volume is the plugin's ext4 image, not the engine's own directory.
    assert " /data ext4 " in out, out
    assert_nothing_mounted(daemon, workdir, "v1")

    out = engine.container("--rm", "-v", "v1:/data", "cat", "/data/f").stdout
    assert out == "hello-from-one\n"
    assert_nothing_mounted(daemon, workdir, "v1")


def test_two_containers_at_once_then_rm(engine, driver, daemon, workdir):
    engine.run("volume", "create", "-d", driver, "--opt", "size=1", "v1")
    a, b = driver + "-a", driver + "-b"
    engine.container("-d", "--name", a, "-v", "v1:/data", "sh", "-c",
                     "echo from-a > /data/a && echo ready-a && exec sleep 600")
    engine.wait_for_log(a, "ready-a")
    engine.container("-d", "--name", b, "-v", "v1:/data", "sh", "-c",
                     "cat /data/a && echo from-b > /data/b && echo ready-b && exec sleep 600")
    logs = engine.wait_for_log(b, "ready-b")
    assert "from-a" in logs  # b sees what a wrote, while a still runs

    vol = ctl_inspect(daemon, "v1")
    assert vol["status"]["state"] == "VOLUME_STATE_MOUNTED", vol
    assert vol["status"].get("mount_count") == 2, vol
    out = engine.run("exec", a, "cat", "/data/b").stdout
    assert out == "from-b\n"

    engine.run("rm", "-f", a, b)
    assert_nothing_mounted(daemon, workdir, "v1")

    engine.run("volume", "rm", "v1")
    assert "v1" not in engine.run("volume", "ls", "-q").stdout.split()
    assert "v1" not in ctl_names(daemon)


def test_rm_of_a_volume_in_use_fails(engine, driver, daemon, workdir):
    engine.run("volume", "create", "-d", driver, "--opt", "size=1", "busy")
    c = driver + "-busy"
    engine.container("-d", "--name", c, "-v", "busy:/data", "sh", "-c", "echo up && exec sleep 600")
    engine.wait_for_log(c, "up")

    res = engine.run("volume", "rm", "busy", check=False)
    assert res.returncode != 0, res.stdout
    assert "in use" in res.stderr, res.stderr
    assert "busy" in ctl_names(daemon)
    assert ctl_inspect(daemon, "busy")["status"]["state"] == "VOLUME_STATE_MOUNTED"
    # Still usable by the running container.
    assert engine.run("exec", c, "sh", "-c", "echo ok > /data/x && cat /data/x").stdout == "ok\n"

    engine.run("rm", "-f", c)
    assert_nothing_mounted(daemon, workdir, "busy")
    engine.run("volume", "rm", "busy")
    assert "busy" not in ctl_names(daemon)


def test_shared_volume_seen_by_two_containers(engine, driver, daemon):
    engine.run("volume", "create", "-d", driver, "--opt", "backing=shared", "sv")
    [info] = json.loads(engine.run("volume", "inspect", "sv").stdout)
    assert info["Driver"] == driver
    assert info["Status"]["Backing"] == "shared"

    a, b = driver + "-sa", driver + "-sb"
    engine.container("-d", "--name", a, "-v", "sv:/data", "sh", "-c",
                     "echo shared-a > /data/a && echo ready-a && exec sleep 600")
    engine.wait_for_log(a, "ready-a")
    engine.container("-d", "--name", b, "-v", "sv:/data", "sh", "-c",
                     "cat /data/a && echo shared-b > /data/b && echo ready-b && exec sleep 600")
    assert "shared-a" in engine.wait_for_log(b, "ready-b")
    assert engine.run("exec", a, "cat", "/data/b").stdout == "shared-b\n"
    assert ctl_inspect(daemon, "sv")["status"].get("mount_count") == 2

    engine.run("rm", "-f", a, b)
    vol = wait_unmounted(daemon, "sv")
    assert vol["status"].get("mount_count", 0) == 0, vol
    # The data outlives both containers.
    assert engine.container("--rm", "-v", "sv:/data", "cat", "/data/a", "/data/b").stdout == "shared-a\nshared-b\n"
    engine.run("volume", "rm", "sv")
    assert "sv" not in ctl_names(daemon)


def test_a_shared_volume_on_two_nodes(engine, engine_b, driver, driver_name, daemon, workdir):
    """Two engines, each with its own cloudstord (node), on one shared root: what a
    container writes on one node the other's container reads, and the volume cannot
    be removed from one node while a container uses it on the other."""
    name_b = driver_name + "b"
    sock_b = os.path.join(PLUGIN_DIR, name_b + ".sock")
    node_b = Daemon(os.path.join(workdir, "b"), ["--shared-root", os.path.join(daemon.state, "shared")], node_id="node-b")
    os.makedirs(node_b.dir)
    node_b.start()
    shim_b = Shim(node_b.dir, node_b.socket, listen=sock_b).start()
    try:
        engine.run("volume", "create", "-d", driver, "--opt", "backing=shared", "both")
        engine_b.run("volume", "create", "-d", name_b, "--opt", "backing=shared", "both")
        rows = engine_b.run("volume", "ls", "--format", "{{.Driver}} {{.Name}}").stdout.splitlines()
        assert f"{name_b} both" in rows

        writer = driver + "-na"
        engine.container("-d", "--name", writer, "-v", "both:/data", "sh", "-c",
                         "echo from-node-a > /data/a && echo ready && exec sleep 600")
        engine.wait_for_log(writer, "ready")
        out = engine_b.container("--rm", "-v", "both:/data", "sh", "-c", "cat /data/a && echo from-node-b > /data/b").stdout
        assert out == "from-node-a\n"
        assert engine.run("exec", writer, "cat", "/data/b").stdout == "from-node-b\n"

        refused = engine_b.run("volume", "rm", "both", check=False)
        assert refused.returncode != 0 and "time(s) on test-node" in refused.stderr, refused
        engine.run("rm", "-f", writer)
        wait_unmounted(daemon, "both")
        engine_b.run("volume", "rm", "both")
        assert "both" not in ctl_names(daemon)
    finally:
        try:
            engine_b.remove_everything_of(name_b)
        finally:
            rc_shim, rc_node = shim_b.stop(), node_b.stop()
            for path in (sock_b, sock_b + ".lock"):
                if os.path.exists(path):
                    os.unlink(path)
    assert (rc_shim, rc_node) == (0, 0), f"node-b's shim exited {rc_shim}, its daemon {rc_node}:\n{read(node_b.log)}"


def test_size_is_a_real_quota(engine, driver, daemon, workdir):
    engine.run("volume", "create", "-d", driver, "--opt", "size=1", "small")
    # 1100 MiB into a 1 GiB volume: bounded by count, must stop at ENOSPC.
    res = engine.container("--rm", "-v", "small:/data", "sh", "-c",
                           "dd if=/dev/zero of=/data/big bs=1M count=1100; rc=$?; "
                           "ls -l /data/big; rm -f /data/big; exit $rc", check=False)
    assert res.returncode != 0, f"writing 1100 MiB into a size=1 volume succeeded:\n{res.stdout}{res.stderr}"
    assert "No space left on device" in res.stderr, res.stderr
    size = int(res.stdout.split()[4])
    assert size < 1 << 30, res.stdout
    assert_nothing_mounted(daemon, workdir, "small")


def test_bad_option_reaches_the_user(engine, driver, daemon):
    res = engine.run("volume", "create", "-d", driver, "--opt", "ebstype=gp9", "--opt", "size=1", "bad",
                     check=False)
    assert res.returncode != 0, res.stdout
    for word in ("ebstype", "gp9", "standard", "gp2", "gp3", "io1", "io2", "st1", "sc1"):
        assert word in res.stderr, f"{word!r} missing from the user's error: {res.stderr}"
    assert "bad" not in engine.run("volume", "ls", "-q").stdout.split()
    assert "bad" not in ctl_names(daemon)


def test_run_without_size_fails_clearly(engine, driver, daemon):
    res = engine.container("--rm", "-v", "newvol:/data", "--volume-driver", driver, "true", check=False)
    assert res.returncode != 0, res.stdout
    # What the engine shows, e.g.:
    # docker: Error response from daemon: create newvol: option size is required for relocatable volumes: …
    assert "newvol" in res.stderr and "size" in res.stderr and "required" in res.stderr, res.stderr
    assert "newvol" not in engine.run("volume", "ls", "-q").stdout.split()
    assert "newvol" not in ctl_names(daemon)
    assert engine.run("ps", "-aq").stdout.split() == []
