"""`cloudstord --provider aws`: relocatable volumes on EBS, end to end (issue 8's
acceptance list). Several daemons play several EC2 instances of one ec2sim (moto
behind it, SigV4 enforced); every fact about EBS is checked with boto3 straight
at the simulator, never through the daemon.

Each daemon: its node's IMDS gives instance id, zone, region and credentials;
`--device-dir` is the node's by-id directory of the simulator's loop devices."""
import concurrent.futures
import os
import secrets
import threading
import time

import pytest

from aws_fixtures import ec2sim, ec2sim_session, wait_for  # noqa: F401  (fixtures)
from aws_nodes import (CONFLICT, CTL_TIMEOUT, INVALID, MOVE_WORDS, NOT_FOUND, OK, STACK, UNAVAILABLE, GrpcClient, assert_tags,  # noqa: F401
                       aws_nodes, data_digest, describe_volume, ec2_calls, fs_uuid, live_volumes,
                       snapshots_of, stack_hash, stack_volumes, status_field, tagged_volumes, tags_of,
                       write_data)

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: the simulated EBS data plane uses loop devices, "
                                       "and the daemon runs mkfs and mount")

GP2 = {"size": 1, "ebstype": "gp2"}
MOUNTED = "VOLUME_STATE_MOUNTED"


def only(items, what):
    assert len(items) == 1, f"wanted exactly one {what}, found {len(items)}: {items}"
    return items[0]


def attachment_of(volume):
    atts = volume.get("Attachments") or []
    return (atts[0]["InstanceId"], atts[0]["State"]) if atts else None


def wait_move_settled(ec2, node, name, old_id, timeout=60):
    """Once a move has completed: the old volume goes, nothing superseded or stray
    is left, and the daemon lists no orphan (bounded wait, then the details)."""
    def settled():
        tagged = tagged_volumes(ec2, name)
        return (describe_volume(ec2, old_id) is None and len(tagged) == 1
                and "CloudstorSuperseded" not in tags_of(tagged[0]) and node.ls("--orphans") == [])
    try:
        wait_for(settled, timeout, interval=0.25, what=f"the move of {name} to settle")
    except AssertionError:
        old = describe_volume(ec2, old_id)
        raise AssertionError(
            f"after the move of {name}: old volume {old_id} still {old and (old['State'], tags_of(old))}; "
            f"tagged volumes {[(v['VolumeId'], v['State'], tags_of(v)) for v in tagged_volumes(ec2, name)]}; "
            f"orphans {node.ls('--orphans')}\n--- daemon log (tail) ---\n{node.logtext()}")


# ---- 1, 2 (and 6): same-zone move, then cross-zone move -------------------------------------

def same_zone_then_cross_zone(ec2, aws_nodes, name="v"):
    a = aws_nodes("us-east-1a")
    b = aws_nodes("us-east-1a")
    c = aws_nodes("us-east-1b")

    # 1. A creates and uses it
    a.create(name, **GP2)
    first = only(tagged_volumes(ec2, name), f"EBS volume tagged {name} after Create")
    assert first["AvailabilityZone"] == "us-east-1a" and first["Size"] == 1 and first["VolumeType"] == "gp2", first
    assert_tags(first, name, 1)
    old_id = first["VolumeId"]
    info = a.inspect(name)
    assert info["name"] == name and info["backing"] == "BACKING_RELOCATABLE", info
    assert {k: info.get("options", {}).get(k) for k in ("size", "ebstype")} == {"size": "1", "ebstype": "gp2"}, info
    assert status_field(info, "cloud_id") == old_id, info
    assert status_field(info, "zone") == "us-east-1a", info

    point = a.mount(name, "a1")
    info = a.inspect(name)
    assert status_field(info, "state") == MOUNTED, info
    assert status_field(info, "node") == a.instance_id, info
    assert status_field(info, "mountpoint") == point, info
    assert int(status_field(info, "mount_count", 0)) == 1, info
    assert attachment_of(describe_volume(ec2, old_id)) == (a.instance_id, "attached")
    uuid = fs_uuid(a.device_of(name))
    digest = write_data(point, os.urandom(1 << 20))
    a.unmount(name, "a1")
    assert not os.path.ismount(point), "the last Unmount left the filesystem mounted"

    # B, same zone: the same EBS volume re-attached, no mkfs
    point_b = b.mount(name, "b1")
    info = b.inspect(name)
    assert status_field(info, "cloud_id") == old_id, f"a same-zone mount changed the EBS volume: {info}"
    assert status_field(info, "node") == b.instance_id, info
    assert attachment_of(describe_volume(ec2, old_id)) == (b.instance_id, "attached")
    assert data_digest(point_b) == digest, "the file changed on the way from A to B"
    assert fs_uuid(b.device_of(name)) == uuid, "the filesystem was made anew on B (mkfs ran)"
    b.unmount(name, "b1")
    assert not os.path.ismount(point_b)

    # 2. C, other zone: snapshot → new volume in us-east-1b → old one deleted
    point_c, retries = c.mount_until_ready(name, "c1", timeout=120)
    info = c.inspect(name)
    new_id = status_field(info, "cloud_id")
    assert new_id and new_id != old_id, f"a cross-zone mount kept {old_id}: {info}"
    assert status_field(info, "zone") == "us-east-1b", info
    assert status_field(info, "node") == c.instance_id, info
    new = describe_volume(ec2, new_id)
    assert new is not None, f"{new_id} (status.cloud_id on C) does not exist"
    assert new["AvailabilityZone"] == "us-east-1b", new
    assert new.get("SnapshotId"), f"{new_id} was not made from a snapshot: {new}"
    assert new["Size"] == 1 and new["VolumeType"] == "gp2", new
    assert_tags(new, name, 2)
    assert attachment_of(new) == (c.instance_id, "attached")
    assert data_digest(point_c) == digest, "the file changed on the way to us-east-1b"
    assert fs_uuid(c.device_of(name)) == uuid, "the filesystem was made anew in us-east-1b (mkfs ran)"
    wait_move_settled(ec2, c, name, old_id)
    assert [v["VolumeId"] for v in live_volumes(ec2, name)] == [new_id]
    c.unmount(name, "c1")
    assert not os.path.ismount(point_c)
    return {"old": old_id, "new": new_id, "retries": retries, "nodes": (a, b, c)}


def test_same_zone_then_cross_zone_move_keeps_the_data(ec2sim, aws_nodes):
    same_zone_then_cross_zone(ec2sim.client(), aws_nodes)


def test_moves_succeed_through_throttling(ec2sim, aws_nodes):
    """6. RequestLimitExceeded on 30% of all calls: the daemon retries."""
    ec2sim.fault(type="throttle", rate=0.3)
    ec2 = ec2sim.client(attempts=25)   # our own checks go through the same throttling
    same_zone_then_cross_zone(ec2, aws_nodes, name="thr")
    stats = ec2sim.stats()
    daemon_only = {"CreateVolume", "AttachVolume", "DetachVolume", "CreateSnapshot", "CreateTags", "DeleteVolume"}
    hit = {a for a, f in stats["faults_by_action"].items() if f.get("throttle") and a in daemon_only}
    assert hit, f"no daemon call was throttled, the test proved nothing: {stats['faults_by_action']}"


def test_mount_elsewhere_takes_an_unheld_volume_without_waiting_for_the_detach_delay(ec2sim, aws_nodes):
    """A volume attached to A but no longer held there (A's detach is delayed) is
    detached by B itself, well within B's takeover grace."""
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a", detach_delay=120)
    b = aws_nodes("us-east-1a", takeover_wait=3)
    a.create("idle", **GP2)
    point = a.mount("idle", "a1")
    digest = write_data(point, os.urandom(64 << 10))
    a.unmount("idle", "a1")
    vid = status_field(a.inspect("idle"), "cloud_id")
    assert attachment_of(describe_volume(ec2, vid)) == (a.instance_id, "attached"), "the detach was not delayed"
    point_b = b.mount("idle", "b1")
    assert data_digest(point_b) == digest
    assert attachment_of(describe_volume(ec2, vid)) == (b.instance_id, "attached")
    b.unmount("idle", "b1")


def test_an_unmount_whose_cleanup_is_throttled_succeeds_and_the_cleanup_is_retried(ec2sim, aws_nodes):
    """EC2 throttles every DeleteTags while A unmounts: the filesystem is unmounted,
    so the Unmount succeeds and the hold goes (Docker never sends it again); the
    holder mark and the detach are retried until EC2 answers, and then B mounts
    the volume without waiting for A."""
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a", detach_delay=0.5)
    b = aws_nodes("us-east-1a", takeover_wait=3)
    a.create("tidy", **GP2)
    point = a.mount("tidy", "a1")
    digest = write_data(point, os.urandom(64 << 10))
    vid = status_field(a.inspect("tidy"), "cloud_id")
    throttle = ec2sim.fault(type="throttle", actions=["DeleteTags"])
    a.unmount("tidy", "a1")
    assert not os.path.ismount(point)
    assert status_field(a.inspect("tidy"), "state") != MOUNTED
    volume = describe_volume(ec2, vid)
    assert tags_of(volume).get("CloudstorHolder") == a.instance_id, "the holder mark was cleared through the throttle"
    ec2sim.admin("DELETE", f"faults/{throttle}")
    wait_for(lambda: describe_volume(ec2, vid)["Attachments"] == [] and "CloudstorHolder" not in tags_of(describe_volume(ec2, vid)),
             30, what="holder mark cleared and volume detached once EC2 answers")
    assert data_digest(b.mount("tidy", "b1")) == digest
    b.unmount("tidy", "b1")


# ---- 3: never two writers ---------------------------------------------------------------------

def test_mount_held_by_a_running_instance_is_refused_until_it_stops(ec2sim, aws_nodes):
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a", takeover_wait=3)
    b = aws_nodes("us-east-1a")
    b.create("held", **GP2)
    point_b = b.mount("held", "b1")
    digest = write_data(point_b, os.urandom(256 << 10))
    vid = status_field(b.inspect("held"), "cloud_id")

    started = time.monotonic()
    err = a.fails(CONFLICT, "volume", "mount", "held", "--id", "a1")
    waited = time.monotonic() - started
    assert b.instance_id in err, f"the refusal does not name the holder {b.instance_id}: {err}"
    assert waited >= a.takeover_wait, f"refused after {waited:.1f}s, before the {a.takeover_wait}s grace period"
    # B was left alone
    assert os.path.ismount(point_b) and data_digest(point_b) == digest
    assert attachment_of(describe_volume(ec2, vid)) == (b.instance_id, "attached")

    # B's node dies: its daemon with it, then the instance stops
    b.kill()
    ec2sim.stop_instance(b.instance_id, force=True)
    point_a = a.mount("held", "a2")
    assert status_field(a.inspect("held"), "cloud_id") == vid
    assert attachment_of(describe_volume(ec2, vid)) == (a.instance_id, "attached")
    assert data_digest(point_a) == digest, "data lost in the forced takeover"
    a.unmount("held", "a2")
    assert not os.path.ismount(point_a)
    wait_for(lambda: not os.path.ismount(point_b), 10, what="B's dead mount to go with the forced detach")


def test_cross_zone_mount_waits_for_the_holders_unmount_then_moves(ec2sim, aws_nodes):
    """A drain sends the new node's Mount while the old task still stops: the move
    waits for the holder's Unmount (up to the takeover wait), then goes on; one that
    is never unmounted is refused naming the holder."""
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a")
    c = aws_nodes("us-east-1b", takeover_wait=60)
    a.create("drained", **GP2)
    point_a = a.mount("drained", "a1")
    digest = write_data(point_a, os.urandom(256 << 10))
    old_id = status_field(a.inspect("drained"), "cloud_id")
    stopper = threading.Timer(3, a.unmount, ("drained", "a1"))
    stopper.start()
    try:
        point_c, _ = c.mount_until_ready("drained", "c1", timeout=120)
    finally:
        stopper.join()
    assert data_digest(point_c) == digest, "data lost in a move that waited for the Unmount"
    assert "the other node let go" in c.logtext(100000)
    wait_move_settled(ec2, c, "drained", old_id)
    c.unmount("drained", "c1")

    b = aws_nodes("us-east-1a", takeover_wait=3)
    c.mount("drained", "c2")   # c holds it now; b, in the other zone, is refused after 3 s
    err = b.fails(CONFLICT, "volume", "mount", "drained", "--id", "b1")
    assert c.instance_id in err and "holds it mounted" in err, err
    assert os.path.ismount(c.mountpoint("drained")) and data_digest(c.mountpoint("drained")) == digest
    c.unmount("drained", "c2")


# ---- 4: a cross-zone move killed at every step -----------------------------------------------

STEPS = ["mount-sent", "snapshot-started", "snapshot-completed", "create-sent", "volume-created",
         "old-superseded", "new-attached"]


def move_step(sim, ec2, name, old_id, instance_id):
    """How far the move of `name` from old_id to instance_id has come (index in
    STEPS). "create-sent": CreateVolume has reached the simulator (its stats were
    cleared when the move began) but, held by an injected latency, not yet moto."""
    level = 0
    snaps = snapshots_of(ec2, old_id)
    if snaps:
        level = 1
    if any(s["State"] == "completed" for s in snaps):
        level = 2
        if sim.stats()["requests"].get("CreateVolume"):
            level = 3
    new = [v for v in tagged_volumes(ec2, name) if v["VolumeId"] != old_id]
    if new:
        level = 4
        old = describe_volume(ec2, old_id)
        if old is None or "CloudstorSuperseded" in tags_of(old):
            level = 5
        if any(attachment_of(v) == (instance_id, "attached") for v in new):
            level = 6
    return level


class RetryingMount(threading.Thread):
    """Mounts as Docker does while a move goes on: again after each retryable
    answer, until one succeeds, one fails otherwise, or the test stops it."""

    def __init__(self, node, name, mount_id):
        super().__init__(daemon=True)
        self.node, self.name, self.mount_id = node, name, mount_id
        self.stopping = threading.Event()
        self.answers = []
        self.ok = False
        self.error = None

    def run(self):
        while not self.stopping.is_set():
            r = self.node.ctl("volume", "mount", self.name, "--id", self.mount_id, check=False)
            self.answers.append((r.returncode, r.stderr.strip()))
            if r.returncode == OK:
                self.ok = True
                return
            if self.stopping.is_set() or not self.node.running():
                return
            if r.returncode != UNAVAILABLE:
                self.error = f"exit {r.returncode}: {r.stderr.strip()}"
                return
            time.sleep(0.2)

    def stop(self):
        self.stopping.set()
        self.join(CTL_TIMEOUT)


def wait_step(sim, ec2, name, old_id, node, target, mount, timeout=60):
    """Polls the cloud until the move has reached STEPS[target] (or beyond);
    fails at once if the Mount driving it is refused outright."""
    deadline = time.monotonic() + timeout
    while True:
        level = move_step(sim, ec2, name, old_id, node.instance_id)
        if level >= target:
            return level
        if mount.ok:   # done before the step could be seen: kill it now anyway
            return move_step(sim, ec2, name, old_id, node.instance_id)
        if mount.error:
            raise AssertionError(f"the move of {name} stopped at {STEPS[level]}: its Mount failed: {mount.error}\n"
                                 f"--- daemon log (tail) ---\n{node.logtext()}")
        if time.monotonic() > deadline or not node.running():
            raise AssertionError(f"the move of {name} did not reach {STEPS[target]} (at {STEPS[level]})\n"
                                 f"--- daemon log (tail) ---\n{node.logtext()}")
        time.sleep(0.02)


@pytest.mark.parametrize("step", STEPS)
def test_cross_zone_move_resumes_after_a_crash_at_each_step(ec2sim, aws_nodes, step):
    ec2 = ec2sim.client()
    target = STEPS.index(step)
    a = aws_nodes("us-east-1a", detach_delay=0.5)
    c = aws_nodes("us-east-1b", mount_wait=1)
    name = f"crash-{target}"
    a.create(name, **GP2)
    point = a.mount(name, "a1")
    digest = write_data(point, os.urandom(512 << 10))
    a.unmount(name, "a1")
    old_id = status_field(a.inspect(name), "cloud_id")

    # slow EC2 down so that each step lasts long enough to be killed in
    ec2sim.config(delays={"snapshot": 2, "create": 1, "attach": 0.5})
    latency = ec2sim.fault(type="latency", seconds=0.5, rate=1.0,
                           actions=["CreateVolume", "CreateTags", "AttachVolume", "DeleteVolume"])
    ec2sim.admin("DELETE", "stats")
    first = RetryingMount(c, name, "c-first")
    first.start()
    try:
        if target == 0:
            time.sleep(0.3)
            reached = move_step(ec2sim, ec2, name, old_id, c.instance_id)
        else:
            reached = wait_step(ec2sim, ec2, name, old_id, c, target, first)
        first.stopping.set()
        c.kill()
    finally:
        first.stop()
    print(f"killed at {STEPS[reached]} (wanted {step}); Mount answers before: {first.answers}")
    retryable = [err for rc, err in first.answers[:-1] if rc != OK]
    assert all(MOVE_WORDS.search(err) for err in retryable), f"a retryable answer says nothing of the move: {retryable}"
    # the data is held at every instant by a volume carrying the name
    assert live_volumes(ec2, name), f"no live volume of {name} after the crash at {step}: " \
        f"{[(v['VolumeId'], v['State'], tags_of(v)) for v in tagged_volumes(ec2, name)]}"
    ec2sim.admin("DELETE", f"faults/{latency}")

    c.start()
    if first.ok:   # answered before the kill: Docker holds that mount
        mount_id = "c-first"
        c.holds.append((name, mount_id))
        point_c = c.mountpoint(name)
        assert os.path.ismount(point_c), "a held mount was not restored after the restart"
    else:                        # an error: Docker mounts anew and never unmounts the failed one
        mount_id = "c-retry"
        point_c, _ = c.mount_until_ready(name, mount_id, timeout=120)
    info = c.inspect(name)
    assert int(status_field(info, "mount_count", 0)) == 1, \
        f"one holder, but the daemon counts otherwise (a Mount that never answered left a hold?): {info}"
    new_id = status_field(info, "cloud_id")
    assert new_id != old_id and status_field(info, "zone") == "us-east-1b", info
    assert data_digest(point_c) == digest, f"data lost after a crash at {step}"
    new = describe_volume(ec2, new_id)
    assert new and new["AvailabilityZone"] == "us-east-1b" and new.get("SnapshotId"), new
    assert_tags(new, name, 2)
    wait_move_settled(ec2, c, name, old_id)
    assert [v["VolumeId"] for v in live_volumes(ec2, name)] == [new_id]
    c.unmount(name, mount_id)
    assert not os.path.ismount(point_c), f"still mounted after the last Unmount: {c.inspect(name)}"


# ---- 5: the same name from two nodes at once --------------------------------------------------

def test_simultaneous_creates_from_two_nodes_make_one_volume(ec2sim, aws_nodes):
    ec2 = ec2sim.client()
    nodes = [aws_nodes("us-east-1a"), aws_nodes("us-east-1a")]
    names = [f"race{i}" for i in range(20)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for name in names:
            barrier = threading.Barrier(2)

            def create(node, name=name, barrier=barrier):
                barrier.wait()
                return node.create(name, check=False, **GP2)
            results = list(pool.map(create, nodes))
            for node, r in zip(nodes, results):
                assert r.returncode == OK, f"{node.instance_id}: create {name}: exit {r.returncode}: {r.stderr}"
            vols = tagged_volumes(ec2, name)
            assert len(vols) == 1, f"{name}: {len(vols)} EBS volumes: {[v['VolumeId'] for v in vols]}"
    for node in nodes:
        assert node.names() == sorted(names)
    for name in names:
        vid = only(tagged_volumes(ec2, name), f"volume {name}")["VolumeId"]
        assert [status_field(n.inspect(name), "cloud_id") for n in nodes] == [vid, vid]


# ---- 7: API-call budgets -----------------------------------------------------------------------

def settle_available(ec2, names, stack=STACK):
    def ready():
        states = [[v["State"] for v in tagged_volumes(ec2, n, stack)] for n in names]
        return all(s == ["available"] for s in states)
    wait_for(ready, 30, interval=0.1, what="the volumes to be available")


def test_dockers_mount_sequence_costs_at_most_six_calls(ec2sim, aws_nodes):
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a", detach_delay=60)
    a.create("dock", **GP2)
    settle_available(ec2, ["dock"])
    ec2sim.admin("DELETE", "stats")
    mount_id = secrets.token_hex(32)
    a.inspect("dock")
    a.inspect("dock")
    point = a.mount("dock", mount_id)
    a.inspect("dock")
    a.unmount("dock", mount_id)
    calls = ec2_calls(ec2sim.stats())
    print(f"Get, Get, Mount, Get, Unmount: {calls}")
    assert not os.path.ismount(point)
    assert sum(calls.values()) <= 6, f"Get, Get, Mount, Get, Unmount cost {sum(calls.values())} EC2 calls: {calls}"


def test_gets_are_answered_from_the_cache(ec2sim, aws_nodes, pb):
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a")
    names = [f"g{i}" for i in range(10)]
    for name in names:
        a.create(name, **GP2)
    settle_available(ec2, names)
    b = aws_nodes("us-east-1a")   # a daemon that made none of them
    for node in (a, b):
        client = GrpcClient(pb, node)
        try:
            ec2sim.admin("DELETE", "stats")
            for i in range(100):
                assert client.get(names[i % len(names)]).name == names[i % len(names)]
            calls = ec2_calls(ec2sim.stats())
        finally:
            client.close()
        print(f"100 Gets on {node.instance_id}: {calls}")
        assert sum(calls.values()) <= 2, f"100 Gets on {node.instance_id} cost {sum(calls.values())} calls: {calls}"


def test_list_of_200_volumes_is_one_describe_call(ec2sim, aws_nodes, pb):
    ec2 = ec2sim.client()
    names = [f"l{i:03d}" for i in range(200)]
    for i, name in enumerate(names):
        tags = {"CloudstorVolume": name, "StackID": stack_hash(STACK), "CloudstorGeneration": "1",
                "CloudstorBacking": "relocatable", "CloudstorOptions": "ebstype=gp2,size=1"}
        ec2.create_volume(Size=1, VolumeType="gp2", AvailabilityZone="us-east-1a" if i % 2 else "us-east-1b",
                          TagSpecifications=[{"ResourceType": "volume",
                                              "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])
    assert len(stack_volumes(ec2)) == 200
    a = aws_nodes("us-east-1a")
    client = GrpcClient(pb, a)
    try:
        # The socket accepts before the start-up reconcile (one fill of the stack) is
        # done; the first List is answered after it. Counted from then on: one List.
        client.list()
        ec2sim.admin("DELETE", "stats")
        vols = client.list()
        calls = ec2_calls(ec2sim.stats())
    finally:
        client.close()
    print(f"List of 200: {calls}")
    assert sorted(v.name for v in vols) == names
    assert all(v.options.get("ebstype") == "gp2" and v.options.get("size") == "1" for v in vols), vols[:3]
    assert sum(calls.values()) <= 1 and set(calls) <= {"DescribeVolumes"}, \
        f"List of 200 volumes cost {calls}"


# ---- 8: bad options cost nothing ------------------------------------------------------------------

BAD = [({"size": 10, "ebstype": "io1"}, "iops"),
       ({"size": 10, "ebstype": "st1"}, "size"),
       ({"size": 1, "ebstype": "gp2", "iops": 100}, "iops"),
       ({"size": 0, "ebstype": "gp2"}, "size"),
       ({"size": 1, "ebstype": "bogus"}, "ebstype")]


def test_bad_options_are_refused_before_any_aws_call(ec2sim, aws_nodes):
    a = aws_nodes("us-east-1a")
    assert a.ls() == []
    ec2sim.admin("DELETE", "stats")
    for i, (opts, word) in enumerate(BAD):
        args = ["volume", "create", f"bad{i}"]
        for k, v in sorted(opts.items()):
            args += ["--opt", f"{k}={v}"]
        err = a.fails(INVALID, *args)
        assert word in err, f"{opts}: the message does not name {word!r}: {err}"
    calls = ec2_calls(ec2sim.stats())
    assert calls == {}, f"refused creates made EC2 calls: {calls}"
    assert stack_volumes(ec2sim.client()) == []


# ---- 9: two stacks in one account ----------------------------------------------------------------

def test_two_stacks_see_only_their_own_volumes(ec2sim, aws_nodes):
    ec2 = ec2sim.client()
    s1 = aws_nodes("us-east-1a", stack="s1")
    s2 = aws_nodes("us-east-1a", stack="s2")
    s1.create("only1", **GP2)
    s1.create("both", **GP2)
    s2.create("only2", **GP2)
    s2.create("both", **GP2)
    assert s1.names() == ["both", "only1"]
    assert s2.names() == ["both", "only2"]
    one = only(tagged_volumes(ec2, "both", "s1"), "volume both of s1")
    two = only(tagged_volumes(ec2, "both", "s2"), "volume both of s2")
    assert one["VolumeId"] != two["VolumeId"]
    assert tags_of(one)["StackID"] == stack_hash("s1") and tags_of(two)["StackID"] == stack_hash("s2")
    assert status_field(s1.inspect("both"), "cloud_id") == one["VolumeId"]
    assert status_field(s2.inspect("both"), "cloud_id") == two["VolumeId"]
    s1.fails(NOT_FOUND, "volume", "inspect", "only2")
    s2.fails(NOT_FOUND, "volume", "inspect", "only1")
    s1.rm("both")
    wait_for(lambda: tagged_volumes(ec2, "both", "s1") == [], 30, what="s1's volume both to be deleted")
    assert [v["VolumeId"] for v in tagged_volumes(ec2, "both", "s2")] == [two["VolumeId"]]
    assert s2.names() == ["both", "only2"]
    assert s1.names() == ["only1"]


# ---- background snapshots ------------------------------------------------------------------------

def periodic_snapshots(ec2, name):
    found = ec2.describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": "tag:CloudstorVolume", "Values": [name]}, {"Name": "tag:StackID", "Values": [stack_hash(STACK)]},
        {"Name": "tag:CloudstorKind", "Values": ["periodic"]}])["Snapshots"]
    return sorted(found, key=lambda s: s["StartTime"])


def test_mounted_volumes_are_snapshotted_in_the_background_and_pruned(ec2sim, aws_nodes):
    """--snapshot-interval snapshots what is mounted here (the filesystem frozen only
    while each starts: writes go on after), keeps --snapshot-retention of them, takes
    none of a volume no longer mounted, and Remove deletes them all."""
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a", snapshot_interval=1, extra_args=["--snapshot-retention", "2"])
    a.create("snappy", **GP2)
    point = a.mount("snappy", "m1")
    vid = status_field(a.inspect("snappy"), "cloud_id")
    seen = set()

    def enough():
        snaps = periodic_snapshots(ec2, "snappy")
        seen.update(s["SnapshotId"] for s in snaps)
        return len(seen) >= 4 and snaps

    wait_for(enough, timeout=60, interval=0.2, what="four background snapshots")
    snaps = periodic_snapshots(ec2, "snappy")
    assert 1 <= len(snaps) <= 3, f"retention 2 (one more may be starting): {[s['SnapshotId'] for s in snaps]}"
    for snap in snaps:
        assert snap["VolumeId"] == vid and tags_of(snap)["CloudstorSourceVolume"] == vid, snap
    # Thawed after each: the filesystem still takes writes.
    digest = write_data(point, os.urandom(64 << 10))
    assert data_digest(point) == digest
    wait_for(lambda: len(periodic_snapshots(ec2, "snappy")) == 2, timeout=30, interval=0.2, what="pruning to two")
    a.unmount("snappy", "m1")
    time.sleep(0.2)
    after = {s["SnapshotId"] for s in periodic_snapshots(ec2, "snappy")}
    time.sleep(3)
    assert {s["SnapshotId"] for s in periodic_snapshots(ec2, "snappy")} <= after, "snapshots of a volume no longer mounted"
    a.ctl("volume", "rm", "snappy")
    assert periodic_snapshots(ec2, "snappy") == []


def test_attachments_beyond_the_limit_are_refused_clearly(ec2sim, aws_nodes):
    """--max-attachments caps the volumes attached to one instance: the next Mount
    is refused with a message that names the limit, and attaches nothing."""
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a", extra_args=["--max-attachments", "1"])
    a.create("first", **GP2)
    a.create("second", **GP2)
    a.mount("first", "m1")
    r = a.ctl("volume", "mount", "second", "--id", "m2", check=False)
    assert r.returncode == CONFLICT, (r.returncode, r.stderr)
    assert "(1, by --max-attachments)" in r.stderr, r.stderr
    second = status_field(a.inspect("second"), "cloud_id")
    assert describe_volume(ec2, second)["Attachments"] == []
    a.unmount("first", "m1")


def test_at_the_limit_a_mount_detaches_an_unheld_volume_early_never_a_held_one(ec2sim, aws_nodes):
    """With --max-attachments 2 and a long detach delay, volumes unmounted but
    still attached make room for new Mounts (the first unmounted goes first);
    volumes that are held never do, and the Mount is refused."""
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a", detach_delay=120, extra_args=["--max-attachments", "2"])
    names = ["one", "two", "three", "four"]
    for name in names:
        a.create(name, **GP2)
    ids = dict(zip(names, (status_field(a.inspect(name), "cloud_id") for name in names)))
    for name in ("one", "two"):
        a.mount(name, "m")
    for name in ("one", "two"):
        a.unmount(name, "m")
    attached = lambda name: [x["InstanceId"] for x in describe_volume(ec2, ids[name])["Attachments"]]  # noqa: E731
    assert attached("one") == attached("two") == [a.instance_id], "the detaches were not delayed"
    a.mount("three", "m")
    assert (attached("one"), attached("two"), attached("three")) == ([], [a.instance_id], [a.instance_id])
    a.mount("four", "m")
    assert (attached("two"), attached("four")) == ([], [a.instance_id])
    r = a.ctl("volume", "mount", "one", "--id", "m", check=False)
    assert r.returncode == CONFLICT and "(2, by --max-attachments)" in r.stderr, (r.returncode, r.stderr)
    assert attached("one") == [] and status_field(a.inspect("three"), "state") == MOUNTED
    for name in ("three", "four"):
        a.unmount(name, "m")


def test_at_the_limit_a_mount_waits_out_a_detach_under_way(ec2sim, aws_nodes):
    """A Mount at --max-attachments while the only other volume's detach (its delay
    over) is under way waits for that detach to end and mounts, instead of being
    refused for a volume that is already on its way off."""
    ec2sim.config(delay=4.0)
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a", detach_delay=0.5, extra_args=["--max-attachments", "1"])
    for name in ("leaving", "coming"):
        a.create(name, **GP2)
    ids = {name: status_field(a.inspect(name), "cloud_id") for name in ("leaving", "coming")}
    wait_for(lambda: all(describe_volume(ec2, i)["State"] == "available" for i in ids.values()), 30, what="volumes available")
    a.mount("leaving", "m")
    a.unmount("leaving", "m")
    states = lambda name: [x["State"] for x in describe_volume(ec2, ids[name])["Attachments"]]  # noqa: E731
    wait_for(lambda: states("leaving") == ["detaching"], 20, what="the delayed detach under way")
    r = a.ctl("volume", "mount", "coming", "--id", "m", check=False)
    assert r.returncode == OK, r.stderr
    assert (states("leaving"), states("coming")) == ([], ["attached"])
    a.unmount("coming", "m")


def test_mounts_at_once_on_one_node_take_distinct_devices_and_share_their_polls(ec2sim, aws_nodes):
    """Eight Mounts at once on one instance: each volume gets its own device name
    (none is refused for a name another Mount took meanwhile), all are mounted, and
    the waits for their attaches share DescribeVolumes calls (one call asks for
    every volume waited on) instead of each polling its own."""
    ec2sim.config(delay=1.0)
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a", extra_args=["--max-attachments", "8"])
    names = [f"many{i}" for i in range(8)]
    for name in names:
        a.create(name, **GP2)
    ids = [status_field(a.inspect(name), "cloud_id") for name in names]
    wait_for(lambda: all(describe_volume(ec2, i)["State"] == "available" for i in ids), 30, what="volumes available")
    ec2sim.admin("DELETE", "stats")
    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        points = list(pool.map(lambda name: a.mount(name, "m"), names))
    calls = ec2_calls(ec2sim.stats())
    print(f"8 Mounts at once: {calls}")
    assert len(set(points)) == len(names)
    devices = [describe_volume(ec2, i)["Attachments"][0]["Device"] for i in ids]
    assert len(set(devices)) == len(names), f"device names given twice: {devices}"
    assert calls.get("AttachVolume") == len(names), calls
    # Each Mount reads its volume afresh once (by name); polled one by one, the
    # attaches (1 s each) would add at least three calls a volume on top.
    assert calls.get("DescribeVolumes", 0) <= 2 * len(names) + 4, calls
    for name in names:
        a.unmount(name, "m")
    # A ninth takes the place of the one left unheld (detached at once if its delay
    # has not passed); then the eight held are the limit.
    a.create("ninth", **GP2)
    for name in names[:7]:
        a.mount(name, "again")
    r = a.ctl("volume", "mount", "ninth", "--id", "m", check=False)
    assert r.returncode == OK, r.stderr
    assert describe_volume(ec2, ids[7])["Attachments"] == [], f"{names[7]} still attached"
    r = a.ctl("volume", "mount", names[7], "--id", "m", check=False)
    assert r.returncode == CONFLICT and "(8, by --max-attachments)" in r.stderr, (r.returncode, r.stderr)
    for name in names[:7]:
        a.unmount(name, "again")
    a.unmount("ninth", "m")


def test_a_stop_with_detaches_due_is_prompt_and_the_next_start_detaches_them(ec2sim, aws_nodes):
    """SIGTERM while six detaches are due (each takes seconds on EBS): the daemon
    finishes the one it started, leaves the rest, and exits 0 inside its grace
    period; started again, it detaches them (nothing holds them)."""
    ec2sim.config(delay=3.0)
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a", detach_delay=0.5)
    names = [f"due{i}" for i in range(6)]
    for name in names:
        a.create(name, **GP2)
    ids = [status_field(a.inspect(name), "cloud_id") for name in names]
    wait_for(lambda: all(describe_volume(ec2, i)["State"] == "available" for i in ids), 30, what="volumes available")
    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        list(pool.map(lambda name: a.mount(name, "m"), names))
    for name in names:
        a.unmount(name, "m")
    wait_for(lambda: "detaching after the delay" in a.logtext(), 10, what="the first detach started")
    # Six in a row would take 18 s or more, beyond the daemon's 10 s grace.
    assert a.stop() == 0, a.logtext()
    assert "detaches left to the next start" in a.logtext(), a.logtext()
    assert any(describe_volume(ec2, i)["Attachments"] for i in ids), "all were detached before the stop"
    a.start()
    wait_for(lambda: all(describe_volume(ec2, i)["Attachments"] == [] for i in ids), 60,
             what="every volume detached by the next start")
