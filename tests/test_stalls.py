"""Nothing slow stalls everything (issue 27). One event loop answers every call,
so a Get must never wait for a disk or a network file system. strace, attached
to the daemon, makes one of them slow on purpose (`inject=...:delay_enter`):

- the state directory's disk: every fsync and fdatasync takes 8 s, as on a disk
  that is failing or saturated, while a Remove commits to the state database;
- the shared root: every system call on it takes 5 s, as on an NFS or EFS mount
  whose server is away, while a Get of a shared volume reads its metadata;
- the shared root's locks: every flock held until strace detaches, while more
  Mounts and Removes of shared volumes wait for theirs than Swift's pool has
  threads (one per core).

Meanwhile Gets (or, for the locks, an Unmount) of another volume answer, each
while the slow calls are still pending; their times are printed, not asserted."""
import concurrent.futures
import os
import signal
import subprocess
import threading
import time

import grpc
import pytest

from conftest import Daemon, read

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: strace attaches to the daemon, which mounts")


class Strace:
    """strace attached to a running daemon, injecting a delay; stopped by pid."""

    def __init__(self, pid, args, log):
        self.log = log
        self.proc = subprocess.Popen(["strace", "-f", "-p", str(pid), "-o", log, *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # strace says on stderr when it has attached to each thread.
        line = self.proc.stderr.readline()
        assert "attached" in line, f"strace did not attach: {line}{read(log)}"

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)   # strace detaches; delayed calls go on at once
        self.proc.wait(timeout=30)


@pytest.fixture
def stall_daemon(workdir):
    d = Daemon(workdir, extra_args=["--shared-root", os.path.join(workdir, "shared")]).start()
    yield d
    d.stop()


def volumes_stub(pb, daemon):
    channel = grpc.insecure_channel(f"unix://{daemon.socket}")
    return channel, pb.vg.VolumesStub(channel)


def gets_while_pending(stub, pb, name, call, count=10):
    """Runs `call` in a thread; once it is under way, `count` Gets of `name`.
    Returns (the Gets' times in ms, whether each ended while `call` was still
    pending, what `call` returned or raised)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = call()
        except Exception as e:  # noqa: BLE001 - reported by the test
            outcome["error"] = e
    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(1.0)   # the call reaches its slow system call within milliseconds
    times, pending = [], []
    for _ in range(count):
        started = time.monotonic()
        reply = stub.Get(pb.v.GetRequest(name=name), timeout=60)   # a bound against hangs, never asserted on
        times.append((time.monotonic() - started) * 1000)
        pending.append(thread.is_alive())
        assert reply.volume.name == name
    thread.join(timeout=300)
    return times, pending, outcome


def test_a_slow_state_disk_stalls_only_the_call_that_writes(stall_daemon, pb, workdir, capsys):
    channel, stub = volumes_stub(pb, stall_daemon)
    try:
        for name in ("r0", "r1"):
            stub.Create(pb.v.CreateRequest(name=name, options={"size": "1"}), timeout=120)
        strace = Strace(stall_daemon.proc.pid, ["-e", "trace=fsync,fdatasync", "-e", "inject=fsync,fdatasync:delay_enter=8000000"],
                        os.path.join(workdir, "strace.log"))
        try:
            started = time.monotonic()
            times, pending, outcome = gets_while_pending(
                stub, pb, "r0", lambda: stub.Remove(pb.v.RemoveRequest(name="r1"), timeout=300))
            took = time.monotonic() - started
        finally:
            strace.stop()
        assert "error" not in outcome, outcome
        assert took >= 8, f"the Remove did not wait for its fdatasync ({took:.1f} s): the disk was not slow"
        assert all(pending), f"a Get of r0 waited for r1's commit: {times} ms"
        with capsys.disabled():
            print(f"\n  slow disk: Remove took {took:.1f} s; Gets of another volume meanwhile: "
                  f"{min(times):.1f}-{max(times):.1f} ms")
    finally:
        channel.close()


def test_a_stalled_shared_root_stalls_only_its_own_calls(stall_daemon, pb, workdir, capsys):
    channel, stub = volumes_stub(pb, stall_daemon)
    try:
        stub.Create(pb.v.CreateRequest(name="r0", options={"size": "1"}), timeout=120)
        stub.Create(pb.v.CreateRequest(name="s1", options={"backing": "shared"}), timeout=120)
        root = os.path.join(workdir, "shared")
        paths = [arg for d, _, _ in os.walk(root) for arg in ("-P", d)]
        strace = Strace(stall_daemon.proc.pid, [*paths, "-e", "inject=all:delay_enter=5000000"],
                        os.path.join(workdir, "strace.log"))
        try:
            times, pending, outcome = gets_while_pending(
                stub, pb, "r0", lambda: stub.Get(pb.v.GetRequest(name="s1"), timeout=300))
        finally:
            strace.stop()
        assert all(pending), f"a Get of r0 waited for the shared root: {times} ms"
        assert "error" not in outcome, outcome
        assert outcome["value"].volume.name == "s1"
        assert "DELAYED" in read(os.path.join(workdir, "strace.log")), "no call on the shared root was slowed"
        with capsys.disabled():
            print(f"\n  shared root stalled: Gets of another volume meanwhile: {min(times):.1f}-{max(times):.1f} ms")
    finally:
        channel.close()


def test_mounts_stuck_in_the_shared_roots_lock_stall_only_themselves(stall_daemon, pb, workdir, capsys):
    """A Mount's hold and a Remove lock the volume's record, which on NFS asks the
    server. strace holds every flock until it detaches, with more Mounts and a
    Remove waiting on it than Swift's pool has threads (one per core): the locks
    must be waited for off that pool, or those calls take all of its threads,
    and every other call that runs there with them (Gets answer on the event loop)."""
    channel, stub = volumes_stub(pb, stall_daemon)
    mounts = [f"s{i}" for i in range((os.cpu_count() or 2) + 2)]
    root = os.path.join(workdir, "shared")
    try:
        stub.Create(pb.v.CreateRequest(name="r0", options={"size": "1"}), timeout=120)
        stub.Mount(pb.v.MountRequest(name="r0", id="m"), timeout=120)
        for name in [*mounts, "gone"]:
            stub.Create(pb.v.CreateRequest(name=name, options={"backing": "shared"}), timeout=120)
        calls = [lambda name=name: stub.Mount(pb.v.MountRequest(name=name, id="m"), timeout=300).mountpoint for name in mounts]
        calls.append(lambda: stub.Remove(pb.v.RemoveRequest(name="gone"), timeout=300) and "removed")
        pool = concurrent.futures.ThreadPoolExecutor(len(calls))
        strace = Strace(stall_daemon.proc.pid, ["-e", "trace=flock", "-e", "inject=flock:delay_enter=600000000"],
                        os.path.join(workdir, "strace.log"))
        try:
            futures = [pool.submit(call) for call in calls]
            time.sleep(2.0)   # the calls reach their lock within milliseconds
            # An Unmount of a local volume runs on Swift's pool and needs nothing of the
            # shared root: stuck behind the locks, it would wait for the 600 s delay.
            started = time.monotonic()
            stub.Unmount(pb.v.UnmountRequest(name="r0", id="m"), timeout=60)   # 60 s bounds that hang
            took = (time.monotonic() - started) * 1000
            stuck = sum(not f.done() for f in futures)
        finally:
            strace.stop()
        outcome = [f.result(timeout=300) for f in futures]
        pool.shutdown()
        assert stuck == len(calls), f"only {stuck} of {len(calls)} calls were pending on the stalled locks: the test did not stall them"
        assert outcome == [os.path.join(root, name) for name in mounts] + ["removed"]
        listed = {v.name for v in stub.List(pb.v.ListRequest(), timeout=60).volumes}
        assert "gone" not in listed and set(mounts) <= listed
        for name in mounts:
            stub.Unmount(pb.v.UnmountRequest(name=name, id="m"), timeout=120)
        with capsys.disabled():
            print(f"\n  {stuck} calls pending on the shared root's locks: an Unmount of a local volume meanwhile: {took:.0f} ms")
    finally:
        channel.close()
