"""Nothing slow stalls everything (issue 27). One event loop answers every call,
so a Get must never wait for a disk or a network file system. strace, attached
to the daemon, makes one of them slow on purpose (`inject=...:delay_enter`):

- the state directory's disk: every fsync and fdatasync takes 8 s, as on a disk
  that is failing or saturated, while a Remove commits to the state database;
- the shared root: every system call on it takes 5 s, as on an NFS or EFS mount
  whose server is away, while a Get of a shared volume reads its metadata.

Meanwhile Gets of another volume answer, each while the slow call is still
pending; their times are printed, not asserted."""
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
