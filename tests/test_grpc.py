"""cloudstord over its real unix socket, through an independent gRPC client:
Python grpcio with stubs generated from proto/ at test time, plus grpcurl
through server reflection (no proto files at hand)."""
import concurrent.futures
import datetime
import os
import signal
import stat
import subprocess
import threading

import grpc
import pytest

from conftest import binary, loops_backed_by, mounts_under, read

TIMEOUT = 30  # seconds per RPC: a bound against hangs, never asserted on

class Client:
    """One channel to the daemon, with the Volumes and Health stubs."""

    def __init__(self, pb, daemon):
        self.pb = pb
        self.daemon = daemon
        self.connect()

    def connect(self):
        self.channel = grpc.insecure_channel("unix://" + self.daemon.socket)
        self.volumes = self.pb.vg.VolumesStub(self.channel)
        self.health = self.pb.hg.HealthStub(self.channel)

    def reconnect(self):
        """A fresh channel (after a daemon restart, skip the old one's backoff)."""
        self.channel.close()
        self.connect()

    def close(self):
        self.channel.close()

    # Thin wrappers: keyword arguments become the request message.
    def create(self, name, **options):
        return self.volumes.Create(self.pb.v.CreateRequest(name=name, options=options), timeout=TIMEOUT).volume

    def create_opts(self, name, options):
        return self.volumes.Create(self.pb.v.CreateRequest(name=name, options=options), timeout=TIMEOUT).volume

    def get(self, name):
        return self.volumes.Get(self.pb.v.GetRequest(name=name), timeout=TIMEOUT).volume

    def list(self):
        return list(self.volumes.List(self.pb.v.ListRequest(), timeout=TIMEOUT).volumes)

    def mount(self, name, id):
        return self.volumes.Mount(self.pb.v.MountRequest(name=name, id=id), timeout=TIMEOUT).mountpoint

    def unmount(self, name, id):
        self.volumes.Unmount(self.pb.v.UnmountRequest(name=name, id=id), timeout=TIMEOUT)

    def path(self, name):
        return self.volumes.Path(self.pb.v.PathRequest(name=name), timeout=TIMEOUT).mountpoint

    def remove(self, name):
        self.volumes.Remove(self.pb.v.RemoveRequest(name=name), timeout=TIMEOUT)

    def capabilities(self):
        return self.volumes.Capabilities(self.pb.v.CapabilitiesRequest(), timeout=TIMEOUT)

    def check(self, service=""):
        return self.health.Check(self.pb.h.HealthCheckRequest(service=service), timeout=TIMEOUT).status


@pytest.fixture
def client(pb, daemon):
    c = Client(pb, daemon)
    yield c
    c.close()


def rpc_error(fn, *args, **kwargs):
    with pytest.raises(grpc.RpcError) as info:
        fn(*args, **kwargs)
    return info.value


def assert_alive(client):
    assert client.daemon.proc.poll() is None, f"cloudstord died:\n{read(client.daemon.log)}"
    assert client.check() == client.pb.h.HealthCheckResponse.SERVING


def images_dir(daemon):
    return os.path.join(daemon.state, "images")


def shared_dir(daemon):
    return os.path.join(daemon.state, "shared")


def mount_root(daemon):
    return os.path.join(daemon.state, "mnt")


def listing(path):
    """The entries that are volumes (on a shared root, `.cloudstor` holds the metadata)."""
    return sorted(e for e in os.listdir(path) if not e.startswith(".")) if os.path.isdir(path) else []


def mount_count_of(point):
    return mounts_under(point).count(point)


# --- every RPC ---------------------------------------------------------------

def test_create_relocatable_normalises_options(client, pb):
    v = client.create("rel1", size="1")
    assert v.name == "rel1"
    assert v.backing == pb.v.BACKING_RELOCATABLE
    assert dict(v.options) == {"backing": "relocatable", "size": "1", "ebstype": "standard"}
    assert v.status.state == pb.v.VOLUME_STATE_CREATED
    assert v.status.mount_count == 0
    assert v.status.mountpoint == ""
    assert v.status.node == client.daemon.node_id   # no cluster root: the node it lives on
    created = datetime.datetime.fromisoformat(v.created_at.replace("Z", "+00:00"))
    assert created.tzinfo is not None and created.utcoffset() == datetime.timedelta(0)
    assert listing(images_dir(client.daemon)) == ["rel1"]

    got = client.get("rel1")
    assert got == v


def test_create_shared(client, pb):
    v = client.create("sh1", backing="shared")
    assert v.backing == pb.v.BACKING_SHARED
    assert dict(v.options) == {"backing": "shared", "perfmode": "generalpurpose"}
    assert v.status.state == pb.v.VOLUME_STATE_CREATED
    assert os.path.isdir(os.path.join(shared_dir(client.daemon), "sh1"))
    # No Max I/O root is configured on this daemon: refused, saying how to give one.
    err = rpc_error(client.create, "sh2", backing="shared", perfmode="maxio")
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "--shared-maxio-root" in err.details()


def test_backing_local_is_an_alias_of_relocatable(client, pb):
    v = client.create("loc", backing="local", size="1")
    assert v.backing == pb.v.BACKING_RELOCATABLE
    assert v.options["backing"] == "relocatable"


def test_list_and_capabilities(client, pb):
    assert client.list() == []
    client.create("a1", size="1")
    client.create("b1", backing="shared")
    vols = {v.name: v for v in client.list()}
    assert set(vols) == {"a1", "b1"}
    assert vols["a1"].backing == pb.v.BACKING_RELOCATABLE
    assert vols["b1"].backing == pb.v.BACKING_SHARED
    assert client.capabilities().scope == "local"


def test_mount_unmount_counts_ids_with_repeats(client, pb, workdir):
    client.create("m1", size="1")
    mp = client.mount("m1", "a")
    assert mp == os.path.join(mount_root(client.daemon), "m1")
    assert os.path.ismount(mp)
    st = client.get("m1").status
    assert (st.state, st.mount_count, st.mountpoint, st.node) == (pb.v.VOLUME_STATE_MOUNTED, 1, mp, "test-node")
    assert st.device.startswith("/dev/loop")
    assert client.path("m1") == mp

    assert client.mount("m1", "a") == mp  # the same id again (docker cp)
    assert client.mount("m1", "b") == mp
    assert client.get("m1").status.mount_count == 3
    assert mount_count_of(mp) == 1, "mounted more than once on the same point"

    with open(os.path.join(mp, "hello"), "w") as f:
        f.write("world")

    client.unmount("m1", "a")
    assert client.get("m1").status.mount_count == 2
    client.unmount("m1", "b")
    assert client.get("m1").status.mount_count == 1
    assert os.path.ismount(mp)
    client.unmount("m1", "a")
    st = client.get("m1").status
    assert (st.state, st.mount_count, st.mountpoint) == (pb.v.VOLUME_STATE_CREATED, 0, "")
    assert not os.path.ismount(mp)
    assert client.path("m1") == ""
    assert loops_backed_by(workdir) == []

    # Data persists across mounts; the size is a real quota (about 1 GiB of ext4).
    mp = client.mount("m1", "c")
    assert read(os.path.join(mp, "hello")) == "world"
    vfs = os.statvfs(mp)
    total = vfs.f_blocks * vfs.f_frsize
    assert 0.8 * 2**30 < total <= 2**30, f"filesystem of a size=1 volume has {total} bytes"
    client.unmount("m1", "c")
    assert not os.path.ismount(mp)


def test_a_volume_holding_something_other_than_ext4_is_neither_formatted_nor_mounted(client, workdir):
    """The daemon probes the device itself (libblkid, in process) and makes a
    filesystem only where it finds no signature at all: one holding anything else,
    here a swap area, is refused with what it holds and left byte for byte."""
    client.create("swapped", size="1")
    image = os.path.join(images_dir(client.daemon), "swapped")
    subprocess.run(["mkswap", "-L", "keepme", image], check=True, capture_output=True)
    with open(image, "rb") as f:
        before = f.read(1 << 20)

    err = rpc_error(client.mount, "swapped", "a")
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err.details()
    assert "holds swap, not ext4" in err.details() and "neither formats nor mounts it" in err.details()
    with open(image, "rb") as f:
        assert f.read(1 << 20) == before, "the image was written to"
    assert not os.path.ismount(os.path.join(mount_root(client.daemon), "swapped"))
    assert client.get("swapped").status.mount_count == 0
    assert_alive(client)


def test_unmount_by_an_id_that_holds_nothing_changes_nothing(client, pb):
    client.create("m2", size="1")
    mp = client.mount("m2", "a")
    try:
        client.unmount("m2", "stranger")
    except grpc.RpcError:
        pass  # refusing is as good as ignoring; releasing someone else's hold is not
    st = client.get("m2").status
    assert (st.state, st.mount_count) == (pb.v.VOLUME_STATE_MOUNTED, 1)
    assert os.path.ismount(mp)
    client.unmount("m2", "a")
    assert not os.path.ismount(mp)


def test_shared_mount(client, pb):
    client.create("sh", backing="shared")
    mp = client.mount("sh", "a")
    assert mp and os.path.isdir(mp)
    st = client.get("sh").status
    assert (st.state, st.mount_count, st.mountpoint, st.node) == (pb.v.VOLUME_STATE_MOUNTED, 1, mp, "test-node")
    with open(os.path.join(mp, "f"), "w") as f:
        f.write("shared")
    assert client.mount("sh", "b") == mp
    client.unmount("sh", "a")
    client.unmount("sh", "b")
    st = client.get("sh").status
    assert (st.state, st.mount_count) == (pb.v.VOLUME_STATE_CREATED, 0)
    client.remove("sh")
    assert listing(shared_dir(client.daemon)) == []


def test_remove(client, pb, workdir):
    client.create("r1", size="1")
    mp = client.mount("r1", "a")
    err = rpc_error(client.remove, "r1")
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "r1" in err.details() and "unmount" in err.details()
    assert os.path.ismount(mp)
    assert client.get("r1").status.mount_count == 1
    client.unmount("r1", "a")

    client.remove("r1")
    assert rpc_error(client.get, "r1").code() == grpc.StatusCode.NOT_FOUND
    assert client.list() == []
    assert listing(images_dir(client.daemon)) == []
    assert rpc_error(client.remove, "r1").code() == grpc.StatusCode.NOT_FOUND
    # The name is free again, with other options.
    v = client.create("r1", size="2")
    assert v.options["size"] == "2"
    assert loops_backed_by(workdir) == []


# --- status codes --------------------------------------------------------------

@pytest.mark.parametrize("options, option", [
    ({"size": "1", "color": "red"}, "color"),
    ({"size": "1", "ebstype": "gp9"}, "ebstype"),
    ({"size": "0"}, "size"),
    ({"size": "-1"}, "size"),
    ({"size": "1.5"}, "size"),
    ({"size": "99999999"}, "size"),
    ({}, "size"),  # relocatable by default: size is required
    ({"backing": "nfs"}, "backing"),
    ({"backing": "shared", "size": "1"}, "size"),
    ({"size": "1", "perfmode": "maxio"}, "perfmode"),
    ({"backing": "shared", "perfmode": "fast"}, "perfmode"),
    ({"size": "4", "ebstype": "io1"}, "iops"),
    ({"size": "4", "ebstype": "gp2", "iops": "100"}, "iops"),
    ({"size": "4", "ebstype": "io1", "iops": "99999999"}, "iops"),
])
def test_invalid_options(client, options, option):
    err = rpc_error(client.create_opts, "bad", options)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert option in err.details(), err.details()
    assert rpc_error(client.get, "bad").code() == grpc.StatusCode.NOT_FOUND
    assert listing(images_dir(client.daemon)) == []
    assert listing(shared_dir(client.daemon)) == []


def test_not_found(client):
    for call, args in [(client.get, ("nope",)), (client.remove, ("nope",)), (client.mount, ("nope", "a")),
                       (client.unmount, ("nope", "a")), (client.path, ("nope",))]:
        err = rpc_error(call, *args)
        assert err.code() == grpc.StatusCode.NOT_FOUND, call.__name__
        assert "nope" in err.details()
    assert listing(mount_root(client.daemon)) == []


def test_create_is_idempotent_and_refuses_other_options(client, pb):
    first = client.create("idem", size="1")
    assert client.create("idem", size="1") == first
    # The same options spelled out in full (or by alias) are the same options.
    assert client.create("idem", size="1", ebstype="standard", backing="relocatable") == first
    assert client.create("idem", size="1", backing="local") == first

    err = rpc_error(client.create, "idem", size="2")
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "idem" in err.details() and "size" in err.details()
    err = rpc_error(client.create, "idem", backing="shared")
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert client.get("idem") == first
    assert len(client.list()) == 1


# --- hostile input ------------------------------------------------------------------

HOSTILE_NAMES = ["../x", "a/b", "/abs", "", "x" * 256, "-x", ".x", "_x", ".", "..", "a b", "a\nb", "a\x00b", "a\tb",
                 "a\x7fb", "é", "日本", "vol\u202e", "x" * 1_000_000]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=lambda n: repr(n[:12]) + (f"+{len(n)}" if len(n) > 12 else ""))
def test_hostile_names_are_refused(client, name, workdir):
    before = listing(workdir)
    for call, args in [(client.create, (name,)), (client.get, (name,)), (client.mount, (name, "a")),
                       (client.unmount, (name, "a")), (client.path, (name,)), (client.remove, (name,))]:
        kwargs = {"size": "1"} if call == client.create else {}
        err = rpc_error(call, *args, **kwargs)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (call.__name__, err.details())
        assert "name" in err.details()
        assert len(err.details()) < 1000, "the message echoes a huge name"
    err = rpc_error(client.create, name, backing="shared")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert listing(images_dir(client.daemon)) == []
    assert listing(shared_dir(client.daemon)) == []
    assert listing(mount_root(client.daemon)) == []
    assert listing(workdir) == before
    assert mounts_under(workdir) == []
    assert_alive(client)


@pytest.mark.parametrize("backing", ["relocatable", "shared"])
def test_longest_valid_name(client, pb, backing, workdir):
    """Docker allows 255 characters; every file the daemon derives from the name
    must still fit in NAME_MAX."""
    name = "n" * 255
    opts = {"backing": backing, "size": "1"} if backing == "relocatable" else {"backing": backing}
    v = client.create_opts(name, opts)
    assert v.name == name
    mp = client.mount(name, "a")
    assert os.path.isdir(mp)
    client.unmount(name, "a")
    client.remove(name)
    assert client.list() == []
    assert loops_backed_by(workdir) == []


@pytest.mark.parametrize("label, options", [
    ("unknown keys", {"size": "1", "../../etc/passwd": "x", "": ""}),
    ("1000 keys", {f"k{i}": "v" for i in range(1000)} | {"size": "1"}),
    ("1 MB value", {"size": "1" * 1_000_000}),
    ("1 MB key", {"s" * 1_000_000: "1"}),
    ("1 MB ebstype", {"size": "1", "ebstype": "gp2" * 350_000}),
    ("control chars", {"size": "1\n", "ebstype": "gp2\x00"}),
])
def test_hostile_options_are_refused(client, label, options, workdir):
    err = rpc_error(client.create_opts, "hostile", options)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "option" in err.details()
    assert len(err.details()) < 10_000, "the message echoes a huge value"
    assert rpc_error(client.get, "hostile").code() == grpc.StatusCode.NOT_FOUND
    assert listing(images_dir(client.daemon)) == []
    assert listing(shared_dir(client.daemon)) == []
    assert listing(mount_root(client.daemon)) == []
    assert_alive(client)


def test_message_over_the_size_limit_is_refused_and_daemon_survives(client):
    with pytest.raises(grpc.RpcError):
        client.create_opts("huge", {"size": "1" * (5 * 2**20)})
    assert rpc_error(client.get, "huge").code() == grpc.StatusCode.NOT_FOUND
    assert listing(images_dir(client.daemon)) == []
    assert_alive(client)


def test_mount_ids_are_validated(client, workdir):
    client.create("ids", size="1")
    for call in (client.mount, client.unmount):
        for bad in ["", "x" * 1_000_000]:
            err = rpc_error(call, "ids", bad)
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (call.__name__, len(bad))
            assert "id" in err.details()
    assert client.get("ids").status.mount_count == 0
    assert mounts_under(workdir) == []
    # Anything else is an opaque token, never a path.
    for odd in ["../../x", "a/b", "\n", "日本"]:
        client.mount("ids", odd)
    assert client.get("ids").status.mount_count == 4
    for odd in ["../../x", "a/b", "\n", "日本"]:
        client.unmount("ids", odd)
    assert client.get("ids").status.mount_count == 0
    assert mounts_under(workdir) == []
    assert_alive(client)


# --- idempotency and concurrency ---------------------------------------------------------

def run_together(n, fn):
    """Runs fn(i) for i in range(n) on n threads released at once; returns results
    (or exceptions) in order."""
    barrier = threading.Barrier(n)

    def task(i):
        barrier.wait()
        return fn(i)

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(task, i) for i in range(n)]
        concurrent.futures.wait(futures)
    return [f.exception() or f.result() for f in futures]


def assert_no_errors(results):
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, [f"{e.code()}: {e.details()}" if isinstance(e, grpc.RpcError) else repr(e) for e in errors]


def test_concurrent_create_same_name(client):
    results = run_together(16, lambda i: client.create("same", size="1"))
    assert_no_errors(results)
    assert [v.name for v in client.list()] == ["same"]
    assert len({r.created_at for r in results}) == 1
    assert listing(images_dir(client.daemon)) == ["same"]


def test_concurrent_create_different_names(client):
    names = [f"d{i}" for i in range(12)]
    results = run_together(12, lambda i: client.create(names[i], size="1") if i % 2 else
                           client.create(names[i], backing="shared"))
    assert_no_errors(results)
    assert sorted(v.name for v in client.list()) == sorted(names)
    assert_no_errors(run_together(12, lambda i: client.remove(names[i])))
    assert client.list() == []
    assert listing(images_dir(client.daemon)) == []
    assert listing(shared_dir(client.daemon)) == []


def test_concurrent_mount_and_unmount(client, pb, workdir):
    client.create("busy", size="1")
    mps = run_together(16, lambda i: client.mount("busy", f"id{i}"))
    assert_no_errors(mps)
    assert len(set(mps)) == 1 and os.path.ismount(mps[0])
    mp = mps[0]
    assert mount_count_of(mp) == 1
    assert len(loops_backed_by(workdir)) == 1
    st = client.get("busy").status
    assert (st.state, st.mount_count) == (pb.v.VOLUME_STATE_MOUNTED, 16)

    assert_no_errors(run_together(16, lambda i: client.unmount("busy", f"id{i}")))
    st = client.get("busy").status
    assert (st.state, st.mount_count) == (pb.v.VOLUME_STATE_CREATED, 0)
    assert not os.path.ismount(mp)
    assert loops_backed_by(workdir) == []


def test_concurrent_mount_unmount_cycles(client, pb, workdir):
    """Holders come and go at once: the first mount and the last unmount race with
    the others; the volume must end unmounted with nothing left attached."""
    client.create("churn", size="1")

    def cycle(i):
        for _ in range(3):
            mp = client.mount("churn", f"h{i}")
            assert mp and os.path.isdir(mp)
            client.unmount("churn", f"h{i}")

    assert_no_errors(run_together(8, cycle))
    st = client.get("churn").status
    assert (st.state, st.mount_count) == (pb.v.VOLUME_STATE_CREATED, 0)
    assert mounts_under(workdir) == []
    assert loops_backed_by(workdir) == []
    client.remove("churn")


def test_concurrent_remove_and_mount(client, pb, workdir):
    """Remove racing with Mount: either the mount wins (and Remove is refused) or
    the volume is gone (and Mount fails NOT_FOUND); never a mount of a removed volume."""
    client.create("race", size="1")
    results = run_together(2, lambda i: client.remove("race") if i == 0 else client.mount("race", "a"))
    removed = not isinstance(results[0], BaseException)
    mounted = not isinstance(results[1], BaseException)
    assert removed != mounted, results
    if mounted:
        assert results[0].code() == grpc.StatusCode.FAILED_PRECONDITION
        client.unmount("race", "a")
        client.remove("race")
    else:
        assert results[1].code() == grpc.StatusCode.NOT_FOUND
    assert client.list() == []
    assert mounts_under(workdir) == []
    assert loops_backed_by(workdir) == []


# --- durability ----------------------------------------------------------------------

def test_sigterm_restart_keeps_held_mounts(client, pb, daemon, workdir):
    client.create("dur", size="1")
    mp = client.mount("dur", "a")
    with open(os.path.join(mp, "data"), "w") as f:
        f.write("kept")

    assert daemon.stop() == 0, read(daemon.log)
    assert not os.path.exists(daemon.socket)
    # A container still uses it: SIGTERM unmounts nothing.
    assert os.path.ismount(mp)
    assert read(os.path.join(mp, "data")) == "kept"

    daemon.start()
    client.reconnect()
    st = client.get("dur").status
    assert (st.state, st.mount_count, st.mountpoint) == (pb.v.VOLUME_STATE_MOUNTED, 1, mp)
    assert os.path.ismount(mp) and mount_count_of(mp) == 1
    assert len(loops_backed_by(workdir)) == 1
    assert read(os.path.join(mp, "data")) == "kept"

    client.unmount("dur", "a")
    assert not os.path.ismount(mp)
    assert loops_backed_by(workdir) == []


@pytest.mark.parametrize("after_kill", ["nothing", "umount", "umount+detach"])
def test_crash_then_reconcile(client, pb, daemon, workdir, after_kill):
    """kill -9 while a volume is held; then the mount (and the loop device: a
    reboot) may vanish behind the daemon's back. On start it re-mounts what is held."""
    client.create("crash", size="1")
    client.create("idle", size="1")
    mp = client.mount("crash", "a")
    with open(os.path.join(mp, "data"), "w") as f:
        f.write("intact")
        f.flush()
        os.fsync(f.fileno())

    daemon.stop(signal.SIGKILL)
    assert os.path.ismount(mp)
    if after_kill != "nothing":
        subprocess.run(["umount", mp], check=True)
        assert not os.path.ismount(mp)
    if after_kill == "umount+detach":
        for dev in loops_backed_by(workdir):
            subprocess.run(["losetup", "-d", dev], check=True)

    daemon.start()  # over the stale socket file the killed daemon left
    client.reconnect()
    daemon.wait_restored()   # it serves at once, and mounts again meanwhile
    st = client.get("crash").status
    assert (st.state, st.mount_count, st.mountpoint) == (pb.v.VOLUME_STATE_MOUNTED, 1, mp)
    assert os.path.ismount(mp), "the held volume was not re-mounted"
    assert mount_count_of(mp) == 1, "mounted twice on the same point"
    assert len(loops_backed_by(workdir)) == 1
    assert read(os.path.join(mp, "data")) == "intact"
    assert client.get("idle").status.state == pb.v.VOLUME_STATE_CREATED

    client.unmount("crash", "a")
    assert not os.path.ismount(mp)
    assert mounts_under(workdir) == []
    assert loops_backed_by(workdir) == []


# --- health -------------------------------------------------------------------------

def test_health_check(client, pb):
    SERVING = pb.h.HealthCheckResponse.SERVING
    assert client.check("") == SERVING
    assert client.check("cloudstor.v1.Volumes") == SERVING
    err = rpc_error(client.check, "no.such.Service")
    assert err.code() == grpc.StatusCode.NOT_FOUND


def test_health_watch_streams_and_cancels(client, pb):
    stream = client.health.Watch(pb.h.HealthCheckRequest(service=""))
    assert next(stream).status == pb.h.HealthCheckResponse.SERVING
    stream.cancel()
    with pytest.raises(grpc.RpcError) as info:
        next(stream)
    assert info.value.code() == grpc.StatusCode.CANCELLED

    unknown = client.health.Watch(pb.h.HealthCheckRequest(service="no.such.Service"))
    assert next(unknown).status == pb.h.HealthCheckResponse.SERVICE_UNKNOWN
    unknown.cancel()
    assert_alive(client)


def test_sigterm_with_open_watch_exits_promptly(client, pb, daemon):
    streams = [client.health.Watch(pb.h.HealthCheckRequest(service=s)) for s in ("", "cloudstor.v1.Volumes")]
    for s in streams:
        assert next(s).status == pb.h.HealthCheckResponse.SERVING
    daemon.proc.send_signal(signal.SIGTERM)
    try:
        rc = daemon.proc.wait(20)
    except subprocess.TimeoutExpired:
        daemon.proc.kill()
        daemon.proc.wait()
        pytest.fail(f"cloudstord did not exit within 20 s of SIGTERM with a Watch stream open:\n{read(daemon.log)}")
    finally:
        for s in streams:
            s.cancel()
    assert rc == 0, read(daemon.log)
    assert not os.path.exists(daemon.socket)


# --- reflection (grpcurl, no proto files) -----------------------------------------------

def grpcurl(daemon, *args, data=None, check=True):
    """grpcurl -plaintext -unix [-d DATA] SOCKET ARGS..., run where no proto file is."""
    flags = ["-d", data] if data is not None else []
    r = subprocess.run(["grpcurl", "-plaintext", "-unix", *flags, daemon.socket, *args],
                       capture_output=True, text=True, timeout=60, cwd=daemon.dir)
    if check:
        assert r.returncode == 0, f"grpcurl {args}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def test_reflection_list_and_describe(daemon):
    services = grpcurl(daemon, "list").stdout.split()
    assert "cloudstor.v1.Volumes" in services
    assert "grpc.health.v1.Health" in services

    methods = grpcurl(daemon, "describe", "cloudstor.v1.Volumes").stdout
    for m in ["Create", "Remove", "Get", "List", "Mount", "Unmount", "Path", "Capabilities"]:
        assert f"rpc {m} ( .cloudstor.v1.{m}Request ) returns ( .cloudstor.v1.{m}Response )" in methods

    volume = grpcurl(daemon, "describe", "cloudstor.v1.Volume").stdout
    for field in ["string name = 1;", ".cloudstor.v1.Backing backing = 2;", "map<string, string> options = 3;",
                  ".cloudstor.v1.VolumeStatus status = 4;", "string created_at = 5;"]:
        assert field in volume

    health = grpcurl(daemon, "describe", "grpc.health.v1.Health").stdout
    assert "rpc Check" in health and "rpc Watch" in health


def test_grpcurl_calls_without_protos(daemon, client):
    r = grpcurl(daemon, "cloudstor.v1.Volumes/Get", data='{"name":"x"}', check=False)
    assert r.returncode != 0
    assert "NotFound" in r.stderr and "no such volume: x" in r.stderr

    r = grpcurl(daemon, "cloudstor.v1.Volumes/Create", data='{"name":"g1","options":{"size":"1"}}')
    assert '"name": "g1"' in r.stdout
    assert client.get("g1").options["ebstype"] == "standard"
    r = grpcurl(daemon, "cloudstor.v1.Volumes/Get", data='{"name":"g1"}')
    assert '"BACKING_RELOCATABLE"' in r.stdout
    r = grpcurl(daemon, "grpc.health.v1.Health/Check")
    assert '"SERVING"' in r.stdout


# --- the socket ---------------------------------------------------------------------------

def test_socket_mode(client, daemon):
    assert_alive(client)
    st = os.stat(daemon.socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660


@pytest.mark.parametrize("state", ["other", "same"])
def test_second_daemon_on_same_socket_is_refused(client, pb, daemon, workdir, state):
    client.create("held", size="1")
    mp = client.mount("held", "a")
    inode = os.stat(daemon.socket).st_ino
    state_dir = os.path.join(workdir, "state2") if state == "other" else daemon.state
    second = subprocess.run(
        [binary("cloudstord"), "--socket", daemon.socket, "--state-dir", state_dir, "--node-id", "test-node"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    out = second.stdout + second.stderr
    assert second.returncode != 0, out
    if state == "other":
        assert daemon.socket in out and ("in use" in out or "already" in out), out
    # The first one still serves, on its own socket, with its state untouched.
    assert os.stat(daemon.socket).st_ino == inode
    assert daemon.proc.poll() is None
    client.reconnect()
    assert_alive(client)
    st = client.get("held").status
    assert (st.state, st.mount_count) == (pb.v.VOLUME_STATE_MOUNTED, 1)
    assert os.path.ismount(mp)
    assert mounts_under(os.path.join(workdir, "state2")) == []
    client.unmount("held", "a")
    assert not os.path.ismount(mp)


def test_socket_removed_on_sigterm(client, daemon):
    assert_alive(client)
    assert daemon.stop() == 0, read(daemon.log)
    assert not os.path.exists(daemon.socket)

