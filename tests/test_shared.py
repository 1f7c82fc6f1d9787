"""Shared volumes (issue 9): one directory per volume on a shared file system,
seen by every node at once, never removed from under a node that uses it.

Each node is its own cloudstord (own socket, state directory and node id) on
the local provider; all of them use one directory as their shared root, as
nodes that mount one NFS export (or EFS) do. The EFS parts run against the
AWS simulator (moto's EFS behind the project's proxy).
"""
import concurrent.futures
import json
import os
import signal
import sqlite3
import subprocess
import time

import grpc
import pytest

from conftest import Daemon, read

CONTROL = ".cloudstor"


class Node(Daemon):
    """A cloudstord on the shared root, with the test's cloudstorctl helpers."""

    def __init__(self, workdir, name, shared, extra_args=()):
        super().__init__(os.path.join(workdir, name), ["--shared-root", shared, *extra_args], node_id=name)
        os.makedirs(self.dir, exist_ok=True)

    def fails(self, *args):
        r = self.ctl(*args, check=False)
        assert r.returncode != 0, f"cloudstorctl {' '.join(args)} succeeded: {r.stdout}"
        return r.stderr

    def create(self, name, **options):
        args = ["volume", "create", name]
        for key, value in options.items():
            args += ["-o", f"{key}={value}"]
        return json.loads(self.ctl(*args, "--json").stdout)

    def inspect(self, name):
        return json.loads(self.ctl("volume", "inspect", name).stdout)

    def ls(self):
        return {v["name"]: v.get("options", {}) for v in json.loads(self.ctl("volume", "ls", "--json").stdout)}

    def mount(self, name, mount_id):
        return self.ctl("volume", "mount", name, "--id", mount_id).stdout.strip()

    def unmount(self, name, mount_id):
        self.ctl("volume", "unmount", name, "--id", mount_id)


@pytest.fixture
def shared(workdir):
    path = os.path.join(workdir, "shared")
    os.makedirs(path)
    return path


@pytest.fixture
def nodes(workdir, shared):
    """nodes(name, *extra flags) → a started Node on the shared root; every one
    still running at the end must stop cleanly on SIGTERM."""
    made = []

    def make(name, *extra):
        n = Node(workdir, name, shared, extra)
        made.append(n)
        return n.start()

    yield make
    bad = [f"{n.node_id}: exit {rc}\n{read(n.log)[-3000:]}" for n in made
           if n.proc and n.proc.poll() is None and (rc := n.stop()) != 0]
    assert not bad, "a daemon did not stop cleanly:\n" + "\n".join(bad)


def entries(root, *parts):
    path = os.path.join(root, *parts)
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def volume_dirs(root):
    return [e for e in entries(root) if not e.startswith(".")]


def count_files(path):
    return sum(len(files) for _, _, files in os.walk(path))


def wait_for(check, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_two_nodes_create_list_mount_write_and_read_one_volume(nodes, shared):
    a, b = nodes("node-a"), nodes("node-b")
    made = a.create("s1", backing="shared")
    assert made["status"]["cloud_id"] == os.path.join(shared, "s1")
    b.create("s1", backing="shared")  # idempotent from the other node
    assert a.ls() == b.ls() == {"s1": {"backing": "shared", "perfmode": "generalpurpose"}}

    pa, pb_ = a.mount("s1", "ma"), b.mount("s1", "mb")
    assert pa == pb_ == os.path.join(shared, "s1")
    with open(os.path.join(pa, "from-a"), "w") as f:
        f.write("written through node-a\n")
    with open(os.path.join(pb_, "from-a")) as f:
        assert f.read() == "written through node-a\n"
    assert sorted(a.inspect("s1")["status"]["holders"]) == ["node-a", "node-b"]
    a.unmount("s1", "ma")
    b.unmount("s1", "mb")
    assert "holders" not in b.inspect("s1")["status"]

    # A volume made by one node is the other's too: created there, listed here.
    b.create("s2", backing="shared", mode="0700")
    assert a.ls() == b.ls()
    assert a.ls()["s2"] == {"backing": "shared", "perfmode": "generalpurpose", "mode": "0700"}
    a.ctl("volume", "rm", "s2")
    assert "s2" not in b.ls()


def test_fifty_concurrent_creates_of_ten_names_from_two_nodes(nodes, shared, pb):
    a, b = nodes("node-a"), nodes("node-b")
    channels = [grpc.insecure_channel("unix://" + n.socket) for n in (a, b)]
    stubs = [pb.vg.VolumesStub(c) for c in channels]

    def create(i):
        request = pb.v.CreateRequest(name=f"c{i % 10}", options={"backing": "shared"})
        return stubs[i % 2].Create(request, timeout=60).volume.name

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            names = list(pool.map(create, range(50)))
    finally:
        for c in channels:
            c.close()
    assert sorted(set(names)) == [f"c{i}" for i in range(10)]
    expected = sorted(f"c{i}" for i in range(10))
    assert volume_dirs(shared) == expected
    assert entries(shared, CONTROL, "volumes") == expected
    assert entries(shared, CONTROL, "tmp") == [], "half-written files were left"
    assert sorted(a.ls()) == sorted(b.ls()) == expected


def test_remove_is_refused_while_another_node_holds_the_volume(nodes, shared):
    a, b = nodes("node-a"), nodes("node-b")
    a.create("held", backing="shared")
    b.mount("held", "m1")
    err = a.fails("volume", "rm", "held")
    assert "mounted 1 time(s) on node-b" in err, err
    assert "held" in a.ls() and os.path.isdir(os.path.join(shared, "held"))
    b.unmount("held", "m1")
    a.ctl("volume", "rm", "held")
    assert "held" not in a.ls() and "held" not in b.ls()


def test_a_refused_remove_names_every_holder_with_its_count(nodes, shared):
    """With node-a and node-b both holding it, one message names both, so the
    operator unmounts everywhere at once instead of learning one node per try."""
    a, b = nodes("node-a"), nodes("node-b")
    a.create("s1", backing="shared")
    a.mount("s1", "a1")
    b.mount("s1", "b1")
    b.mount("s1", "b2")
    b.mount("s1", "b3")
    b.unmount("s1", "b3")
    for node in (a, b):
        err = node.fails("volume", "rm", "s1")
        assert "mounted 1 time(s) on node-a, 2 time(s) on node-b" in err, err
    a.unmount("s1", "a1")
    err = a.fails("volume", "rm", "s1")
    assert "2 time(s) on node-b" in err and "node-a" not in err, err
    b.unmount("s1", "b1")
    b.unmount("s1", "b2")
    a.ctl("volume", "rm", "s1")
    assert "s1" not in a.ls() and not os.path.exists(os.path.join(shared, "s1"))


def test_a_dead_nodes_hold_is_cleared_by_an_operator(nodes, shared):
    a, b = nodes("node-a"), nodes("node-b")
    a.create("orphaned", backing="shared")
    b.mount("orphaned", "m1")
    b.stop(signal.SIGKILL)
    assert "in use: mounted 1 time(s) on node-b" in a.fails("volume", "rm", "orphaned")
    # Not for this node's own holds, and never with a half-given command.
    assert "this node" in a.fails("volume", "unmount", "--node", "node-a", "--all")
    assert "--node NODE --all" in a.fails("volume", "unmount", "--node", "node-b")
    assert a.ctl("volume", "unmount", "--node", "node-b", "--all").stdout.split() == ["orphaned"]
    a.ctl("volume", "rm", "orphaned")
    assert "orphaned" not in a.ls()


def test_a_nodes_holds_of_a_previous_boot_go_when_its_daemon_starts(nodes, shared):
    a, b = nodes("node-a"), nodes("node-b")
    a.create("rebooted", backing="shared")
    b.mount("rebooted", "m1")
    assert b.stop(signal.SIGKILL) == -signal.SIGKILL
    b.start()  # a daemon restart keeps the holds: the containers run on
    assert "in use: mounted 1 time(s) on node-b" in a.fails("volume", "rm", "rebooted")
    b.stop()
    # The machine rebooted: its ledger was written in another boot.
    db = sqlite3.connect(os.path.join(b.state, "catalogue.sqlite"))
    with db:
        db.execute("UPDATE node_fact SET value = 'a-previous-boot' WHERE key = 'boot'")
    db.close()
    b.start()
    assert "released the holds of the previous boot" in read(b.log)
    a.ctl("volume", "rm", "rebooted")


def test_a_hold_cleared_while_its_daemon_was_down_is_written_again_when_it_starts(nodes, shared):
    a, b = nodes("node-a"), nodes("node-b")
    a.create("survivor", backing="shared")
    b.mount("survivor", "m1")
    assert b.stop(signal.SIGKILL) == -signal.SIGKILL
    # An operator took node-b for dead; its container still runs.
    assert a.ctl("volume", "unmount", "--node", "node-b", "--all").stdout.split() == ["survivor"]
    b.start()
    assert "in use: mounted 1 time(s) on node-b" in a.fails("volume", "rm", "survivor")
    b.unmount("survivor", "m1")
    a.ctl("volume", "rm", "survivor")


def test_names_and_symlinks_never_lead_out_of_the_root(nodes, shared, workdir, pb):
    a = nodes("node-a")
    outside = os.path.join(workdir, "outside")
    os.makedirs(outside)
    secret = os.path.join(outside, "secret")
    with open(secret, "w") as f:
        f.write("outside the root\n")
    before = os.stat(secret)

    channel = grpc.insecure_channel("unix://" + a.socket)
    stub = pb.vg.VolumesStub(channel)
    try:
        for name in ["../x", "a/b", "..", ".", ".cloudstor", "x\x00y", "/etc", ""]:
            for call, request in [(stub.Create, pb.v.CreateRequest(name=name, options={"backing": "shared"})),
                                  (stub.Get, pb.v.GetRequest(name=name)),
                                  (stub.Mount, pb.v.MountRequest(name=name, id="m")),
                                  (stub.Remove, pb.v.RemoveRequest(name=name))]:
                with pytest.raises(grpc.RpcError) as e:
                    call(request, timeout=30)
                assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (name, e.value.details())
    finally:
        channel.close()
    assert volume_dirs(shared) == [] and entries(shared, CONTROL, "volumes") == []

    # A volume whose directory was swapped for a link out of the root.
    a.create("v", backing="shared")
    os.rmdir(os.path.join(shared, "v"))
    os.symlink(outside, os.path.join(shared, "v"))
    assert "not a directory" in a.fails("volume", "mount", "v", "--id", "m")
    a.ctl("volume", "rm", "v")
    wait_for(lambda: entries(shared, CONTROL, "trash") == [], "the trash to be emptied")

    # Metadata that is a link to a file outside the root.
    os.symlink(secret, os.path.join(shared, CONTROL, "volumes", "evil"))
    assert "cannot be read" in a.fails("volume", "inspect", "evil")
    assert "cannot be read" in a.fails("volume", "mount", "evil", "--id", "m")
    assert "evil" not in a.ls()

    with open(secret) as f:
        assert f.read() == "outside the root\n"
    after = os.stat(secret)
    assert (after.st_mtime_ns, after.st_size, after.st_ino) == (before.st_mtime_ns, before.st_size, before.st_ino)
    assert entries(outside) == ["secret"]


def test_remove_of_ten_thousand_files_is_one_rename_and_the_space_comes_back(nodes, shared):
    # A trash delay that outlasts the test keeps the files there until the restart.
    a = nodes("node-a", "--trash-delay", "1h")
    path = a.mount(a.create("big", backing="shared")["name"], "m")
    for i in range(100):
        d = os.path.join(path, f"d{i:02}")
        os.mkdir(d)
        for j in range(100):
            with open(os.path.join(d, f"f{j:02}"), "w") as f:
                f.write("x" * 64)
    a.unmount("big", "m")

    a.ctl("volume", "rm", "big")
    assert "big" not in a.ls()
    assert not os.path.exists(os.path.join(shared, "big"))
    [entry] = entries(shared, CONTROL, "trash")
    assert entry.endswith("-big")
    assert count_files(os.path.join(shared, CONTROL, "trash", entry)) == 10_000

    # The daemon dies; the next start (no delay now) empties what the trash holds.
    a.stop(signal.SIGKILL)
    a.extra_args = ["--shared-root", shared, "--trash-delay", "0s"]
    a.start()
    wait_for(lambda: entries(shared, CONTROL, "trash") == [], "the trash to be emptied after the restart")


def test_remove_empties_the_trash_in_the_background(nodes, shared):
    a = nodes("node-a")
    a.create("small", backing="shared")
    with open(os.path.join(shared, "small", "f"), "w") as f:
        f.write("data")
    a.ctl("volume", "rm", "small")
    assert "small" not in a.ls()
    wait_for(lambda: entries(shared, CONTROL, "trash") == [], "the trash to be emptied")


def test_maxio_volumes_land_on_the_maxio_root(nodes, shared, workdir):
    maxio = os.path.join(workdir, "maxio")
    os.makedirs(maxio)
    a = nodes("node-a", "--shared-maxio-root", maxio)
    made = a.create("fast", backing="shared", perfmode="maxio")
    assert made["status"]["cloud_id"] == os.path.join(maxio, "fast")
    assert volume_dirs(maxio) == ["fast"] and volume_dirs(shared) == []
    assert a.mount("fast", "m") == os.path.join(maxio, "fast")
    a.unmount("fast", "m")
    b = nodes("node-b")  # no Max I/O root
    assert "--shared-maxio-root" in b.fails("volume", "create", "x", "-o", "backing=shared", "-o", "perfmode=maxio")


def test_uid_gid_and_mode_set_the_new_directory(nodes, shared):
    a = nodes("node-a")
    a.create("owned", backing="shared", uid="1234", gid="5678", mode="2750")
    info = os.stat(os.path.join(shared, "owned"))
    assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (1234, 5678, 0o2750)
    assert a.ls()["owned"] == {"backing": "shared", "perfmode": "generalpurpose", "uid": "1234", "gid": "5678", "mode": "2750"}
    # The same options again are the same volume; others are refused naming both.
    a.create("owned", backing="shared", uid="1234", gid="5678", mode="2750")
    assert "mode=2750" in a.fails("volume", "create", "owned", "-o", "backing=shared", "-o", "mode=0755")
    for bad in ["mode=8", "mode=12345", "uid=-1", "gid=root"]:
        assert "invalid value" in a.fails("volume", "create", "bad", "-o", "backing=shared", "-o", bad)
    assert volume_dirs(shared) == ["owned"]
