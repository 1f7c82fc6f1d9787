#!/usr/bin/env python3
"""Issue 8's figures for `cloudstord --provider aws`, in one run against ec2sim:

  * EC2 calls per Docker operation, counted at the simulator (EC2 actions only;
    instance metadata, IAM and STS are not counted): create, first mount, same-zone
    move, cross-zone move, 100 Gets, List of 1,000 volumes;
  * the wall time of a same-zone and a cross-zone move, a backup, a restore and a
    modification,
    beside the simulator delays each has to wait for, and the overhead Cloudstor
    adds above them (and the EC2 calls of the backup and the restore);
  * scale: the stack at 100, 1,000 and 10,000 volumes (CLOUDSTOR_BENCH_SCALE=100,1000
    to stop sooner): a restarted daemon's start-up, first List, List and Get p50, RSS.

One ec2sim (moto behind it, SigV4 enforced) with fixed delays, three simulated EC2
instances (A and B in us-east-1a, C in us-east-1b), one cloudstord per instance
from --bin, driven over gRPC (grpcio, stubs generated from proto/ into a temporary
directory). Everything it starts is stopped by pid at the end; it leaves nothing
mounted and writes nothing but its report on stdout. Run as root (loop devices,
mkfs, mount):

    python3 tools/bench/aws_bench.py --bin .build/release
"""
import argparse
import collections
import concurrent.futures
import hashlib
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTS = os.path.join(ROOT, "tests")
STACK = "bench"
ZONE_A, ZONE_C = "us-east-1a", "us-east-1b"
OPTIONS = {"size": "1"}                      # ebstype defaults to standard
TAGGED_OPTIONS = "ebstype=standard,size=1"   # as the daemon writes CloudstorOptions
MANY = 1000
SCALE = [int(n) for n in os.environ.get("CLOUDSTOR_BENCH_SCALE", "100,1000,10000").split(",")]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"),
                   help="directory holding cloudstord (default: .build/release)")
    p.add_argument("--create-delay", type=float, default=1.0, help="simulator: seconds in 'creating'")
    p.add_argument("--attach-delay", type=float, default=1.0, help="simulator: seconds in 'attaching'")
    p.add_argument("--detach-delay", type=float, default=1.0, help="simulator: seconds in 'detaching'")
    p.add_argument("--snapshot-delay", type=float, default=2.0, help="simulator: seconds a snapshot is 'pending'")
    p.add_argument("--modify-delay", type=float, default=1.0, help="simulator: seconds a modification is 'modifying'")
    p.add_argument("--optimize-delay", type=float, default=1.0, help="simulator: seconds a modification is 'optimizing'")
    return p.parse_args()


sys.dont_write_bytecode = True   # importing tests/ leaves no __pycache__ behind
ARGS = parse_args()
ARGS.bin = os.path.abspath(ARGS.bin)
os.environ["CLOUDSTOR_BIN"] = ARGS.bin   # read by tests/conftest.py when aws_nodes imports it
sys.path.insert(0, TESTS)

import grpc  # noqa: E402

from aws_fixtures import Sim, loops_backed_by, wait_for  # noqa: E402
from aws_nodes import AWSNode, ec2_calls  # noqa: E402
from benchstubs import rss_mib, volume_stubs  # noqa: E402


def stack_hash(stack):
    return hashlib.md5(stack.encode()).hexdigest()


# ---- the daemons ---------------------------------------------------------------------------

class Node(AWSNode):
    """One cloudstord as the bench runs it: info log level, the brief's timings."""

    def __init__(self, sim, node, root):
        super().__init__(sim, node, root, stack=STACK, takeover_wait=10, mount_wait=100, detach_delay=0)

    def args(self):
        return [os.path.join(ARGS.bin, "cloudstord"), "--provider", "aws", "--socket", self.socket,
                "--state-dir", self.state, "--stack-id", self.stack, "--device-dir", self.node["device_dir"],
                "--takeover-wait", str(self.takeover_wait), "--mount-wait", str(self.mount_wait),
                "--detach-delay", str(self.detach_delay), "--snapshot-interval", "0", "--log-level", "info"]


def load_stubs():
    """volume_pb2, volume_pb2_grpc generated from proto/ into a directory removed at once."""
    with tempfile.TemporaryDirectory(prefix="csbench-pb-") as out:
        return volume_stubs(out)


PB, PBG = load_stubs()


class Client:
    """The daemon's Volumes service over its unix socket, as Docker's shim calls it."""

    def __init__(self, node):
        self.node = node
        self.channel = grpc.insecure_channel("unix://" + node.socket)
        self.stub = PBG.VolumesStub(self.channel)

    def close(self):
        self.channel.close()

    def create(self, name, options):
        self.stub.Create(PB.CreateRequest(name=name, options=options), timeout=120)

    def get(self, name):
        return self.stub.Get(PB.GetRequest(name=name), timeout=60).volume

    def list(self):
        return list(self.stub.List(PB.ListRequest(), timeout=120).volumes)

    def remove(self, name):
        self.stub.Remove(PB.RemoveRequest(name=name), timeout=120)

    def mount(self, name, mount_id, timeout=180):
        """Mount, retried on UNAVAILABLE (cloudstorctl's exit 5) as Docker retries it.
        (wall seconds, mount point, retryable answers seen)."""
        start = time.monotonic()
        retries = []
        while True:
            try:
                point = self.stub.Mount(PB.MountRequest(name=name, id=mount_id), timeout=150).mountpoint
                return time.monotonic() - start, point, retries
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() - start > timeout:
                    raise
                retries.append(e.details())
                time.sleep(0.5)

    def unmount(self, name, mount_id):
        start = time.monotonic()
        self.stub.Unmount(PB.UnmountRequest(name=name, id=mount_id), timeout=150)
        return time.monotonic() - start


# ---- counting ----------------------------------------------------------------------------------

class Counter:
    def __init__(self, sim):
        self.sim = sim

    def reset(self):
        self.sim.admin("DELETE", "stats")

    def take(self):
        """EC2 calls since the last reset (and resets)."""
        calls = collections.Counter(ec2_calls(self.sim.stats()))
        self.reset()
        return calls


def calls_text(calls):
    return ", ".join(f"{a} {n}" for a, n in sorted(calls.items(), key=lambda kv: (-kv[1], kv[0]))) or "-"


def settle(sim, predicate, what, timeout=60):
    """Waits on the simulator's own overlay (the admin API: no EC2 call counted)."""
    return wait_for(lambda: predicate(sim.volumes()), timeout, interval=0.1, what=what)


def docker_mount(client, counter, name, mount_id):
    """Docker's Get, Get, Mount, Get; (calls, mount seconds, mount point, retries)."""
    counter.reset()
    client.get(name)
    client.get(name)
    seconds, point, retries = client.mount(name, mount_id)
    client.get(name)
    calls = counter.take()
    if not os.path.ismount(point):
        raise AssertionError(f"{point} is not a mount point after Mount answered")
    return calls, seconds, point, retries


def docker_unmount(client, counter, name, mount_id, point):
    counter.reset()
    seconds = client.unmount(name, mount_id)
    calls = counter.take()
    if os.path.ismount(point):
        raise AssertionError(f"{point} is still mounted after Unmount answered")
    return calls, seconds


# ---- the run -----------------------------------------------------------------------------------

def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    uname_m = subprocess.run(["uname", "-m"], capture_output=True, text=True).stdout.strip() or platform.machine()
    return f"{uname_m}, {os.cpu_count()} cores, {model}"


def many_rows(names, rows, counter, restart, ready_after):
    """EC2 calls of 100 Gets and of Lists with the stack at 1,000 volumes."""
    # 100 Gets of existing names on a fresh daemon (B restarted: nothing cached)
    b, start_b = restart("B")
    for i in range(100):
        name = names[i * (MANY // 100)]
        if b.get(name).name != name:
            raise AssertionError(f"Get {name} answered another volume")
    rows.append(("100 Gets", "100 distinct names, on B just restarted", counter.take()))
    rows.append(("  its start-up", f"B restarted, until it serves ({ready_after['B']:.1f} s)", start_b))

    # List of 1,000 on a fresh daemon (A restarted)
    a, start_a = restart("A")
    t0 = time.monotonic()
    listed = a.list()
    list_calls = counter.take()
    if sorted(v.name for v in listed) != names:
        raise AssertionError(f"List answered {len(listed)} volumes, wanted the {MANY}")
    rows.append((f"List of {MANY:,}", "first List, on A just restarted", list_calls))
    rows.append(("  its start-up", f"A restarted, until it serves ({ready_after['A']:.1f} s)", start_a))
    # the same List once A's cache is past its lifetime (30 s): the List's own cost
    time.sleep(max(0.0, 31.0 - (time.monotonic() - t0)))
    counter.reset()
    if len(a.list()) != MANY:
        raise AssertionError(f"a List no longer answers the {MANY} volumes")
    rows.append(("  a later List", "on A, its cache older than its 30 s lifetime", counter.take()))


def read_from(path, offset):
    with open(path, errors="replace") as f:
        f.seek(offset)
        return f.read()


def timed(call):
    t0 = time.monotonic()
    call()
    return time.monotonic() - t0


def median(xs):
    return sorted(xs)[len(xs) // 2]


def run(sim, work, out, nodes, clients):
    """The whole bench; fills `nodes` and `clients` (label → …) as it starts them, so
    that the caller can stop them whatever happens."""
    delays = sim.admin("GET", "config")["delays"]
    d = {k: float(v) for k, v in delays.items()}
    counter = Counter(sim)

    def start(label, zone):
        info = sim.add_node(zone)
        nodes[label] = Node(sim, info, os.path.join(work, label))
        nodes[label].start()
        clients[label] = Client(nodes[label])

    for label, zone in (("A", ZONE_A), ("B", ZONE_A), ("C", ZONE_C)):
        start(label, zone)
    a, b, c = clients["A"], clients["B"], clients["C"]
    rows = []   # (operation, RPCs, calls)

    # create
    counter.reset()
    a.create("v", OPTIONS)
    rows.append(("create", "Create on A", counter.take()))
    first_id = a.get("v").status.cloud_id
    settle(sim, lambda s: s["volumes"].get(first_id, {}).get("state") == "available", "v to be available")

    # first mount on A
    mid = secrets.token_hex(32)
    calls, t_mount_a, point, _ = docker_mount(a, counter, "v", mid)
    rows.append(("first mount", "Get, Get, Mount, Get on A", calls))
    calls_u, t_unmount_a = docker_unmount(a, counter, "v", mid, point)
    rows.append(("  its unmount", "Unmount on A (detaches at once)", calls_u))
    rows.append(("  = Docker's sequence", "Get, Get, Mount, Get, Unmount on A", calls + calls_u))

    # same-zone move: B after A unmounted
    mid = secrets.token_hex(32)
    calls, t_mount_b, point, retries_b = docker_mount(b, counter, "v", mid)
    if b.get("v").status.cloud_id != first_id:
        raise AssertionError("a same-zone move changed the EBS volume")
    rows.append(("same-zone move", "Get, Get, Mount, Get on B", calls))
    calls_u, t_unmount_b = docker_unmount(b, counter, "v", mid, point)
    rows.append(("  its unmount", "Unmount on B (detaches at once)", calls_u))

    # cross-zone move: C in the other zone
    mid = secrets.token_hex(32)
    calls, t_mount_c, point, retries_c = docker_mount(c, counter, "v", mid)
    new_id = c.get("v").status.cloud_id
    if new_id == first_id:
        raise AssertionError("a cross-zone Mount kept the old EBS volume")
    rows.append(("cross-zone move", "Get, Get, Mount, Get on C", calls))
    # what the move still does after Mount answered (deleting the old volume, its snapshots)
    settle(sim, lambda s: first_id not in s["volumes"]
           and not any(sn["volume_id"] == first_id for sn in s["snapshots"].values()),
           "the old volume and its move snapshot to be deleted")
    time.sleep(1.0)
    after = counter.take()
    if after:
        rows.append(("  after its Mount", "the move's clean-up, until settled", after))
    # A backup of v where it is mounted (frozen while the snapshot starts), and a
    # volume restored from it: calls, and time above the simulator's delays.
    counter.reset()
    started = time.monotonic()
    backup = c.stub.CreateSnapshot(PB.CreateSnapshotRequest(name="v", label="bench"), timeout=120).snapshot.id
    t_backup = time.monotonic() - started
    rows.append(("backup", "CreateSnapshot on C (mounted: frozen as it starts)", counter.take()))
    settle(sim, lambda s: s["snapshots"].get(backup, {}).get("state") == "completed", "the backup to complete")
    counter.reset()
    started = time.monotonic()
    c.create("r", {"snapshot": backup})
    t_restore = time.monotonic() - started
    rows.append(("restore", "Create from the backup on C", counter.take()))
    mid_r = secrets.token_hex(32)
    calls, t_mount_r, point_r, _ = docker_mount(c, counter, "r", mid_r)
    rows.append(("  its first mount", "Get, Get, Mount, Get on C (no mkfs)", calls))
    docker_unmount(c, counter, "r", mid_r, point_r)
    c.remove("r")
    c.stub.DeleteSnapshot(PB.DeleteSnapshotRequest(id=backup), timeout=120)

    # A modification of v where it is mounted, followed until completed (Gets, which
    # call no cloud, poll the status the daemon keeps).
    counter.reset()
    started = time.monotonic()
    c.stub.Modify(PB.ModifyRequest(name="v", options={"size": "2", "ebstype": "gp3"}), timeout=120)
    t_modify_rpc = time.monotonic() - started
    while not c.get("v").status.modification.startswith("completed"):
        if time.monotonic() - started > 120:
            raise AssertionError(f"the modification of v did not complete: {c.get('v').status.modification}")
        time.sleep(0.05)
    t_modify = time.monotonic() - started
    rows.append(("modify", "Modify on C, then Gets until completed", counter.take()))

    calls_u, _ = docker_unmount(c, counter, "v", mid, point)
    rows.append(("  its unmount", "Unmount on C (detaches at once)", calls_u))
    c.remove("v")
    settle(sim, lambda s: new_id not in s["volumes"] and not s["snapshots"], "v to be removed")

    # The stack grows to 100, 1,000 and 10,000 volumes, made straight at the simulator
    # and tagged as the daemon tags them.
    tags = [{"Key": "StackID", "Value": stack_hash(STACK)}, {"Key": "CloudstorGeneration", "Value": "1"},
            {"Key": "CloudstorBacking", "Value": "relocatable"}, {"Key": "CloudstorOptions", "Value": TAGGED_OPTIONS}]
    names = []

    def make(chunk):
        client = sim.client("ec2", attempts=5)
        for name in chunk:
            client.create_volume(Size=1, VolumeType="standard", AvailabilityZone=ZONE_A,
                                 TagSpecifications=[{"ResourceType": "volume",
                                                     "Tags": [{"Key": "CloudstorVolume", "Value": name}, *tags]}])

    def grow(count):
        more = [f"m{i:05d}" for i in range(len(names), count)]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(make, [more[i::8] for i in range(8)]))
        names.extend(more)
        settle(sim, lambda s: sum(v["state"] == "available" for v in s["volumes"].values()) >= count,
               f"the {count:,} volumes to be available", timeout=600)

    # A fresh daemon serves at once and restores the last run's mounts meanwhile
    # (which lists the stack): the time from its start to the first answered Get of
    # a volume (what Docker asks first), and the EC2 calls of its start-up.
    ready_after = {}

    def restart(label):
        clients[label].close()
        counter.reset()
        offset = os.path.getsize(nodes[label].log) if os.path.exists(nodes[label].log) else 0
        t0 = time.monotonic()
        nodes[label].restart()
        clients[label] = Client(nodes[label])
        grpc.channel_ready_future(clients[label].channel).result(timeout=300)
        if names:
            clients[label].get(names[len(names) // 2])
        ready_after[label] = time.monotonic() - t0
        settle_restore(nodes[label], offset)
        return clients[label], counter.take()

    def settle_restore(node, offset, timeout=600):
        """Waits for the restore to end, so its calls count as the start-up's."""
        deadline = time.monotonic() + timeout
        while "restored the last run's volumes" not in read_from(node.log, offset):
            if time.monotonic() > deadline:
                raise AssertionError("the restored daemon did not finish restoring")
            time.sleep(0.1)

    def measure(count):
        """A restarted, then: its start-up, first List, List and Get p50 and idle RSS."""
        a, start_calls = restart("A")
        t0 = time.monotonic()
        listed = a.list()
        first = time.monotonic() - t0
        list_calls = counter.take()
        if sorted(v.name for v in listed) != names:
            raise AssertionError(f"List answered {len(listed)} volumes, wanted the {count:,}")
        lists = [timed(a.list) for _ in range(11)]
        gets = [timed(lambda n=names[i * count // 200]: a.get(n)) for i in range(200)]
        return {"count": count, "start": ready_after["A"], "start_calls": sum(start_calls.values()),
                "first": first, "list_calls": sum(list_calls.values()), "list": median(lists),
                "get": median(gets), "rss": rss_mib(nodes["A"].proc.pid)}

    scale = []
    for count in SCALE:
        grow(count)
        if count == MANY:
            many_rows(names, rows, counter, restart, ready_after)
        scale.append(measure(count))

    # ---- report ----
    out.append(f"machine: {machine()}")
    out.append(f"cloudstord: {os.path.join(ARGS.bin, 'cloudstord')}")
    out.append("simulator delays: " + ", ".join(f"{k} {d[k]:g} s" for k in ("create", "attach", "detach", "snapshot")))
    out.append("daemons: --detach-delay 0 --takeover-wait 10 --snapshot-interval 0; client: grpcio over the unix socket")
    out.append("")
    out.append("EC2 calls per Docker operation (counted at ec2sim; IMDS, IAM, STS not counted)")
    out.append("")
    w1 = max(len(r[0]) for r in rows)
    w2 = max(len(r[1]) for r in rows)
    out.append(f"| {'operation':<{w1}} | {'RPCs':<{w2}} | EC2 calls | by action")
    out.append(f"|-{'-' * w1}-|-{'-' * w2}-|-----------|----------")
    for op, rpcs, calls in rows:
        out.append(f"| {op:<{w1}} | {rpcs:<{w2}} | {sum(calls.values()):>9} | {calls_text(calls)}")
    out.append("")

    same_total = t_unmount_a + t_mount_b
    cross_total = t_unmount_b + t_mount_c
    moves = [
        ("first mount: Mount on A (mkfs.ext4 too)", t_mount_a, "attach", d["attach"], None),
        ("same zone: Mount on B", t_mount_b, "attach", d["attach"], retries_b),
        ("same zone: Unmount on A + Mount on B", same_total, "detach + attach", d["detach"] + d["attach"], None),
        ("cross zone: Mount on C", t_mount_c, "snapshot + create + attach",
         d["snapshot"] + d["create"] + d["attach"], retries_c),
        ("cross zone: Unmount on B + Mount on C", cross_total, "detach + snapshot + create + attach",
         d["detach"] + d["snapshot"] + d["create"] + d["attach"], None),
        ("backup: CreateSnapshot on C, mounted", t_backup, "none: it answers once started", 0.0, None),
        ("restore: Create from it + first Mount on C", t_restore + t_mount_r, "create + attach", d["create"] + d["attach"], None),
        ("modify: the Modify call on C", t_modify_rpc, "none: it answers once EC2 took it", 0.0, None),
        ("modify: until completed (mounted on C)", t_modify, "modify + optimize", d["modify"] + d["optimize"], None),
    ]
    out.append("Move time (wall time of the calls; Mount retried on UNAVAILABLE as Docker retries it)")
    out.append("")
    w1 = max(len(m[0]) for m in moves)
    w3 = max(len(f"{m[2]} = {m[3]:g} s") for m in moves)
    out.append(f"| {'move':<{w1}} | measured | {'simulator delays it waits for':<{w3}} | overhead")
    out.append(f"|-{'-' * w1}-|----------|-{'-' * w3}-|---------")
    for label, took, what, wait, retries in moves:
        waits = f"{what} = {wait:g} s"
        note = f" ({len(retries)} retryable answers)" if retries else ""
        out.append(f"| {label:<{w1}} | {took:>6.2f} s | {waits:<{w3}} | {took - wait:>+6.2f} s{note}")
    out.append("")
    out.append("The daemons detach at the last Unmount (--detach-delay 0), so the old node's Unmount "
               "waits for the detach and the new node's Mount finds the volume available.")
    out.append("")
    out.append("Scale: the stack at each size, A restarted; its first answer (a Get, from its start), its first List (EC2 calls "
               "counted), then 11 Lists and 200 Gets of distinct names (p50), and A's idle RSS")
    out.append("")
    out.append("| volumes | first answer s | start-up EC2 calls | first List s | EC2 calls | List p50 ms | × first "
               "| Get p50 ms | × first | RSS MiB | anonymous | file |")
    out.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    base = scale[0]
    for r in scale:
        rss, anon, file = r["rss"]
        out.append(f"| {r['count']:,} | {r['start']:.2f} | {r['start_calls']} | {r['first']:.2f} | {r['list_calls']} "
                   f"| {r['list'] * 1000:.1f} | {r['list'] / base['list']:.1f}× | {r['get'] * 1000:.3f} "
                   f"| {r['get'] / base['get']:.2f}× | {rss:.1f} | {anon:.1f} | {file:.1f} |")


def mounts_under(prefix):
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(prefix)]


def main():
    if os.geteuid() != 0:
        sys.exit("aws_bench: run as root (loop devices, mkfs, mount)")
    if not os.access(os.path.join(ARGS.bin, "cloudstord"), os.X_OK):
        sys.exit(f"aws_bench: {os.path.join(ARGS.bin, 'cloudstord')} is not built")
    sim = Sim(auth=True, delay=0.0, seed=1, extra=[
        "--create-delay", str(ARGS.create_delay), "--attach-delay", str(ARGS.attach_delay),
        "--detach-delay", str(ARGS.detach_delay), "--snapshot-delay", str(ARGS.snapshot_delay),
        "--modify-delay", str(ARGS.modify_delay), "--optimize-delay", str(ARGS.optimize_delay)])
    work = tempfile.mkdtemp(prefix="csbench-", dir="/tmp")
    out, nodes, clients, failed = [], {}, {}, None
    try:
        run(sim, work, out, nodes, clients)
    except BaseException as e:   # reported below, after the clean-up
        failed = e
    finally:
        problems, logs = cleanup(sim, work, nodes, clients)
    if failed is not None:
        print(f"aws_bench: FAILED: {type(failed).__name__}: {failed}", file=sys.stderr)
    if problems:
        print("aws_bench: clean-up: " + "; ".join(problems), file=sys.stderr)
    if failed is not None or problems:
        for label, text in logs.items():
            print(f"--- cloudstord {label} log (tail) ---\n{text}", file=sys.stderr)
        sys.exit(1)
    print("\n".join(out))


def cleanup(sim, work, nodes, clients):
    """Stops every daemon (SIGTERM, by pid) and the simulator; (problems, daemon logs)."""
    problems, logs = [], {}
    for client in clients.values():
        try:
            client.close()
        except Exception:
            pass
    for label, node in nodes.items():
        if node.running():
            rc = node.stop(signal.SIGTERM)
            if rc != 0:
                problems.append(f"cloudstord {label} exited {rc} on SIGTERM")
        logs[label] = node.logtext(4000)
    left = mounts_under(work + "/")
    for point in reversed(left):
        subprocess.run(["umount", "-l", point], capture_output=True)
    if left:
        problems.append(f"left mounted (now lazily unmounted): {left}")
    sim.stop()
    loops = loops_backed_by(sim.state_dir)
    if loops:
        problems.append(f"loop devices left by the simulator: {loops}")
    shutil.rmtree(sim.dir, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return problems, logs


if __name__ == "__main__":
    main()
