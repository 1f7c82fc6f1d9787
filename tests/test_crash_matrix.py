"""The crash matrix (issue 26): every operation, killed (SIGKILL) at each of its
steps, then recovered as an operator or Docker would, then checked against the
invariants with boto3 straight at the simulator and the file system.

A step is one mutating EC2 call. A clean run of the operation (the probe) lists
them in order; each cell then does the operation again from the same start and
has the simulator kill the daemon exactly at the Nth such call (`kill` rule of
tools/ec2sim): "before" it takes effect, or "after" it took effect but before
the daemon learnt so. No timing decides where a crash lands.

Invariants, after recovery, every hold released and one prune:
  - exactly one live EBS volume per name (none for a removed name), and no
    other volume or move snapshot of the stack left;
  - the data written before the operation is there (SHA-256);
  - no volume with two attachments, none attached or marked held or claimed
    by anyone;
  - the user's own snapshot of the volume (tags copied, as AWS Backup does) is
    untouched.

Shared volumes have no EC2 calls: their steps are system calls on the shared
file system, and `strace --inject` kills the daemon at the first call of each.

The test prints the matrix; RELIABILITY.md records it."""
import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import time

import pytest

from aws_fixtures import ec2sim, ec2sim_session, wait_for  # noqa: F401  (fixtures)
from aws_nodes import (NOT_FOUND, OK, UNAVAILABLE, AWSNode, data_digest, describe_volume, stack_hash,  # noqa: F401
                       stack_volumes, STACK, status_field, tags_of, write_data)
from conftest import Daemon, read
from invariants import World, check, killed, live, settle, until_ok  # noqa: F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: the simulated EBS data plane uses loop devices, "
                                       "and the daemon runs mkfs and mount")

GP2 = {"size": 1, "ebstype": "gp2"}
MUTATING = {"CreateVolume", "DeleteVolume", "AttachVolume", "DetachVolume", "CreateTags", "DeleteTags",
            "CreateSnapshot", "DeleteSnapshot"}
MATRIX = []   # (operation, step, phase, recovery, outcome)


# ---- steps ---------------------------------------------------------------------------------

def step_of(call):
    """(name, match) of a mutating call: CreateTags and DeleteTags by their first key."""
    key = call["params"].get("Tag.1.Key")
    if call["action"] in ("CreateTags", "DeleteTags") and key:
        return f"{call['action']} {key}", {"Tag.1.Key": key}
    return call["action"], None


def steps_of(calls):
    """The mutating calls in order, each with its number among calls of its kind."""
    seen, steps = {}, []
    for call in calls:
        if call["action"] not in MUTATING:
            continue
        name, match = step_of(call)
        seen[name] = seen.get(name, 0) + 1
        steps.append({"name": name, "action": call["action"], "match": match, "nth": seen[name],
                      "label": name if seen[name] == 1 else f"{name} #{seen[name]}"})
    return steps


# ---- operations -------------------------------------------------------------------------------

class Operation:
    """setup(world) → the actor, whose daemon is the one killed; run(world, actor)
    does the operation whole (the probe); act(world, actor) does it until the
    kill (a call it interrupts, or a background step it waits for);
    recover(world, actor, mode) → the node that reads the data back."""
    name = ""
    modes = ("restart",)
    names = ("v",)

    def run(self, world, actor):
        self.act(world, actor)

    def recover(self, world, actor, mode):
        actor.start()
        return actor


class Create(Operation):
    name = "create"

    def setup(self, world):
        return world.node()

    def act(self, world, actor):
        actor.create("v", check=False, **GP2)

    def recover(self, world, actor, mode):
        actor.start()
        until_ok(actor, "volume", "create", "v", "--opt", "size=1", "--opt", "ebstype=gp2")
        world.with_data(actor, "v", "after")
        return actor


class MountOperation(Operation):
    """A Mount on the actor: interrupted, then tried again as Docker does (a Mount
    that answered an error gets no Unmount)."""

    def act(self, world, actor):
        actor.ctl("volume", "mount", "v", "--id", "first", check=False)

    def recovering(self, world, actor, mode):
        actor.start()
        return actor

    def recover(self, world, actor, mode):
        node = self.recovering(world, actor, mode)
        point = until_ok(node, "volume", "mount", "v", "--id", "retry").stdout.strip()
        if "v" not in world.digests:   # a first mount: the data is written now
            world.digests["v"] = write_data(point, os.urandom(64 << 10))
        node.ctl("volume", "unmount", "v", "--id", "retry")
        return node


class FirstMount(MountOperation):
    name = "first mount"

    def setup(self, world):
        a = world.node()
        a.create("v", **GP2)
        wait_for(lambda: describe_volume(world.ec2, world.volume_id(a, "v"))["State"] == "available", 30,
                 what="the volume")
        world.user_snapshot(a, "v")
        return a


class SameZoneTakeover(MountOperation):
    name = "same-zone takeover"

    def setup(self, world):
        a = world.node()
        a.create("v", **GP2)
        world.with_data(a, "v")      # still attached to A: its detach delay
        world.user_snapshot(a, "v")
        return world.node()


class ForcedTakeover(MountOperation):
    name = "forced takeover"

    def setup(self, world):
        a = world.node()
        a.create("v", **GP2)
        point = a.mount("v", "a1")
        world.digests["v"] = write_data(point, os.urandom(128 << 10))
        world.user_snapshot(a, "v")
        a.kill()                                    # dies holding it mounted
        a.holds = []
        world.sim.stop_instance(a.instance_id, force=True)
        return world.node()


class CrossZoneMove(MountOperation):
    name = "cross-zone move"
    modes = ("restart", "another node")

    def setup(self, world):
        a = world.node("us-east-1a")
        a.create("v", **GP2)
        world.with_data(a, "v")      # still attached to A: the move detaches it
        world.user_snapshot(a, "v")
        return world.node("us-east-1b", mount_wait=60)

    def recovering(self, world, actor, mode):
        if mode == "restart":
            return super().recovering(world, actor, mode)
        # the node died: its instance stops, another node of its zone finishes
        world.sim.stop_instance(actor.instance_id, force=True)
        return world.node("us-east-1b", mount_wait=60)

    def recover(self, world, actor, mode):
        node = super().recover(world, actor, mode)
        if status_field(node.inspect("v"), "zone") != "us-east-1b":
            raise AssertionError(f"mounted in us-east-1b, yet the volume is elsewhere: {node.inspect('v')}")
        return node


class UnmountThenDetach(Operation):
    name = "unmount, delayed detach"

    def setup(self, world):
        a = world.node(detach_delay=1)
        a.create("v", **GP2)
        point = a.mount("v", "a1")
        world.digests["v"] = write_data(point, os.urandom(128 << 10))
        world.user_snapshot(a, "v")
        return a

    def run(self, world, actor):
        actor.unmount("v", "a1")
        wait_for(lambda: not describe_volume(world.ec2, world.volume_id(actor, "v"))["Attachments"], 30,
                 what="the delayed detach")

    def act(self, world, actor):
        actor.ctl("volume", "unmount", "v", "--id", "a1", check=False)
        actor.holds = []
        wait_for(lambda: not actor.running(), 30, what="the delayed detach (the kill rule)")

    def recover(self, world, actor, mode):
        actor.start()
        # Docker repeats an Unmount that failed; one that succeeded holds nothing now.
        actor.ctl("volume", "unmount", "v", "--id", "a1")
        return actor


class Remove(Operation):
    name = "remove"

    def setup(self, world):
        a = world.node(snapshot_interval=1, extra_args=["--snapshot-retention", "1"])
        a.create("v", **GP2)
        a.mount("v", "a1")
        wait_for(lambda: periodic(world), 30, what="a background snapshot")
        a.unmount("v", "a1")     # still attached (its detach delay): rm detaches it
        world.user_snapshot(a, "v")
        assert len(periodic(world)) == 1, periodic(world)   # retention 1, and no more once unmounted
        world.removed.add("v")
        return a

    def act(self, world, actor):
        actor.ctl("volume", "rm", "v", check=False)

    def recover(self, world, actor, mode):
        actor.start()
        until_ok(actor, "volume", "rm", "v", done_codes=(OK, NOT_FOUND))
        left = periodic(world)
        if left:
            raise AssertionError(f"Cloudstor's snapshots outlived the removed volume: {left}")
        return actor


def frozen(point):
    """Whether the filesystem at point is frozen, asked without blocking: freezing
    a frozen one is refused (EBUSY). One it froze itself it thaws at once."""
    r = subprocess.run(["fsfreeze", "--freeze", point], capture_output=True, text=True)
    if r.returncode == 0:
        subprocess.run(["fsfreeze", "--unfreeze", point], capture_output=True)
        return False
    return "busy" in r.stderr.lower()


def periodic(world):
    """Cloudstor's background snapshots (the user's carry no kind)."""
    found = world.ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:CloudstorKind", "Values": ["periodic"]}])
    return sorted(s["SnapshotId"] for s in found["Snapshots"])


class BackgroundSnapshot(Operation):
    name = "background snapshot + retention"

    def setup(self, world):
        a = world.node(snapshot_interval=1, extra_args=["--snapshot-retention", "1"])
        a.create("v", **GP2)
        point = a.mount("v", "a1")
        world.digests["v"] = write_data(point, os.urandom(128 << 10))
        world.user_snapshot(a, "v")
        return a

    def act(self, world, actor):
        wait_for(lambda: not actor.running(), 30, what="the background snapshot (the kill rule)")

    def run(self, world, actor):
        # A round with something to prune: a snapshot, and the retention's delete.
        wait_for(lambda: any(c["action"] == "DeleteSnapshot" for c in world.sim.calls()), 30, what="a retention delete")

    def recover(self, world, actor, mode):
        actor.start()     # the hold survives the crash: it is mounted again
        # thawed once the restart has restored the volume (the next snapshot freezes it an instant again)
        try:
            wait_for(lambda: not frozen(actor.mountpoint("v")), 10, interval=0.2, what="the filesystem thawed")
        except AssertionError:
            subprocess.run(["fsfreeze", "--unfreeze", actor.mountpoint("v")], capture_output=True)   # to clean up
            raise AssertionError("the filesystem stays frozen after the restart: every writer waits") from None
        before = set(periodic(world))
        wait_for(lambda: set(periodic(world)) - before, 30, what="background snapshots again")
        wait_for(lambda: len(periodic(world)) == 1, 30, what="the retention")
        actor.ctl("volume", "unmount", "v", "--id", "a1")
        actor.holds = []
        return actor


class Prune(Operation):
    name = "prune of orphans"

    def setup(self, world):
        a = world.node("us-east-1a")
        a.create("v", **GP2)
        world.with_data(a, "v")
        world.user_snapshot(a, "v")
        # a move into us-east-1b whose node dies before the commit, its instance stopped:
        c = world.node("us-east-1b", mount_wait=60)
        world.sim.kill_at(c.proc.pid, "CreateTags", match={"Tag.1.Key": "CloudstorSuperseded"})
        c.ctl("volume", "mount", "v", "--id", "c1", check=False)
        assert killed(c), f"the move did not reach its commit\n{c.logtext()}"
        world.sim.stop_instance(c.instance_id, force=True)
        # A takes the volume back (the stale claim cleared): the copy and snapshot are orphans
        until_ok(a, "volume", "mount", "v", "--id", "a2")
        a.ctl("volume", "unmount", "v", "--id", "a2")
        found = {o["kind"] for o in a.ls("--orphans")}
        assert found == {"volume", "snapshot"}, a.ls("--orphans")
        return a

    def act(self, world, actor):
        actor.ctl("volume", "prune", "--yes", check=False)


OPERATIONS = [Create(), FirstMount(), SameZoneTakeover(), ForcedTakeover(), CrossZoneMove(), UnmountThenDetach(),
              Remove(), BackgroundSnapshot(), Prune()]


# ---- running a matrix row ---------------------------------------------------------------------------

def fresh(sim):
    sim.reset()
    sim.config(delay=0.0, busy_if_mounted=True, seed=1)


def probe(op, sim, workdir):
    """A clean run of the operation: its steps, in order."""
    fresh(sim)
    world = World(sim, workdir, "probe")
    try:
        actor = op.setup(world)
        sim.clear_calls()
        op.run(world, actor)
        steps = steps_of(sim.calls())
        if isinstance(op, BackgroundSnapshot):   # up to the first retention delete
            first_delete = next(i for i, s in enumerate(steps) if s["action"] == "DeleteSnapshot")
            steps = steps[:first_delete + 1]
        return steps
    finally:
        world.close()


def run_row(op, sim, workdir):
    steps = probe(op, sim, workdir)
    assert steps, f"{op.name}: the probe made no mutating call"
    failures = []
    index = 0
    for step in steps:
        for phase in ("before", "after"):
            for mode in op.modes:
                if mode != "restart" and phase == "before":
                    continue   # another node finishing: once per step is enough
                index += 1
                fresh(sim)
                world = World(sim, workdir, index)
                outcome = "holds"
                try:
                    actor = op.setup(world)
                    sim.kill_at(actor.proc.pid, step["action"], nth=step["nth"], phase=phase, match=step["match"])
                    op.act(world, actor)
                    if not killed(actor):
                        raise AssertionError(f"the daemon was not killed at {step['label']}: the steps vary from run to run")
                    final = op.recover(world, actor, mode)
                    settle(world, final)
                    problems = check(world, op.names, final)
                    if problems:
                        outcome = "BROKEN: " + "; ".join(problems)
                except AssertionError as e:
                    outcome = f"BROKEN: {e}"
                finally:
                    world.close()
                MATRIX.append((op.name, step["label"], phase, mode, outcome))
                print(f"  {op.name} | {step['label']} | {phase} | {mode} | {outcome.splitlines()[0][:200]}", flush=True)
                if outcome != "holds":
                    failures.append(f"{step['label']} ({phase}, {mode}): {outcome}")
    return steps, failures


@pytest.mark.parametrize("op", OPERATIONS, ids=[op.name for op in OPERATIONS])
def test_every_step_of_every_operation_survives_a_crash(ec2sim, workdir, op):
    steps, failures = run_row(op, ec2sim, workdir)
    print(f"{op.name}: {len(steps)} steps: {', '.join(s['label'] for s in steps)}")
    assert not failures, f"{op.name}:\n" + "\n".join(failures)


# ---- shared volumes: the steps are system calls -------------------------------------------------------

# Each step: the system calls, the first of which (from the moment strace is
# attached) kills the daemon. A remove's files are deleted by the background
# trash emptying, given a delay here so that it runs after the remove answered.
SHARED_STEPS = {
    "create": ["openat", "mkdirat", "fchown", "fchmod", "fsync", "linkat", "unlinkat"],
    "remove": ["flock", "renameat,renameat2", "unlinkat"],
    "trash": ["getdents64", "unlinkat"],
}


@contextlib.contextmanager
def strace_kill(pid, syscalls, log):
    """Every thread of pid traced from now; the first of `syscalls` it makes kills it."""
    proc = subprocess.Popen(["strace", "-f", "-qq", "-p", str(pid), "-o", log, "-e", f"trace={syscalls}",
                             "-e", f"inject={syscalls}:signal=KILL"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def attached():
            tasks = os.listdir(f"/proc/{pid}/task")
            return tasks and all("TracerPid:\t0\n" not in read(f"/proc/{pid}/task/{t}/status") for t in tasks)
        wait_for(attached, 10, what="strace attached to every thread")
        yield
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(10)


def tree_digest(path):
    h = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for f in sorted(files):
            with open(os.path.join(root, f), "rb") as fh:
                h.update(os.path.relpath(os.path.join(root, f), path).encode() + fh.read())
    return h.hexdigest()


OPTS = ["-o", "backing=shared", "-o", "uid=0", "-o", "gid=0", "-o", "mode=0750"]


def shared_cell(workdir, op, syscalls):
    shared = os.path.join(workdir, "shared")
    os.makedirs(shared)
    flags = ["--shared-root", shared] + (["--trash-delay", "1s"] if op == "trash" else [])
    node = Daemon(os.path.join(workdir, "node"), flags, node_id="node-a")
    os.makedirs(node.dir, exist_ok=True)
    node.start()
    try:
        node.ctl("volume", "create", "keep", "-o", "backing=shared")
        with open(os.path.join(shared, "keep", "data.bin"), "wb") as f:
            f.write(os.urandom(64 << 10))
        keep = tree_digest(os.path.join(shared, "keep"))
        if op != "create":
            node.ctl("volume", "create", "s", *OPTS)
            for i in range(20):
                with open(os.path.join(shared, "s", f"f{i}"), "wb") as f:
                    f.write(b"x" * 100)
        if op == "trash":
            node.ctl("volume", "rm", "s")
        with strace_kill(node.proc.pid, syscalls, os.path.join(workdir, "strace.log")):
            if op == "create":
                node.ctl("volume", "create", "s", *OPTS, check=False)
            elif op == "remove":
                node.ctl("volume", "rm", "s", check=False)
            try:
                node.proc.wait(30)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"{op} made no {syscalls} call\n{read(node.log)[-3000:]}")
        assert node.proc.returncode == -signal.SIGKILL, f"exit {node.proc.returncode}, not killed at {syscalls}"
        node.start()
        # the operator repeats what failed: the volume is whole or absent, never half
        if op == "create":
            node.ctl("volume", "create", "s", *OPTS)
            assert os.stat(os.path.join(shared, "s")).st_mode & 0o7777 == 0o750, "made, yet not with its mode"
            assert os.path.isdir(os.path.join(shared, "s")) and "s" in node.ctl("volume", "ls").stdout.split()
        else:
            r = node.ctl("volume", "rm", "s", check=False)
            assert r.returncode in (OK, NOT_FOUND), r.stderr
            assert not os.path.exists(os.path.join(shared, "s")) and "s" not in node.ctl("volume", "ls").stdout.split()
        wait_for(lambda: os.listdir(os.path.join(shared, ".cloudstor", "trash")) == [], 30, what="the trash emptied")
        assert tree_digest(os.path.join(shared, "keep")) == keep, "another volume's data changed"
        node.ctl("volume", "mount", "keep", "--id", "m")
        node.ctl("volume", "unmount", "keep", "--id", "m")
        holds = os.path.join(shared, ".cloudstor", "holds")
        assert all(not files for _, _, files in os.walk(holds)), f"a hold left: {list(os.walk(holds))}"
        temporary = [e for e in os.listdir(os.path.join(shared, ".cloudstor")) if e not in ("volumes", "holds", "trash")]
        for entry in temporary:
            assert not os.listdir(os.path.join(shared, ".cloudstor", entry)), f"half-written files left in {entry}"
    finally:
        if node.proc.poll() is None:
            node.stop()


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (scripts/install-deps.sh installs it)")
@pytest.mark.parametrize("op,syscalls", [(op, s) for op, calls in SHARED_STEPS.items() for s in calls])
def test_shared_operations_survive_a_crash_at_each_step(workdir, op, syscalls):
    syscall_cell(f"shared {op}", syscalls, "restart", lambda: shared_cell(workdir, op, syscalls))


def syscall_cell(operation, syscalls, recovery, cell):
    """Runs one cell killed at a system call and records its row in the matrix."""
    outcome = "holds"
    try:
        cell()
    except AssertionError as e:
        outcome = f"BROKEN: {e}"
        raise
    finally:
        MATRIX.append((operation, syscalls, "at", recovery, outcome))
        print(f"  {operation} | {syscalls} | at | {recovery} | {outcome.splitlines()[0][:200]}", flush=True)


# ---- relocatable volumes on a cluster root: the steps are system calls too --------------------------

# Two daemons on one cluster root: node-a is killed at the first of each step's
# system calls, restarts, and the operator repeats what failed; node-b then
# mounts the volume and reads what node-a wrote.
CLUSTER_STEPS = {
    "create": ["openat", "ftruncate", "fsync", "linkat"],
    "mount": ["flock", "renameat,renameat2", "ioctl", "mount"],
    "unmount": ["umount2", "fsync", "unlinkat"],
    "remove": ["flock", "renameat,renameat2", "unlinkat"],
}


def cluster_cell(workdir, op, syscalls):
    root = os.path.join(workdir, "cluster")
    os.makedirs(root)
    control = os.path.join(root, ".cloudstor", "relocatable")
    a, b = (Daemon(os.path.join(workdir, n), ["--cluster-root", root, "--takeover-wait", "2s"], node_id=n) for n in ("node-a", "node-b"))
    for n in (a, b):
        os.makedirs(n.dir, exist_ok=True)
        n.start()
    try:
        digest = None
        if op != "create":
            a.ctl("volume", "create", "r", "-o", "size=1")
            path = a.ctl("volume", "mount", "r", "--id", "w").stdout.strip()
            digest = write_data(path, os.urandom(256 << 10))
            a.ctl("volume", "unmount", "r", "--id", "w")
        if op == "unmount":
            a.ctl("volume", "mount", "r", "--id", "m")
        with strace_kill(a.proc.pid, syscalls, os.path.join(workdir, "strace.log")):
            if op == "create":
                a.ctl("volume", "create", "r", "-o", "size=1", check=False)
            elif op == "mount":
                a.ctl("volume", "mount", "r", "--id", "m", check=False)
            elif op == "unmount":
                a.ctl("volume", "unmount", "r", "--id", "m", check=False)
            else:
                a.ctl("volume", "rm", "r", check=False)
            try:
                a.proc.wait(30)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"{op} made no {syscalls} call\n{read(a.log)[-3000:]}")
        assert a.proc.returncode == -signal.SIGKILL, f"exit {a.proc.returncode}, not killed at {syscalls}"
        a.start()
        # the operator repeats what failed (a mount is then let go, as Docker would)
        if op == "create":
            a.ctl("volume", "create", "r", "-o", "size=1")
        elif op == "mount":
            a.ctl("volume", "mount", "r", "--id", "m")
            a.ctl("volume", "unmount", "r", "--id", "m")
        elif op == "unmount":
            a.ctl("volume", "unmount", "r", "--id", "m")
        else:
            r = a.ctl("volume", "rm", "r", check=False)
            assert r.returncode in (OK, NOT_FOUND), r.stderr
            assert "r" not in b.ctl("volume", "ls").stdout.split()
            assert os.listdir(os.path.join(control, "images")) == [] and os.listdir(os.path.join(control, "trash")) == []
            return
        path = b.ctl("volume", "mount", "r", "--id", "b").stdout.strip()
        if digest is not None:
            assert data_digest(path) == digest, "the data written before the crash changed"
        b.ctl("volume", "unmount", "r", "--id", "b")
        fsck = subprocess.run(["e2fsck", "-f", "-n", os.path.join(control, "images", "r")], capture_output=True, text=True)
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
        holds = os.path.join(control, "holds")
        assert all(not files for _, _, files in os.walk(holds)), f"a hold left: {list(os.walk(holds))}"
        assert not os.listdir(os.path.join(control, "tmp")), "half-written files left"
    finally:
        for n in (a, b):
            if n.proc.poll() is None:
                n.stop()


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (scripts/install-deps.sh installs it)")
@pytest.mark.parametrize("op,syscalls", [(op, s) for op, calls in CLUSTER_STEPS.items() for s in calls])
def test_cluster_root_operations_survive_a_crash_at_each_step(workdir, op, syscalls):
    syscall_cell(f"cluster-root {op}", syscalls, "restart; another node mounts", lambda: cluster_cell(workdir, op, syscalls))


def test_print_the_matrix(capsys):
    """Prints the whole matrix, whatever pytest captures (RELIABILITY.md records
    it); every cell holds."""
    assert MATRIX, "no cell ran"
    lines = ["", "| operation | step | crash | recovery | outcome |", "| --- | --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(row[:4]) + f" | {row[4].splitlines()[0][:160]} |" for row in MATRIX]
    broken = [row for row in MATRIX if row[4] != "holds"]
    lines.append(f"\n{len(MATRIX) - len(broken)} of {len(MATRIX)} cells hold")
    with capsys.disabled():
        print("\n".join(lines))
    assert not broken, broken
