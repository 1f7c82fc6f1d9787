"""Relocatable volumes off AWS on several machines (issue 30): images on a
cluster root that every node mounts, loop-mounted by the one node that holds
each; Docker told Scope global only where volumes can follow their task.

Each node is its own cloudstord on the local provider with one directory as its
cluster root, as nodes that mount one NFS export do (this kernel has no NFS
client). Holds are taken alone; only the holder's Unmount, an operator's
declaration that it is dead, or an expired lease with --takeover-after let
another node mount a volume.
"""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import Daemon, PluginClient, Shim, read

CONTROL = os.path.join(".cloudstor", "relocatable")


class Node(Daemon):
    def __init__(self, workdir, name, root, extra_args=()):
        flags = (["--cluster-root", root] if root else []) + ["--takeover-wait", "2s", *extra_args]
        super().__init__(os.path.join(workdir, name), flags, node_id=name)
        os.makedirs(self.dir, exist_ok=True)

    def fails(self, *args):
        r = self.ctl(*args, check=False)
        assert r.returncode != 0, f"cloudstorctl {' '.join(args)} succeeded: {r.stdout}"
        return r.stderr

    def inspect(self, name):
        return json.loads(self.ctl("volume", "inspect", name).stdout)

    def names(self):
        return sorted(v["name"] for v in json.loads(self.ctl("volume", "ls", "--json").stdout))

    def mount(self, name, mount_id):
        return self.ctl("volume", "mount", name, "--id", mount_id).stdout.strip()

    def unmount(self, name, mount_id):
        self.ctl("volume", "unmount", name, "--id", mount_id)

    def scope(self):
        return json.loads(self.ctl("call", "cloudstor.v1.Volumes.Capabilities").stdout)["scope"]


@pytest.fixture
def root(workdir):
    path = os.path.join(workdir, "cluster")
    os.makedirs(path)
    return path


@pytest.fixture
def nodes(workdir, root):
    """nodes(name, *flags) → a started Node on the cluster root. At the end what a
    test left mounted (a node it killed) is unmounted, and every daemon still
    running must stop cleanly."""
    made = []

    def make(name, *extra, cluster_root=root):
        n = Node(workdir, name, cluster_root, extra)
        made.append(n)
        return n.start()

    yield make
    bad = [f"{n.node_id}: exit {rc}\n{read(n.log)[-3000:]}" for n in made
           if n.proc and n.proc.poll() is None and (rc := n.stop()) != 0]
    for n in made:
        mnt = os.path.join(n.state, "mnt")
        for name in os.listdir(mnt) if os.path.isdir(mnt) else []:
            subprocess.run(["umount", os.path.join(mnt, name)], capture_output=True)
    assert not bad, "a daemon did not stop cleanly:\n" + "\n".join(bad)


def image(root, name):
    return os.path.join(root, CONTROL, "images", name)


def fsck_clean(path):
    r = subprocess.run(["e2fsck", "-f", "-n", path], capture_output=True, text=True)
    assert r.returncode == 0, f"e2fsck {path}: {r.returncode}\n{r.stdout}{r.stderr}"


def write(path, name, text):
    with open(os.path.join(path, name), "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def test_a_volume_made_on_one_node_is_written_there_and_read_on_another(nodes, root):
    a, b = nodes("node-a"), nodes("node-b")
    assert a.scope() == b.scope() == "global"
    made = json.loads(a.ctl("volume", "create", "r1", "-o", "size=1", "--json").stdout)
    assert made["status"]["cloud_id"] == image(root, "r1")
    assert a.names() == b.names() == ["r1"]
    # The same options again from the other node: the same volume.
    b.ctl("volume", "create", "r1", "-o", "size=1")
    assert "exists with options" in b.fails("volume", "create", "r1", "-o", "size=2")

    pa = a.mount("r1", "ma")
    write(pa, "data", "written on a\n")
    held = b.inspect("r1")
    assert (held["status"]["state"], held["status"]["node"]) == ("VOLUME_STATE_MOUNTED", "node-a")
    a.unmount("r1", "ma")
    fsck_clean(image(root, "r1"))

    pb = b.mount("r1", "mb")
    with open(os.path.join(pb, "data")) as f:
        assert f.read() == "written on a\n"
    assert a.inspect("r1")["status"]["node"] == "node-b"
    # Removal is refused while another node holds the volume, and names it.
    message = a.fails("volume", "rm", "r1")
    assert "node-b" in message, message
    b.unmount("r1", "mb")
    a.ctl("volume", "rm", "r1")
    assert a.names() == b.names() == []
    assert os.listdir(os.path.join(root, CONTROL, "images")) == []
    assert os.listdir(os.path.join(root, CONTROL, "trash")) == []


def test_a_mount_while_another_node_holds_it_is_refused_until_an_operator_declares_that_node_dead(nodes, root):
    a, b = nodes("node-a"), nodes("node-b")
    a.ctl("volume", "create", "r2", "-o", "size=1")
    pa = a.mount("r2", "ma")
    write(pa, "before", "a's data\n")

    message = b.fails("volume", "mount", "r2", "--id", "mb")
    assert "node-a" in message and "lease was renewed" in message, message
    assert "cloudstorctl volume unmount --node node-a --all" in message, message

    # node-a dies whole: its daemon is killed, its mount stays (as on a machine
    # that is gone, nothing there is flushed again).
    a.stop(signal.SIGKILL)
    message = b.fails("volume", "mount", "r2", "--id", "mb")
    assert "node-a" in message, message
    assert b.ctl("volume", "unmount", "--node", "node-a", "--all").stdout.split() == ["r2"]
    subprocess.run(["umount", pa], check=True)   # the dead machine's kernel goes with it
    pb = b.mount("r2", "mb")
    with open(os.path.join(pb, "before")) as f:
        assert f.read() == "a's data\n"

    # node-a's daemon back (the same boot: its ledger still has the hold): it does
    # not mount what node-b now holds.
    a.start().wait_restored()
    assert "in use on node-b" in read(a.log)
    assert a.inspect("r2")["status"]["holders"] == ["node-b"]
    assert not os.path.ismount(pa)
    b.unmount("r2", "mb")
    fsck_clean(image(root, "r2"))
    a.unmount("r2", "ma")


def test_takeover_after_lets_another_node_mount_once_the_holders_lease_is_old(nodes, root):
    a = nodes("node-a", "--takeover-after", "3s")
    b = nodes("node-b", "--takeover-after", "3s", "--takeover-wait", "20s")
    a.ctl("volume", "create", "r3", "-o", "size=1")
    pa = a.mount("r3", "ma")
    write(pa, "f", "x\n")
    a.stop(signal.SIGKILL)
    subprocess.run(["umount", pa], check=True)
    pb = b.mount("r3", "mb")
    assert open(os.path.join(pb, "f")).read() == "x\n"
    assert "lease has expired" in read(b.log)
    b.unmount("r3", "mb")


def test_without_a_cluster_root_docker_is_told_scope_local_and_the_shim_agrees(nodes, workdir):
    lone = nodes("lone", cluster_root=None)
    assert lone.scope() == "local"
    for env, scope in (({}, "local"), ({"CLOUDSTOR_CLUSTER_ROOT": "/x"}, "global"), ({"CLOUDSTOR_PROVIDER": "aws"}, "global")):
        shim = Shim(os.path.join(workdir, "lone"), lone.socket, env=env).start()
        try:
            plugin = PluginClient(shim.socket)
            status, body = plugin.call("VolumeDriver.Capabilities", {})
            plugin.close()
            assert (status, body) == (200, {"Capabilities": {"Scope": scope}}), env
        finally:
            assert shim.stop() == 0


def test_a_node_with_volumes_in_its_state_directory_refuses_a_cluster_root(nodes, root):
    lone = nodes("node-a", cluster_root=None)
    lone.ctl("volume", "create", "mine", "-o", "size=1")
    assert lone.stop() == 0
    lone.extra_args = ["--cluster-root", root]
    with pytest.raises(RuntimeError):
        lone.start()
    assert "mine" in read(lone.log) and "state directory" in read(lone.log)
    lone.extra_args = []
    lone.start()
    assert lone.names() == ["mine"]
    lone.ctl("volume", "rm", "mine")


def test_hostile_entries_on_the_cluster_root_are_never_followed(nodes, root, workdir):
    a = nodes("node-a")
    a.ctl("volume", "create", "h1", "-o", "size=1")
    outside = os.path.join(workdir, "outside.img")
    with open(outside, "wb") as f:
        f.truncate(1 << 30)
    os.unlink(image(root, "h1"))
    os.symlink(outside, image(root, "h1"))
    message = a.fails("volume", "mount", "h1", "--id", "m")
    assert "never followed" in message or "symbolic link" in message, message
    assert os.path.getsize(outside) == 1 << 30 and open(outside, "rb").read(4096) == bytes(4096)
    os.unlink(image(root, "h1"))

    # A record that is not Cloudstor's: a clear error naming the file, the others listed.
    with open(os.path.join(root, CONTROL, "volumes", "junk"), "w") as f:
        f.write("{not json")
    message = a.fails("volume", "inspect", "junk")
    assert "junk" in message and "cannot be read" in message, message
    a.ctl("volume", "ls")


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (scripts/install-deps.sh installs it)")
def test_a_node_that_loses_the_cluster_root_answers_retryable_errors_keeps_its_mounts_and_checks_its_holds_after(
        nodes, root, workdir):
    a = nodes("node-a")
    a.ctl("volume", "create", "r", "-o", "size=1")
    path = a.mount("r", "m")
    write(path, "f", "kept\n")
    # Every call on the cluster root's directories fails as on an NFS export whose
    # server went away (ESTALE), and on nothing else of the daemon.
    control = os.path.join(root, CONTROL)
    paths = [os.path.join(control, d) for d in ("images", "volumes", "holds", "leases", "tmp", "trash")]
    log = os.path.join(workdir, "strace.log")
    tracer = subprocess.Popen(["strace", "-f", "-p", str(a.proc.pid), "-o", log, *sum((["-P", p] for p in paths), []),
                               "-e", "inject=all:error=ESTALE"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert "attached" in tracer.stderr.readline()
        r = a.ctl("volume", "create", "r2", "-o", "size=1", check=False)
        assert r.returncode == 5 and "try again" in r.stderr, (r.returncode, r.stderr)   # UNAVAILABLE
        assert os.path.ismount(path) and open(os.path.join(path, "f")).read() == "kept\n"
        deadline = time.monotonic() + 20
        while "cannot renew this node's lease" not in read(a.log):
            assert time.monotonic() < deadline, read(a.log)[-2000:]
            time.sleep(0.2)
    finally:
        tracer.send_signal(signal.SIGTERM)
        tracer.wait(30)
    deadline = time.monotonic() + 20
    while "the cluster root answers again" not in read(a.log):
        assert time.monotonic() < deadline, read(a.log)[-2000:]
        time.sleep(0.2)
    assert os.listdir(os.path.join(control, "holds", "node-a")) == ["r"]
    a.ctl("volume", "create", "r2", "-o", "size=1")
    a.unmount("r", "m")
    assert "mounted" not in a.inspect("r")["status"]["state"].lower()


def test_takeover_after_needs_a_cluster_root(workdir):
    lone = Node(workdir, "lone", None, ["--takeover-after", "1m"])
    with pytest.raises(RuntimeError):
        lone.start()
    assert "--takeover-after applies with --cluster-root only" in read(lone.log)


def test_a_daemon_restarted_under_a_mounted_volume_writes_a_cleared_hold_again(nodes, root):
    """An operator took node-a for dead while only its daemon was down: when the
    daemon is back, the volume it still has mounted is held again, and node-b's
    Mount refused, before anything writes to it from two nodes."""
    a, b = nodes("node-a"), nodes("node-b")
    a.ctl("volume", "create", "r4", "-o", "size=1")
    path = a.mount("r4", "m")
    assert a.stop() == 0 and os.path.ismount(path)
    assert b.ctl("volume", "unmount", "--node", "node-a", "--all").stdout.split() == ["r4"]
    a.start().wait_restored()
    assert os.listdir(os.path.join(root, CONTROL, "holds", "node-a")) == ["r4"]
    message = b.fails("volume", "mount", "r4", "--id", "mb")
    assert "node-a" in message, message
    a.unmount("r4", "m")
    b.mount("r4", "mb")
    b.unmount("r4", "mb")
