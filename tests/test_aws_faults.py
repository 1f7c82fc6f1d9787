"""The fault table (issue 27): AWS misbehaving through the simulator, one row per
fault. Every operation completes, or fails with a clear retryable error (exit 5,
gRPC UNAVAILABLE, a message a person can act on), and once the fault is gone
the same request succeeds; nothing is lost, nothing is left behind.

Each row runs a representative operation under the fault: create + mount +
write + unmount of a relocatable (EBS) volume, a cross-zone move for the rows
about moves, a shared Mount for EFS. Then the fault is lifted, whatever failed
is tried again (as Docker or an operator would), the delayed detach is awaited,
and the crash matrix's invariants (tests/invariants.py) are checked. A row
records what the user saw, what the daemon retried (its `retrying AWS call`
log lines, by error), the faults the simulator injected and the EC2 calls the
operation cost (every attempt counts). The module prints the table;
RELIABILITY.md records it.

Time is scaled down where AWS is slow: "a snapshot pending for minutes" is 20 s
of `pending` against a --mount-wait of 3 s (the managed plugin's is 20 s,
against snapshots that take minutes)."""
import collections
import os
import re
import signal
import subprocess
import time

import pytest

from aws_fixtures import ec2sim, ec2sim_session, wait_for  # noqa: F401  (fixtures)
from aws_nodes import (OK, UNAVAILABLE, describe_volume, ec2_calls, stack_hash, status_field,  # noqa: F401
                       write_data, STACK)
from invariants import World, check

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: the simulated EBS data plane uses loop devices, "
                                       "and the daemon runs mkfs and mount")

GP2 = ["--opt", "size=1", "--opt", "ebstype=gp2"]
EC2 = ["CreateVolume", "DeleteVolume", "AttachVolume", "DetachVolume", "DescribeVolumes", "DescribeInstances",
       "CreateSnapshot", "DeleteSnapshot", "DescribeSnapshots", "CreateTags", "DeleteTags"]
# What a person reads in a retryable answer: what to do, or what is going on.
CLEAR = re.compile(r"try again|retry|moving|being moved|throttl|did not answer|not answer|unreachable|metadata",
                   re.IGNORECASE)
ERROR_FIELD = re.compile(r"\berror=\"?([A-Za-z0-9_.]+)")
ROWS = []
DOCKER_RETRY = 120   # a bound against hangs for Docker-like retries, never asserted on


# ---- a row ------------------------------------------------------------------------------------------

class Row:
    """What one fault did: filled as the row runs, printed at the end."""

    def __init__(self, fault, operation):
        self.fault, self.operation = fault, operation
        self.answers = []     # (step, exit code, message) of every answer that was not a success
        self.outcome = ""
        self.retried = collections.Counter()
        self.injected = {}
        self.calls = 0
        self.invariants = "not checked"
        self.notes = []
        self.violations = []  # what broke the promise: the test fails with them, once the row is recorded

    def saw(self, step, r):
        message = (r.stderr or r.stdout).strip().splitlines()[0] if (r.stderr or r.stdout).strip() else ""
        self.answers.append((step, r.returncode, message))

    def user_saw(self):
        if not self.answers:
            return "success"
        first = self.answers[0]
        more = f" (+{len(self.answers) - 1} more)" if len(self.answers) > 1 else ""
        return f"exit {first[1]} at {first[0]}: {first[2][:150]}{more}"

    def cells(self):
        retried = ", ".join(f"{n} {code}" for code, n in self.retried.most_common()) or "none"
        injected = ", ".join(f"{n} {kind}" for kind, n in sorted(self.injected.items())) or "none"
        outcome = self.outcome + (f" ({'; '.join(self.notes)})" if self.notes else "")
        if self.violations:
            outcome = "BROKEN: " + "; ".join(v.splitlines()[0][:110] for v in self.violations) + ". " + outcome
        return [self.fault, self.operation, outcome, self.user_saw(), retried, injected, str(self.calls),
                self.invariants]


def retryable(row, step, r):
    """An answer that is not a success must be exit 5 with a message a person
    understands; anything else is a violation (the row goes on to recover)."""
    row.saw(step, r)
    message = (r.stderr or "").strip()
    if r.returncode != UNAVAILABLE:
        row.violations.append(f"{step} answered exit {r.returncode}, not retryable (5)")
    elif not (message and CLEAR.search(message)):
        row.violations.append(f"{step}: exit 5, but the message says nothing to act on: {message!r}")
    return r.returncode == UNAVAILABLE


def done(row):
    """The test's verdict, after the row is complete."""
    assert not row.violations, "\n".join(row.violations)


def log_offset(node):
    try:
        return os.path.getsize(node.log)
    except OSError:
        return 0


def retries_since(node, offset):
    """The AWS calls the daemon retried since offset in its log, by error code."""
    with open(node.log, errors="replace") as f:
        f.seek(offset)
        text = f.read()
    found = collections.Counter()
    for line in text.splitlines():
        if "retrying AWS call" not in line:
            continue
        m = ERROR_FIELD.search(line)
        found[m.group(1) if m else "?"] += 1
    return found


def cost(row, sim):
    """The faults injected and the EC2 calls made since the stats were cleared."""
    stats = sim.stats()
    row.injected = dict(stats["faults"])
    row.calls = sum(ec2_calls(stats).values())


def once_ok(node, *args, timeout=DOCKER_RETRY):
    """After the fault is lifted: the request again, retried as Docker would while
    it answers exit 5 (a move still going on); anything else fails the row."""
    deadline = time.monotonic() + timeout
    while True:
        r = node.ctl(*args, check=False)
        if r.returncode == OK:
            return r
        assert r.returncode == UNAVAILABLE and time.monotonic() < deadline, (
            f"cloudstorctl {' '.join(args)} after the fault was lifted: exit {r.returncode}: {r.stderr.strip()}\n"
            f"--- daemon log ---\n{node.logtext()}")
        time.sleep(0.5)


def recovered(row, node, *args):
    """After the fault is lifted the request must succeed; if the daemon cannot
    get there by itself, that is a violation, and a restart (an operator's
    last resort) is tried so that the invariants can still be checked."""
    try:
        return once_ok(node, *args, timeout=30)
    except AssertionError as e:
        row.violations.append(f"after the fault was lifted, {args[1]} still failed: {str(e).splitlines()[0]}")
        row.notes.append("recovered only by restarting the daemon")
        node.restart()
        return once_ok(node, *args)


def detached(world, node, name):
    """The delayed detach done: nothing left attached once the fault is gone."""
    vid = status_field(node.inspect(name), "cloud_id")
    wait_for(lambda: not (describe_volume(world.ec2, vid) or {}).get("Attachments"), 60, interval=0.2,
             what=f"{name} ({vid}) detached after its detach delay")


def finish(row, world, names, final):
    problems = check(world, names, final)
    row.invariants = "hold" if not problems else "BROKEN: " + "; ".join(problems)
    row.violations += problems


# ---- operations ---------------------------------------------------------------------------------------

def basic(world, row, node, fault):
    """create + mount + write + unmount under the fault, each step once (a user
    or Docker sees its answer); then, the fault lifted, what failed and what
    followed is done again."""
    steps = [("create", ["volume", "create", "v", *GP2]), ("mount", ["volume", "mount", "v", "--id", "m1"]),
             ("unmount", ["volume", "unmount", "v", "--id", "m1"])]
    world.sim.admin("DELETE", "stats")
    offset = log_offset(node)
    ids = fault()
    failed_at = len(steps)
    for i, (step, args) in enumerate(steps):
        r = node.ctl(*args, check=False)
        if r.returncode != OK:
            retryable(row, step, r)
            failed_at = i
            break
        if step == "mount":
            world.digests["v"] = write_data(r.stdout.strip(), os.urandom(256 << 10))
    cost(row, world.sim)
    row.retried = retries_since(node, offset)
    lift(world, ids)
    for step, args in steps[failed_at:]:
        r = recovered(row, node, *args)
        if step == "mount":
            world.digests["v"] = write_data(r.stdout.strip(), os.urandom(256 << 10))
    row.outcome = "completed" if failed_at == len(steps) else f"failed at {steps[failed_at][0]}; the retry succeeded"
    detached(world, node, "v")
    cost(row, world.sim)     # every call, the retries after the fault and the delayed detach included
    return node


def move_setup(world, mover_spec=None, mount_wait=30):
    """v made in us-east-1a with data, still attached there (its detach delay);
    the mover: a node in us-east-1b."""
    a = world.node("us-east-1a")
    a.create("v", size=1, ebstype="gp2")
    world.with_data(a, "v")
    b = world.node("us-east-1b", spec=mover_spec, mount_wait=mount_wait)
    return a, b


def move(world, row, b, fault, during=None, attempts_timeout=DOCKER_RETRY, stop_on_fault_error=True):
    """A Mount in us-east-1b of the volume in us-east-1a under the fault, retried as
    Docker does while it answers exit 5: a move in progress is expected to answer
    so; another retryable answer ends the attempts under the fault. `during(proc)`
    runs while the first Mount is in flight."""
    world.sim.admin("DELETE", "stats")
    offset = log_offset(b)
    ids = fault()
    deadline = time.monotonic() + attempts_timeout
    done = False
    first = True
    while time.monotonic() < deadline:
        if first and during is not None:
            proc = b.ctl_popen("volume", "mount", "v", "--id", "b1")
            during(proc)
            out, err = proc.communicate(timeout=DOCKER_RETRY)
            r = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        else:
            r = b.ctl("volume", "mount", "v", "--id", "b1", check=False)
        first = False
        if r.returncode == OK:
            done = True
            break
        retryable(row, "mount", r)
        if stop_on_fault_error and not re.search(r"mov|snapshot", r.stderr, re.IGNORECASE):
            break
        time.sleep(0.5)
    cost(row, world.sim)
    row.retried = retries_since(b, offset)
    lift(world, ids)
    if not done:
        recovered(row, b, "volume", "mount", "v", "--id", "b1")
    b.holds.append(("v", "b1"))
    assert status_field(b.inspect("v"), "zone") == "us-east-1b", b.inspect("v")
    b.unmount("v", "b1")
    cost(row, world.sim)
    row.outcome = ("completed" if not row.answers else
                   "completed after retryable answers" if done else "failed; the retry succeeded")
    if row.answers:
        row.notes.append(f"{len(row.answers)} answer(s) before a success")
    return b


def lift(world, ids):
    """The fault gone: its rules removed, or (a callable) whatever else it did undone."""
    for rule in ids or ():
        if callable(rule):
            rule()
        else:
            world.sim.admin("DELETE", f"faults/{rule}", expect=None)
    world.sim.admin("DELETE", "faults")


def rule(**r):
    return lambda sim: sim.fault(**r)


# ---- the rows -----------------------------------------------------------------------------------------

@pytest.fixture
def world(ec2sim, workdir, request):
    w = World(ec2sim, workdir, len(ROWS))
    try:
        yield w
    finally:
        ec2sim.admin("DELETE", "faults")
        w.close()


def record(row):
    ROWS.append(row)
    print(" | ".join(row.cells()), flush=True)


SIMPLE = [
    ("none (the baseline)", None),
    ("throttling 30%", dict(type="throttle", rate=0.3, actions=EC2)),
    ("throttling 60%", dict(type="throttle", rate=0.6, actions=EC2)),
    ("throttling 90%", dict(type="throttle", rate=0.9, actions=EC2)),
    ("5xx burst: 5 x 500", dict(type="error", status=500, count=5, actions=EC2)),
    ("5xx burst: 12 x 503", dict(type="error", status=503, count=12, actions=EC2)),
    ("2 s latency on every call", dict(type="latency", seconds=2, actions=EC2)),
    ("dropped connections 30%, before the call", dict(type="drop", rate=0.3, actions=EC2)),
]


@pytest.mark.parametrize("fault,spec", SIMPLE, ids=[f for f, _ in SIMPLE])
def test_create_mount_write_unmount_under_the_fault(ec2sim, world, fault, spec):
    row = Row(fault, "create, mount, write, unmount")
    try:
        node = world.node("us-east-1a", detach_delay=1)
        basic(world, row, node, lambda: [ec2sim.fault(**spec)] if spec else [])
        finish(row, world, ["v"], node)
        done(row)
    finally:
        record(row)


MOVES = [
    ("dropped connections 30%, after the call took effect", dict(type="drop", rate=0.3, phase="after", actions=EC2)),
    ("5xx 30%, after the call took effect", dict(type="error", status=500, rate=0.3, phase="after", actions=EC2)),
]


@pytest.mark.parametrize("fault,spec", MOVES, ids=[f for f, _ in MOVES])
def test_a_move_under_answers_lost_after_the_call_took_effect(ec2sim, world, fault, spec):
    row = Row(fault, "cross-zone move")
    try:
        a, b = move_setup(world)
        world.user_snapshot(a, "v")
        move(world, row, b, lambda: [ec2sim.fault(**spec)])
        finish(row, world, ["v"], b)
        done(row)
    finally:
        record(row)


def test_a_snapshot_pending_for_minutes(ec2sim, world):
    row = Row("a snapshot pending 20 s (minutes, scaled: --mount-wait 3 s)", "cross-zone move")
    try:
        a, b = move_setup(world, mount_wait=3)
        world.user_snapshot(a, "v")
        ec2sim.config(delays={"snapshot": 20})
        move(world, row, b, lambda: [], stop_on_fault_error=False)
        ec2sim.config(delay=0.0)
        assert row.answers, "the Mount never answered while the snapshot was pending: it waited past --mount-wait"
        assert all(re.search(r"mov", m, re.IGNORECASE) for _, _, m in row.answers), row.answers
        finish(row, world, ["v"], b)
        done(row)
    finally:
        record(row)


def test_credentials_expire_during_a_move(ec2sim, world):
    """The role's credentials rotate while the move waits for its snapshot, and the
    ones the daemon holds expire at once (as after a clock jump or a suspended
    instance): AWS refuses them (RequestExpired); metadata has new ones."""
    row = Row("credentials rotate and the old ones expire, mid-move", "cross-zone move")
    try:
        a, b = move_setup(world)
        world.user_snapshot(a, "v")
        ec2sim.config(delays={"snapshot": 3})

        def rotate(proc):
            wait_for(lambda: any(c["action"] == "CreateSnapshot" for c in ec2sim.calls()) or proc.poll() is not None,
                     60, interval=0.05, what="the move's snapshot")
            ec2sim.admin("POST", f"nodes/{b.instance_id}/rotate-credentials", {"expire_old": True})
        move(world, row, b, lambda: [], during=rotate)
        expired = sum(1 for c in ec2sim.calls() if c["status"] == 400)
        row.notes.append(f"{expired} call(s) refused as expired")
        finish(row, world, ["v"], b)
        done(row)
    finally:
        ec2sim.config(delay=0.0)
        record(row)


def test_instance_metadata_down_at_start(ec2sim, world):
    """Metadata drops every connection while the daemon starts, and comes back
    once the daemon has tried it: the daemon waits for it, or exits with a
    message naming it, and starts once it is back."""
    row = Row("instance metadata down at start", "daemon start, then create, mount, write, unmount")
    try:
        node = world.node("us-east-1a", start=False, detach_delay=1)
        iid = node.instance_id
        ec2sim.admin("POST", f"nodes/{iid}/metadata", {"outage": "drop"})
        env = dict(os.environ, **ec2sim.daemon_env(node.node))
        os.makedirs(node.dir, exist_ok=True)
        with open(node.log, "a") as logf:
            node.proc = subprocess.Popen(node.args(), stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env)
        wait_for(lambda: ec2sim.admin("GET", f"nodes/{iid}")["metadata"]["refused"] > 0 or node.proc.poll() is not None,
                 30, what="the daemon asking metadata")
        try:
            node.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        ec2sim.admin("POST", f"nodes/{iid}/metadata", {"outage": None})
        if node.proc.poll() is None:
            from conftest import wait_for_socket
            wait_for_socket(node.socket, node.proc, node.log)
            row.outcome = "completed: the daemon waited for metadata"
        else:
            text = node.logtext(3000)
            rc = node.proc.returncode
            last = [line for line in text.splitlines() if "metadata" in line][-1:] or text.splitlines()[-1:]
            line = last[0] if last else ""
            row.answers.append(("start", rc, line[line.find("error=") + 6:] if "error=" in line else line))
            # A node whose metadata is not there yet at boot is not misconfigured:
            # the SDKs retry metadata; a managed plugin that exits is not restarted.
            row.violations.append(f"the daemon exited {rc} at its first failed metadata call instead of waiting for it")
            if "instance metadata" not in text:
                row.violations.append("its exit does not say that instance metadata failed")
            row.outcome = "a start with metadata back succeeded"
            node.proc = None
            node.start()
        after = Row("", "")
        basic(world, after, node, lambda: [])
        row.calls, row.retried = after.calls, after.retried
        finish(row, world, ["v"], node)
        done(row)
    finally:
        record(row)


def test_instance_metadata_down_mid_run(ec2sim, world):
    """Metadata goes down while the daemon runs, its credentials still valid for
    5 minutes but inside the 5 minutes in which it renews them (credential_ttl
    300 s): the operation needs no metadata, and the daemon has credentials."""
    row = Row("instance metadata down mid-run (credentials due for renewal, still valid)",
              "create, mount, write, unmount")
    try:
        node = world.node("us-east-1a", detach_delay=1, spec={"credential_ttl": 300})
        node.ls()
        iid = node.instance_id

        def back():
            ec2sim.admin("POST", f"nodes/{iid}/metadata", {"outage": None})

        def outage():
            ec2sim.admin("POST", f"nodes/{iid}/metadata", {"outage": "drop"})
            return [back]
        try:
            basic(world, row, node, outage)
        finally:
            ec2sim.admin("POST", f"nodes/{iid}/metadata", {"outage": None})
        finish(row, world, ["v"], node)
        done(row)
    finally:
        record(row)


def test_the_instance_stopped_mid_attach(ec2sim, world):
    """A Mount's attach is under way when its instance is stopped: the OS stops
    the daemon (SIGTERM), the instance stops with the volume attaching. Another
    node of the zone then mounts the volume."""
    row = Row("the instance stopped mid-attach", "first mount; then another node of the zone mounts")
    try:
        a = world.node("us-east-1a", detach_delay=1)
        a.create("v", size=1, ebstype="gp2")
        ec2sim.config(delays={"attach": 3})
        world.sim.admin("DELETE", "stats")
        offset = log_offset(a)
        proc = a.ctl_popen("volume", "mount", "v", "--id", "a1")
        wait_for(lambda: any(c["action"] == "AttachVolume" for c in ec2sim.calls()) or proc.poll() is not None, 60,
                 interval=0.05, what="the attach")
        rc = a.stop()                       # the OS shutting down
        ec2sim.stop_instance(a.instance_id)
        out, err = proc.communicate(timeout=60)
        r = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        row.notes.append(f"the daemon exited {rc} on SIGTERM")
        assert rc == 0, f"the daemon did not stop cleanly on SIGTERM mid-attach: {rc}\n{a.logtext()}"
        if r.returncode != OK:
            retryable(row, "mount", r)
            outcome = "the Mount failed retryable"
        else:
            outcome = "the daemon finished the Mount, then stopped"
        row.retried = retries_since(a, offset)
        ec2sim.config(delay=0.0)
        b = world.node("us-east-1a", detach_delay=1)
        point = once_ok(b, "volume", "mount", "v", "--id", "b1").stdout.strip()
        b.holds.append(("v", "b1"))
        world.digests["v"] = write_data(point, os.urandom(256 << 10))
        b.unmount("v", "b1")
        cost(row, ec2sim)
        row.outcome = outcome + "; another node of the zone mounted it (forced off the stopped instance)"
        detached(world, b, "v")
        finish(row, world, ["v"], b)
        done(row)
    finally:
        ec2sim.config(delay=0.0)
        record(row)


def test_efs_unreachable_for_a_shared_mount(ec2sim, world, workdir):
    """The shared root's file system stops answering writes (fsfreeze on the
    ext4 image that plays the EFS mount; a hard NFS mount whose server is
    unreachable blocks the same way) while a shared Mount runs. The daemon keeps
    answering other calls; the Mount completes once EFS is back, or fails
    retryable; nothing is left half-made."""
    row = Row("EFS unreachable (writes block) during a shared Mount", "shared mount, unmount")
    efs = ec2sim.client("efs")
    efs.create_file_system(CreationToken="general", PerformanceMode="generalPurpose",
                           Tags=[{"Key": "StackID", "Value": stack_hash(STACK)}])
    root = os.path.join(workdir, "efs")
    image = os.path.join(workdir, "efs.img")
    os.makedirs(root)
    subprocess.run(["truncate", "-s", "64M", image], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", image], check=True, capture_output=True)
    subprocess.run(["mount", "-o", "loop", image, root], check=True)
    frozen = False
    try:
        node = world.node("us-east-1a", extra_args=["--shared-root", root])
        node.ctl("volume", "create", "s", "--opt", "backing=shared")
        world.sim.admin("DELETE", "stats")
        subprocess.run(["fsfreeze", "--freeze", root], check=True)
        frozen = True
        proc = node.ctl_popen("volume", "mount", "s", "--id", "m1")
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            row.notes.append("the Mount waited while EFS was down")
        health = node.ctl("health", check=False, timeout=30)
        listed = node.ctl("volume", "ls", check=False, timeout=30)
        subprocess.run(["fsfreeze", "--unfreeze", root], check=True)
        frozen = False
        out, err = proc.communicate(timeout=DOCKER_RETRY)
        r = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        assert health.returncode == OK, f"the daemon stopped answering health while EFS was down: {health.stderr}"
        assert listed.returncode == OK, f"volume ls failed while EFS was down: {listed.stderr}"
        if r.returncode == OK:
            row.outcome = "completed once EFS answered again"
            node.holds.append(("s", "m1"))
        else:
            retryable(row, "mount", r)
            once_ok(node, "volume", "mount", "s", "--id", "m1")
            node.holds.append(("s", "m1"))
            row.outcome = "failed retryable; the retry succeeded"
        node.unmount("s", "m1")
        node.rm("s")
        cost(row, ec2sim)
        holds = os.path.join(root, ".cloudstor", "holds")
        assert all(not files for _, _, files in os.walk(holds)), f"a hold left: {list(os.walk(holds))}"
        wait_for(lambda: os.listdir(os.path.join(root, ".cloudstor", "trash")) == [], 30, what="the trash emptied")
        assert not os.path.exists(os.path.join(root, "s")), "the removed volume is still there"
        finish(row, world, [], node)
        done(row)
    finally:
        if frozen:
            subprocess.run(["fsfreeze", "--unfreeze", root], check=False)
        world.close()
        subprocess.run(["umount", root], check=False)
        record(row)


def test_print_the_fault_table(capsys):
    """Prints the table, whatever pytest captures (RELIABILITY.md records it)."""
    assert ROWS, "no row ran"
    head = ["fault", "operation", "outcome", "what the user saw", "retried by the daemon", "faults injected",
            "EC2 calls", "invariants"]
    lines = ["", "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in ROWS:
        lines.append("| " + " | ".join(c.replace("|", "/").replace("\n", " ") for c in row.cells()) + " |")
    broken = [row for row in ROWS if row.violations or row.invariants != "hold"]
    held = sum(1 for row in ROWS if row.invariants == "hold")
    lines.append(f"\n{len(ROWS) - len(broken)} of {len(ROWS)} rows keep the promise; the invariants hold after {held}")
    with capsys.disabled():
        print("\n".join(lines))
    assert not broken, [r.cells() for r in broken]
