"""Cloudstor on a real three-node Docker Swarm (issue 10): tasks move between
nodes and zones and their data follows; shared volumes are seen by every task.

Three engines on one machine (tests/swarm.py: each in its own network, mount
and UTS namespace), each with its own Cloudstor playing one ec2sim instance:
node1 (manager) and node2 in us-east-1a, node3 in us-east-1b. Every scenario
runs twice: with plain plugins (cloudstord + shim in the engine's mount
namespace) and with the managed plugin `cloudstor:aws` built by
scripts/build-plugin.sh, pushed to a registry (Debian's docker-registry) and
installed from it on every node. The EFS is one directory every node mounts.

A timeline of every move is printed (run with -s to see it live) and written to
$CLOUDSTOR_SWARM_TIMELINE when set (make bench reads it)."""
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from aws_fixtures import Sim, wait_for
from aws_nodes import ec2_calls, live_volumes, stack_hash
from conftest import BIN, ROOT, read
from swarm import DRIVER, Network, comm, docker_json, ip, running_cluster
from registry import Registry

IMAGE = "cstest-busybox:latest"
STACK = "swarm-stack"
# How long EC2's transitional states last in the simulator (seconds): the floor of every move.
DELAYS = {"create": 1.0, "attach": 1.0, "detach": 1.0, "snapshot": 2.0}
# A counter: one line a second, "N HOSTNAME", continuing from the volume's last line.
COUNTER = ('f=/data/counter; n=$(tail -n 1 $f 2>/dev/null | cut -d" " -f1); n=${n:-0}; '
           'while true; do n=$((n+1)); echo "$n $NODE" >> $f; sleep 1; done')
TIMELINE = []


def efs_file_system(sim, token, mode):
    efs = sim.client("efs")
    return efs.create_file_system(CreationToken=token, PerformanceMode=mode,
                                  Tags=[{"Key": "StackID", "Value": stack_hash(STACK)}])["FileSystemId"]


@pytest.fixture(scope="module")
def network():
    if os.geteuid() != 0:
        pytest.fail("the Swarm tests need root (namespaces, dockerd, loop devices)")
    net = Network(secrets.token_hex(3)).start()
    try:
        yield net
    finally:
        net.stop()


@pytest.fixture(scope="module")
def sim(network):
    s = Sim(extra=("--host", network.host_address))
    try:
        yield s
    finally:
        s.cleanup()


@pytest.fixture(scope="module")
def plugin_dir():
    """The managed plugin's directory, built from the binaries under test (without
    mount.nfs4 where nfs-common is missing: the tests mount the "EFS" for it)."""
    out = tempfile.mkdtemp(prefix="csp-", dir="/tmp")
    try:
        r = subprocess.run([os.path.join(ROOT, "scripts", "build-plugin.sh"), "--without-nfs", BIN, out],
                           capture_output=True, text=True)
        assert r.returncode == 0, f"build-plugin.sh failed:\n{r.stdout}\n{r.stderr}"
        yield out
    finally:
        shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(scope="module")
def registry(network):
    root = tempfile.mkdtemp(prefix="csreg-", dir="/tmp")
    r = Registry(root, network.host_address).start()
    try:
        yield r
    finally:
        rc = r.stop()
        shutil.rmtree(root, ignore_errors=True)
    assert rc == -signal.SIGTERM, f"docker-registry exited {rc} on SIGTERM"   # it has no handler: the signal ends it


@pytest.fixture(scope="module", params=["plain", "managed"])
def cluster(request, network, sim, plugin_dir, registry):
    sim.reset()
    sim.config(delays=DELAYS, busy_if_mounted=True)
    efs_file_system(sim, "general", "generalPurpose")
    efs_file_system(sim, "maxio", "maxIO")
    def write_timeline():
        if os.environ.get("CLOUDSTOR_SWARM_TIMELINE"):
            with open(os.environ["CLOUDSTOR_SWARM_TIMELINE"], "w") as f:
                json.dump(TIMELINE, f, indent=1)

    with running_cluster("csw-", network, sim, request.param, STACK, IMAGE, plugin_dir, registry, write_timeline) as c:
        yield c


# ---- helpers ---------------------------------------------------------------------------------

def tasks(cluster, service):
    return docker_json(cluster.manager, "service", "ps", "--no-trunc", service)


def running_task(cluster, service, timeout=180, besides=()):
    """(node name, container id) of the service's one running task, not one of `besides`."""
    deadline = time.monotonic() + timeout
    while True:
        for t in tasks(cluster, service):
            if t["CurrentState"].startswith("Running") and t["DesiredState"] == "Running" and t["ID"] not in besides:
                node = cluster.node(t["Node"])
                cid = container_of(node, t["ID"])
                if cid:
                    return t["ID"], node, cid
        if time.monotonic() > deadline:
            states = [(t["Node"], t["CurrentState"], t["Error"]) for t in tasks(cluster, service)]
            raise AssertionError(f"{service}: no running task after {timeout} s: {states}\n{logs_of(cluster)}")
        time.sleep(0.2)


def container_of(node, task_id):
    ids = node.run("ps", "-q", "--filter", f"label=com.docker.swarm.task.id={task_id}").stdout.split()
    return ids[0] if ids else None


def logs_of(cluster, tail=3000):
    return "\n".join(f"--- {n.name} cloudstor ---\n{n.cloudstor_log()[-tail:]}" for n in cluster.nodes)


def read_file(node, cid, path):
    return node.run("exec", cid, "cat", path).stdout


def counter_lines(node, cid):
    return [line.split() for line in read_file(node, cid, "/data/counter").splitlines() if line.strip()]


def wait_lines(node, cid, count, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        lines = counter_lines(node, cid)
        if len(lines) >= count:
            return lines
        if time.monotonic() > deadline:
            raise AssertionError(f"{node.name}: {len(lines)} counter lines after {timeout} s, wanted {count}")
        time.sleep(0.2)


def assert_counter_continues(lines, hosts):
    """1, 2, 3, … with no gap; a number may repeat once where the task moved (the line in flight)."""
    numbers = [int(n) for n, _ in lines]
    assert numbers[0] == 1, f"the counter starts at {numbers[0]}"
    for prev, cur in zip(numbers, numbers[1:]):
        assert cur in (prev + 1, prev), f"the counter jumps from {prev} to {cur}: {lines}"
    repeats = sum(1 for a, b in zip(numbers, numbers[1:]) if a == b)
    assert repeats <= len(hosts) - 1, f"{repeats} repeated lines for {len(hosts) - 1} moves: {lines}"
    seen = []
    for _, host in lines:
        if not seen or seen[-1] != host:
            seen.append(host)
    assert seen == hosts, f"the counter ran on {seen}, wanted {hosts}"


def ebs_client(cluster):
    return cluster.sim.client("ec2")


class Move:
    """Times one move, from the command that causes it to the new task running: the part
    Cloudstor's Mount calls on the new node took (EC2's waits included), Docker's
    part (the rest: stopping the old task, scheduling, starting the new one), and the
    EC2 calls of the whole cluster meanwhile."""

    def __init__(self, cluster, what):
        self.cluster, self.what = cluster, what
        self.mounts = {n.name: len(n.daemon_log_text()) for n in cluster.live_nodes()}
        self.calls = ec2_calls(cluster.sim.stats())
        self.started = time.monotonic()

    def done(self, node):
        total = time.monotonic() - self.started
        cloudstor = node.mount_work_ms(since=self.mounts.get(node.name, 0)) / 1000
        now = ec2_calls(self.cluster.sim.stats())
        calls = {k: v - self.calls.get(k, 0) for k, v in now.items() if v - self.calls.get(k, 0)}
        row = {"plugin": self.cluster.plugin, "move": self.what, "total_s": round(total, 2),
               "cloudstor_s": round(cloudstor, 2), "docker_s": round(total - cloudstor, 2),
               "ec2_calls": sum(calls.values()), "calls": calls}
        TIMELINE.append(row)
        print(f"\n[timeline] {row['plugin']:7} {self.what:10}: {total:6.2f} s drain to running = "
              f"Docker {row['docker_s']:5.2f} s + Cloudstor {cloudstor:5.2f} s "
              f"({row['ec2_calls']} EC2 calls: {calls})")
        return row


def drain(cluster, node):
    cluster.manager.run("node", "update", "--availability", "drain", node.name)


def activate(cluster, node):
    cluster.manager.run("node", "update", "--availability", "active", node.name)


# ---- scenarios -------------------------------------------------------------------------------

def test_a_task_and_its_relocatable_volume_follow_drains_within_and_across_zones(cluster):
    """Scenarios 1 and 2: a counter on a templated relocatable volume; a drain moves it to
    the other us-east-1a node (same EBS volume), another drain to us-east-1b (by snapshot)."""
    m = cluster.manager
    node3 = cluster.node("node3")
    m.run("node", "update", "--availability", "pause", node3.name)   # first on a us-east-1a node
    m.run("service", "create", "--detach", "--name", "counter", "--replicas", "1", "--stop-grace-period", "2s",
          "--env", "NODE={{.Node.Hostname}}",
          "--mount", f"type=volume,volume-driver={DRIVER},source={{{{.Service.Name}}}}-{{{{.Task.Slot}}}}-vol,"
                     "destination=/data,volume-opt=backing=relocatable,volume-opt=size=1,volume-opt=ebstype=gp2",
          IMAGE, "sh", "-c", COUNTER)
    task, first, cid = running_task(cluster, "counter")
    assert first.zone == "us-east-1a"
    wait_lines(first, cid, 3)
    ec2 = ebs_client(cluster)
    [volume] = live_volumes(ec2, "counter-1-vol", STACK)
    assert volume["AvailabilityZone"] == "us-east-1a" and volume["Size"] == 1 and volume["VolumeType"] == "gp2"

    # 1. the other us-east-1a node: the same EBS volume
    move = Move(cluster, "same zone")
    drain(cluster, first)
    task2, second, cid2 = running_task(cluster, "counter", besides=(task,))
    move.done(second)
    assert second.zone == "us-east-1a" and second is not first
    [after] = live_volumes(ec2, "counter-1-vol", STACK)
    assert after["VolumeId"] == volume["VolumeId"], "a same-zone move must keep the EBS volume"
    lines = wait_lines(second, cid2, len(counter_lines(second, cid2)) + 3)
    assert_counter_continues(lines, [first.name, second.name])

    # 2. us-east-1b: a new EBS volume from a snapshot, exactly one live afterwards
    activate(cluster, node3)
    move = Move(cluster, "cross zone")
    drain(cluster, second)
    task3, third, cid3 = running_task(cluster, "counter", besides=(task, task2))
    move.done(third)
    assert third is node3
    lines = wait_lines(third, cid3, len(counter_lines(third, cid3)) + 3)
    assert_counter_continues(lines, [first.name, second.name, third.name])
    live = live_volumes(ec2, "counter-1-vol", STACK)
    assert [v["AvailabilityZone"] for v in live] == ["us-east-1b"], f"live volumes after the move: {live}"
    assert live[0]["VolumeId"] != volume["VolumeId"]
    activate(cluster, first)
    activate(cluster, second)


def wait_running(cluster, service, replicas, timeout=180):
    """{task slot: node} once `replicas` tasks of the service run."""
    deadline = time.monotonic() + timeout
    while True:
        running = {t["Name"].rsplit(".", 1)[1]: t["Node"] for t in tasks(cluster, service)
                   if t["CurrentState"].startswith("Running") and t["DesiredState"] == "Running"}
        if len(running) == replicas:
            return running
        if time.monotonic() > deadline:
            states = [(t["Name"], t["Node"], t["CurrentState"], t["Error"]) for t in tasks(cluster, service)]
            raise AssertionError(f"{service}: {len(running)} of {replicas} running after {timeout} s: {states}\n"
                                 f"{logs_of(cluster)}")
        time.sleep(0.3)


def wait_file_lines(path, count, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        lines = read(path).splitlines()
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


def test_tasks_on_every_node_share_one_volume_and_per_task_shared_volumes_stay_apart(cluster):
    """Scenario 3: the seed's ping1 on sharedvol1, 5 replicas on 3 nodes appending to one
    file; and the per-task form on Max I/O, 3 replicas, 3 volumes."""
    m = cluster.manager
    m.run("volume", "create", "-d", DRIVER, "--opt", "backing=shared", "mysharedvol1")   # the seed, verbatim
    assert os.path.isdir(os.path.join(cluster.efs, "mysharedvol1"))
    m.run("service", "create", "--detach", "--replicas", "5", "--name", "ping1",
          "--mount", f"type=volume,volume-driver={DRIVER},source=sharedvol1,destination=/shareddata",
          "--env", "SLOT={{.Task.Slot}}", "--env", "NODE={{.Node.Hostname}}",
          IMAGE, "sh", "-c", 'echo "$SLOT $NODE" >> /shareddata/lines; exec sleep 100000')
    running = wait_running(cluster, "ping1", 5)
    assert set(running.values()) == {n.name for n in cluster.nodes}, f"5 tasks not spread on 3 nodes: {running}"
    lines = wait_file_lines(os.path.join(cluster.efs, "sharedvol1", "lines"), 5)
    assert sorted(lines) == sorted(f"{slot} {node}" for slot, node in running.items()), \
        f"lines on the shared volume: {lines}, tasks: {running}"

    m.run("service", "create", "--detach", "--replicas", "3", "--name", "pertask",
          "--mount", f"type=volume,volume-driver={DRIVER},source={{{{.Service.Name}}}}-{{{{.Task.Slot}}}}-vol,"
                     "destination=/mydata,volume-opt=backing=shared,volume-opt=perfmode=maxio",
          "--env", "SLOT={{.Task.Slot}}", IMAGE, "sh", "-c", 'touch /mydata/slot-$SLOT; exec sleep 100000')
    running = wait_running(cluster, "pertask", 3)
    for slot in running:
        path = os.path.join(cluster.efs_maxio, f"pertask-{slot}-vol")
        deadline = time.monotonic() + 30
        while not os.listdir(path) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert os.listdir(path) == [f"slot-{slot}"], f"pertask-{slot}-vol holds {os.listdir(path)}"
    for service in ("ping1", "pertask"):
        m.run("service", "rm", service)


def test_every_node_lists_the_same_volumes_and_removes_what_no_task_holds(cluster):
    """Scenario 5, with the seed's io1 volume and its templated relocatable service."""
    m = cluster.manager
    node3 = cluster.node("node3")
    ec2 = ebs_client(cluster)
    m.run("volume", "create", "-d", DRIVER, "--opt", "ebstype=io1", "--opt", "size=25", "--opt", "iops=1000",
          "--opt", "backing=local", "mylocalvol1")   # the seed, verbatim
    [vol] = live_volumes(ec2, "mylocalvol1", STACK)
    assert (vol["VolumeType"], vol["Size"], vol["Iops"]) == ("io1", 25, 1000)
    m.run("service", "create", "--detach", "--replicas", "1", "--name", "seedlocal",
          "--mount", f"type=volume,volume-driver={DRIVER},source={{{{.Service.Name}}}}-{{{{.Task.Slot}}}}-vol,"
                     "destination=/mydata,volume-opt=backing=local,volume-opt=size=25,volume-opt=ebstype=gp2",
          IMAGE, "sh", "-c", "exec sleep 100000")
    _, holder, _ = running_task(cluster, "seedlocal")
    [vol] = live_volumes(ec2, "seedlocal-1-vol", STACK)
    assert (vol["VolumeType"], vol["Size"]) == ("gp2", 25)

    listed = {n.name: sorted(n.run("volume", "ls", "-q", "--filter", f"driver={DRIVER}").stdout.split())
              for n in cluster.nodes}
    assert len({tuple(v) for v in listed.values()}) == 1, f"nodes list different volumes: {listed}"
    assert {"mylocalvol1", "mysharedvol1", "sharedvol1", "seedlocal-1-vol"} <= set(listed["node1"]), listed

    # Removed from a node that never used it: gone from the cloud and from every node's list.
    node3.run("volume", "rm", "mylocalvol1")
    assert live_volumes(ec2, "mylocalvol1", STACK) == []
    for n in cluster.nodes:
        assert "mylocalvol1" not in n.run("volume", "ls", "-q").stdout.split()
    node3.run("volume", "rm", "mysharedvol1")
    assert not os.path.exists(os.path.join(cluster.efs, "mysharedvol1"))

    # Held by a running task: refused from another node, naming the holder.
    other = next(n for n in cluster.nodes if n is not holder)
    r = other.run("volume", "rm", "seedlocal-1-vol", check=False)
    assert r.returncode != 0 and holder.instance_id in r.stderr, (r.returncode, r.stderr)
    assert len(live_volumes(ec2, "seedlocal-1-vol", STACK)) == 1
    m.run("service", "rm", "seedlocal")


def test_ebs_options_through_docker_restore_encryption_throughput_and_a_refusal(cluster):
    """Issue 29's options as a Docker user gives them (--opt, volume-opt=): an encrypted
    gp3 volume with its throughput, backed up, restored larger through a --mount with
    volume-opt=snapshot=, its file kept; an option that does not fit refused by Docker
    with Cloudstor's message, nothing made."""
    node = cluster.node("node1")
    ec2 = ebs_client(cluster)
    # This stack has an EFS: shared is the default backing.
    node.run("volume", "create", "-d", DRIVER, "--opt", "backing=relocatable", "--opt", "size=1", "--opt", "ebstype=gp3",
             "--opt", "throughput=200", "--opt", "encrypted=true", "opts-src")
    [src] = live_volumes(ec2, "opts-src", STACK)
    assert (src["VolumeType"], src["Throughput"], src["Encrypted"]) == ("gp3", 200, True), src
    node.run("run", "--rm", "-v", "opts-src:/data", IMAGE, "sh", "-c", "echo kept > /data/f && sync")
    snap = node.ctl("snapshot", "create", "opts-src", "--label", "docker-test").stdout.strip()
    wait_for(lambda: ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]["State"] == "completed", 60,
             what=f"backup {snap} to complete")
    out = node.run("run", "--rm", "--mount",
                   f"type=volume,src=opts-restored,dst=/data,volume-driver={DRIVER},volume-opt=backing=relocatable,"
                   f"volume-opt=snapshot={snap},volume-opt=size=2,volume-opt=ebstype=gp3",
                   IMAGE, "cat", "/data/f").stdout
    assert out.strip() == "kept", out
    [restored] = live_volumes(ec2, "opts-restored", STACK)
    assert (restored["SnapshotId"], restored["Size"], restored["Encrypted"]) == (snap, 2, True), restored

    r = node.run("volume", "create", "-d", DRIVER, "--opt", "backing=relocatable", "--opt", "size=1", "--opt", "ebstype=gp2",
                 "--opt", "throughput=200", "opts-bad", check=False)
    assert r.returncode != 0 and "option throughput does not apply to ebstype=gp2" in r.stderr, r.stderr
    assert live_volumes(ec2, "opts-bad", STACK) == []
    for name in ("opts-src", "opts-restored"):
        node.run("volume", "rm", name)
    node.ctl("snapshot", "rm", snap)


def test_a_move_longer_than_dockers_plugin_timeout_answers_a_clear_retryable_error(cluster):
    """A managed plugin's engine gives a call 30 s, then re-sends it with an empty body:
    a Mount waiting on a 40 s snapshot answers before that, saying how far the move
    is; the move goes on, and `docker run` works once it is done."""
    node1, node3 = cluster.node("node1"), cluster.node("node3")
    node1.run("volume", "create", "-d", DRIVER, "--opt", "backing=relocatable", "--opt", "size=1",
              "--opt", "ebstype=gp2", "slowmove")
    cluster.sim.config(delays=dict(DELAYS, snapshot=40.0))
    try:
        started = time.monotonic()
        r = node3.run("run", "--rm", "--network", "none", "-v", "slowmove:/data", IMAGE, "true", check=False)
        answered = time.monotonic() - started
    finally:
        cluster.sim.config(delays=DELAYS)
    assert r.returncode != 0, "docker run succeeded while the volume was still being moved"
    assert "moving slowmove from us-east-1a to us-east-1b" in r.stderr and "try again" in r.stderr, r.stderr
    print(f"\n[timeline] {cluster.plugin:7} a 40 s move: docker run answered in {answered:.1f} s: {r.stderr.strip()}")
    assert "empty request body" not in node3.cloudstor_log(), "the engine re-sent a timed-out call"
    deadline = time.monotonic() + 120
    while True:
        r = node3.run("run", "--rm", "--network", "none", "-v", "slowmove:/data", IMAGE, "sh", "-c",
                      "echo moved > /data/f && cat /data/f", check=False)
        if r.returncode == 0:
            break
        assert "try again" in r.stderr and time.monotonic() < deadline, r.stderr
        time.sleep(2)
    assert r.stdout.strip() == "moved"
    assert [v["AvailabilityZone"] for v in live_volumes(ebs_client(cluster), "slowmove", STACK)] == ["us-east-1b"]
    node3.run("volume", "rm", "slowmove")


def test_cloudstor_restarts_under_a_running_task_and_keeps_its_hold(cluster):
    """An upgrade: the managed plugin disabled with -f, upgraded from the registry
    (v1 to v2) and enabled again (plain: the daemon and shim stopped and started);
    the task runs on, its hold is kept, and its Unmount reaches the new daemon,
    which releases the volume."""
    m = cluster.manager
    m.run("service", "create", "--detach", "--name", "upgrade", "--replicas", "1", "--stop-grace-period", "2s",
          "--env", "NODE={{.Node.Hostname}}",
          "--mount", f"type=volume,volume-driver={DRIVER},source=upgrade-vol,destination=/data,"
                     "volume-opt=backing=relocatable,volume-opt=size=1,volume-opt=ebstype=gp2",
          IMAGE, "sh", "-c", COUNTER)
    task, node, cid = running_task(cluster, "upgrade")
    before = wait_lines(node, cid, 2)
    started = time.monotonic()
    node.restart_cloudstor(upgrade_to=cluster.registry.ref("v2"))
    took = time.monotonic() - started
    TIMELINE.append({"event": "upgrade", "plugin": cluster.plugin, "seconds": round(took, 2)})
    print(f"\n[timeline] {cluster.plugin:7} {'upgrade' if cluster.plugin == 'managed' else 'restart':10}: {took:6.2f} s "
          "from the stop to Cloudstor serving again, under a running task")
    if cluster.plugin == "managed":
        # What runs is v2's (the engine's PluginReference keeps naming v1 after an upgrade).
        daemon = next(pid for pid in node.cgroup.pids() if comm(pid) == "cloudstord")
        assert read(f"/proc/{daemon}/root/etc/cloudstor-release") == "v2\n", "the running daemon is not v2's"
    info = json.loads(node.ctl("volume", "inspect", "upgrade-vol").stdout)
    assert info["status"]["state"] == "VOLUME_STATE_MOUNTED" and info["status"].get("mount_count") == 1, info
    lines = wait_lines(node, cid, len(before) + 2)
    assert lines[:len(before)] == before
    assert [int(n) for n, _ in lines] == list(range(1, len(lines) + 1)), f"a line was lost or repeated: {lines}"
    assert [t["ID"] for t in tasks(cluster, "upgrade") if t["CurrentState"].startswith("Running")] == [task]
    assert "upgrade-vol" in node.run("volume", "ls", "-q").stdout.split()
    m.run("service", "rm", "upgrade")
    deadline = time.monotonic() + 60
    while json.loads(node.ctl("volume", "inspect", "upgrade-vol").stdout)["status"]["state"] == "VOLUME_STATE_MOUNTED":
        assert time.monotonic() < deadline, "the task's Unmount did not reach the restarted daemon"
        time.sleep(0.2)


def test_a_task_on_a_node_that_dies_restarts_elsewhere_with_its_data(cluster):
    """Scenario 4: node2 dies (engine, containers, Cloudstor killed; its instance stopped):
    the task restarts on node1, the volume force-detached from the stopped instance."""
    m = cluster.manager
    node1, node2 = cluster.node("node1"), cluster.node("node2")
    m.run("node", "update", "--availability", "pause", node1.name)   # first on node2
    m.run("service", "create", "--detach", "--name", "survivor", "--replicas", "1", "--stop-grace-period", "2s",
          "--constraint", "node.labels.zone==us-east-1a", "--env", "NODE={{.Node.Hostname}}",
          "--mount", f"type=volume,volume-driver={DRIVER},source={{{{.Service.Name}}}}-vol,destination=/data,"
                     "volume-opt=backing=relocatable,volume-opt=size=1,volume-opt=ebstype=gp2",
          IMAGE, "sh", "-c", COUNTER)
    task, first, cid = running_task(cluster, "survivor")
    assert first is node2
    activate(cluster, node1)
    before = wait_lines(node2, cid, 3)
    move = Move(cluster, "node death")
    node2.crash()
    cluster.sim.stop_instance(node2.instance_id, force=True)
    _, second, cid2 = running_task(cluster, "survivor", besides=(task,), timeout=240)
    move.done(second)
    assert second is node1
    lines = wait_lines(node1, cid2, len(before) + 3)
    assert lines[:len(before)] == before, "lines written before the node died are gone"
    assert_counter_continues(lines, [node2.name, node1.name])
    [vol] = live_volumes(ebs_client(cluster), "survivor-vol", STACK)
    assert [a["InstanceId"] for a in vol["Attachments"]] == [node1.instance_id]
