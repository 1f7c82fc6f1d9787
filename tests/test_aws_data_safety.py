"""Data safety on AWS (issue 26): four ways a user lost or stranded data, as a
user meets them. Every fact about EBS is read with boto3 straight from the
simulator, never through the daemon."""
import os
import signal
import time

import pytest

from aws_fixtures import ec2sim, ec2sim_session, wait_for  # noqa: F401  (fixtures)
from aws_nodes import (MOVE_WORDS, OK, UNAVAILABLE, aws_nodes, data_digest, describe_volume, ec2_calls,  # noqa: F401
                       live_volumes, stack_hash, STACK, status_field, tags_of, write_data)

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: the simulated EBS data plane uses loop devices, "
                                       "and the daemon runs mkfs and mount")

GP2 = {"size": 1, "ebstype": "gp2"}


def snapshots(ec2, **tags):
    filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()]
    return {s["SnapshotId"]: s for s in ec2.describe_snapshots(OwnerIds=["self"], Filters=filters)["Snapshots"]}


# ---- 1: rm, then create the same name at once ------------------------------------------------

def test_rm_then_create_of_the_same_name_gives_a_new_empty_volume_at_once(ec2sim, aws_nodes):
    """`docker volume rm v && docker volume create v …` with the same options, twice
    within a minute: each create answers at once with a new, empty EBS volume."""
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a")
    a.create("v", **GP2)
    point = a.mount("v", "m0")
    write_data(point, os.urandom(64 << 10))
    a.unmount("v", "m0")
    old_id = status_field(a.inspect("v"), "cloud_id")
    for round_ in (1, 2):
        a.rm("v")
        assert describe_volume(ec2, old_id) is None, f"rm left {old_id}"
        a.create("v", **GP2)
        new_id = status_field(a.inspect("v"), "cloud_id")
        assert new_id and new_id != old_id, f"round {round_}: the create handed back the removed volume {old_id}"
        assert [v["VolumeId"] for v in live_volumes(ec2, "v")] == [new_id]
        point = a.mount("v", f"m{round_}")
        assert sorted(os.listdir(point)) == ["lost+found"], \
            f"round {round_}: the new volume holds the removed one's files: {os.listdir(point)}"
        write_data(point, os.urandom(64 << 10))
        a.unmount("v", f"m{round_}")
        old_id = new_id


# ---- 2: only Cloudstor's own snapshots are deleted ----------------------------------------------

def test_remove_and_retention_delete_only_the_snapshots_cloudstor_made(ec2sim, aws_nodes):
    """Snapshots AWS Backup or DLM took of a Cloudstor volume with "copy tags",
    and a copy of a Cloudstor snapshot with every tag, survive the background
    retention, `prune` and `docker volume rm`; Cloudstor's own go."""
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a", snapshot_interval=1, extra_args=["--snapshot-retention", "1"])
    a.create("bk", **GP2)
    point = a.mount("bk", "m")
    write_data(point, os.urandom(64 << 10))
    vid = status_field(a.inspect("bk"), "cloud_id")
    ours = wait_for(lambda: snapshots(ec2, CloudstorVolume="bk", CloudstorKind="periodic"), 30,
                    what="a background snapshot")
    first_ours = next(iter(ours.values()))
    volume_tags = [{"Key": k, "Value": v} for k, v in tags_of(describe_volume(ec2, vid)).items()]
    backup = ec2.create_snapshot(VolumeId=vid, Description="AWS-Backup-recovery-point",
                                 TagSpecifications=[{"ResourceType": "snapshot", "Tags": volume_tags}])["SnapshotId"]
    forged = ec2.create_snapshot(VolumeId=vid, Description="taken-by-hand",
                                 TagSpecifications=[{"ResourceType": "snapshot", "Tags": first_ours["Tags"]}])["SnapshotId"]
    copy = ec2.copy_snapshot(SourceSnapshotId=first_ours["SnapshotId"], SourceRegion="us-east-1", Description="DLM-copy",
                             TagSpecifications=[{"ResourceType": "snapshot", "Tags": first_ours["Tags"]}])["SnapshotId"]
    users = {backup, forged, copy}
    # retention 1: Cloudstor's older snapshots go as newer ones are made; the users' stay
    wait_for(lambda: first_ours["SnapshotId"] not in snapshots(ec2, CloudstorVolume="bk"), 30,
             what="the background retention to delete Cloudstor's first snapshot")
    assert users <= set(snapshots(ec2, CloudstorVolume="bk")), "the retention deleted a user's snapshot"
    a.unmount("bk", "m")
    orphans = {o["id"] for o in a.ls("--orphans")}
    assert not orphans & users, f"users' snapshots listed as orphans: {orphans & users}"
    a.ctl("volume", "prune", "--yes")
    a.rm("bk")
    left = snapshots(ec2, CloudstorVolume="bk")
    assert set(left) == users, f"after rm: {sorted(left)}, wanted exactly the users' {sorted(users)}"
    assert not snapshots(ec2, CloudstorVolume="bk", CloudstorKind="periodic").keys() - users, \
        "a snapshot Cloudstor made outlived its volume"


# ---- 3: a Mount in the source zone during a cross-zone move ------------------------------------

def paused_after_the_move_snapshot(ec2sim, ec2, mover, name):
    """Starts the cross-zone Mount on `mover` and pauses its daemon (SIGSTOP) the
    instant its move snapshot has started: the content of the move is fixed."""
    rule = ec2sim.kill_at(mover.proc.pid, "CreateSnapshot", phase="after", signal="STOP")
    proc = mover.ctl_popen("volume", "mount", name, "--id", "c1")
    wait_for(lambda: any(r["id"] == rule and r["fired"] for r in ec2sim.admin("GET", "faults")["rules"]), 60,
             what="the move snapshot")
    assert snapshots(ec2, CloudstorVolume=name, CloudstorKind="move"), "no move snapshot"
    return proc


def test_a_mount_in_the_source_zone_during_a_move_is_refused_until_the_move_is_done(ec2sim, aws_nodes):
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a", detach_delay=60)    # stays attached to A after its Unmount
    c = aws_nodes("us-east-1b", mount_wait=60)
    a.create("mv", **GP2)
    point = a.mount("mv", "a1")
    digest = write_data(point, os.urandom(256 << 10))
    a.unmount("mv", "a1")
    proc = paused_after_the_move_snapshot(ec2sim, ec2, c, "mv")
    try:
        err = a.fails(UNAVAILABLE, "volume", "mount", "mv", "--id", "a2")
        assert "being moved to us-east-1b" in err and c.instance_id in err, err
        assert not os.path.ismount(a.mountpoint("mv")), "refused, yet mounted"
        assert a.inspect("mv")["status"].get("move", "").startswith("being moved to us-east-1b"), a.inspect("mv")
    finally:
        os.kill(c.proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=180)
    if proc.returncode != OK:   # the paused call's answer was lost: Docker asks again
        assert proc.returncode == UNAVAILABLE and MOVE_WORDS.search(err), err
        point_c, _ = c.mount_until_ready("mv", "c2")
        mount_id = "c2"
    else:
        point_c, mount_id = out.strip(), "c1"
        c.holds.append(("mv", mount_id))
    assert data_digest(point_c) == digest, "the data changed on the way to us-east-1b"
    c.unmount("mv", mount_id)
    # the move is over: A may have it again (moved back), with the same data
    point_a, _ = a.mount_until_ready("mv", "a3")
    assert data_digest(point_a) == digest
    a.unmount("mv", "a3")


def test_a_stale_claim_of_a_dead_node_is_cleared_and_its_move_never_replaces_newer_data(ec2sim, aws_nodes):
    """The node moving the volume dies after its snapshot: a Mount in the source
    zone clears its claim and writes; a later move (another node of the dead one's
    zone) carries those writes, never the dead node's older snapshot."""
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a", detach_delay=60)
    c = aws_nodes("us-east-1b", mount_wait=60)
    a.create("st", **GP2)
    point = write_point = a.mount("st", "a1")
    write_data(point, b"before the move")
    a.unmount("st", "a1")
    proc = paused_after_the_move_snapshot(ec2sim, ec2, c, "st")
    c.kill()                                   # the node dies with its claim standing
    proc.wait(60)
    ec2sim.stop_instance(c.instance_id, force=True)
    point = a.mount("st", "a2")
    assert point == write_point
    newer = write_data(point, b"written after the dead node's snapshot")
    a.unmount("st", "a2")
    d = aws_nodes("us-east-1b", mount_wait=60)
    point_d, _ = d.mount_until_ready("st", "d1")
    assert data_digest(point_d) == newer, "the move carried the dead node's older snapshot, not the newer data"
    d.unmount("st", "d1")
    # the finished move deleted every move snapshot of its source, the dead node's too
    assert d.ls("--orphans") == []
    assert not snapshots(ec2, CloudstorVolume="st", CloudstorKind="move")
    assert len(live_volumes(ec2, "st")) == 1


def test_a_dead_nodes_stale_claim_does_not_hide_a_running_nodes_remove(ec2sim, aws_nodes):
    """A volume carries a move claim its node left when it died and the removal
    mark of a running node: a Mount is refused at once, retryably, naming the
    remover, before it writes anything or attaches (the stale claim does not hide
    the live mark)."""
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a")
    dead = ec2sim.add_node("us-east-1b")["instance_id"]
    ec2sim.stop_instance(dead, force=True)
    remover = ec2sim.add_node("us-east-1a")["instance_id"]
    a.create("marked", **GP2)
    vid = live_volumes(ec2, "marked")[0]["VolumeId"]
    marks = {"CloudstorMoveClaim": f"{dead}/us-east-1b/stale", "CloudstorRemoval": f"{remover}/us-east-1a/rm-live"}
    ec2.create_tags(Resources=[vid], Tags=[{"Key": k, "Value": v} for k, v in marks.items()])
    ec2sim.admin("DELETE", "stats")
    err = a.fails(UNAVAILABLE, "volume", "mount", "marked", "--id", "m1")
    assert f"being removed by {remover}" in err, err
    calls = ec2_calls(ec2sim.stats())
    assert set(calls) <= {"DescribeVolumes", "DescribeInstances"}, calls
    assert {k: tags_of(describe_volume(ec2, vid)).get(k) for k in marks} == marks


# ---- 4: a stop is prompt --------------------------------------------------------------------------

def test_an_aws_daemon_with_default_snapshots_and_a_detach_pending_stops_at_once(ec2sim, aws_nodes):
    """Docker SIGKILLs a plugin 10 s after SIGTERM: an idle daemon (background
    snapshots on, a detach waiting out its delay) must stop without waiting for
    the group's 10 s cap."""
    a = aws_nodes("us-east-1a", detach_delay=60, snapshot_interval="1h")
    a.create("idle", **GP2)
    a.mount("idle", "m")
    a.unmount("idle", "m")
    time.sleep(1)   # idle: no call in flight
    started = time.monotonic()
    assert a.stop() == 0, a.logtext()
    took = time.monotonic() - started
    print(f"SIGTERM to exit: {took:.2f} s")
    log = a.logtext(20000)
    assert "Graceful shutdown took longer than allowed" not in log, log
    assert took < 8, f"the stop took {took:.1f} s: Docker would have SIGKILLed the plugin at 10 s"


def test_a_stop_during_a_move_answers_the_mount_and_exits_within_docker_s_grace(ec2sim, aws_nodes):
    """SIGTERM while a Mount waits for a cross-zone move: the move stops where it
    is (its next start resumes it), the Mount answers a retryable error, and the
    daemon exits well before Docker's SIGKILL at 10 s."""
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a", detach_delay=0.5)
    c = aws_nodes("us-east-1b", mount_wait=100)
    a.create("inflight", **GP2)
    point = a.mount("inflight", "a1")
    digest = write_data(point, os.urandom(64 << 10))
    a.unmount("inflight", "a1")
    ec2sim.config(delays={"snapshot": 60})
    proc = c.ctl_popen("volume", "mount", "inflight", "--id", "c1")
    wait_for(lambda: snapshots(ec2, CloudstorVolume="inflight", CloudstorKind="move"), 60, what="the move snapshot")
    started = time.monotonic()
    assert c.stop() == 0, c.logtext()
    took = time.monotonic() - started
    out, err = proc.communicate(timeout=30)
    print(f"SIGTERM to exit with a Mount in flight: {took:.2f} s; the Mount answered {proc.returncode}: {err.strip()}")
    assert proc.returncode == UNAVAILABLE, (proc.returncode, out, err)
    assert took < 8, f"the stop took {took:.1f} s: Docker would have SIGKILLed the plugin at 10 s"
    ec2sim.config(delays={"snapshot": 0.5})
    c.start()          # the move resumes; Docker mounts again
    point_c, _ = c.mount_until_ready("inflight", "c2")
    assert data_digest(point_c) == digest
    c.unmount("inflight", "c2")


# ---- 5: a cancelled cross-zone Mount leaves no busy loop --------------------------------------------

def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_cancelled_cross_zone_mount_does_not_spin(ec2sim, aws_nodes):
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a", detach_delay=0.5)
    c = aws_nodes("us-east-1b", mount_wait=100)
    a.create("spin", **GP2)
    a.mount("spin", "a1")
    a.unmount("spin", "a1")
    ec2sim.config(delays={"snapshot": 30})
    proc = c.ctl_popen("volume", "mount", "spin", "--id", "c1")
    wait_for(lambda: snapshots(ec2, CloudstorVolume="spin", CloudstorKind="move"), 60, what="the move snapshot")
    proc.kill()                      # the caller gives up: its call is cancelled
    proc.wait(10)
    time.sleep(0.5)
    before, t0 = cpu_seconds(c.proc.pid), time.monotonic()
    time.sleep(3)
    used, wall = cpu_seconds(c.proc.pid) - before, time.monotonic() - t0
    print(f"daemon CPU while the move waits on its snapshot: {used:.2f} s in {wall:.1f} s")
    assert used < 0.5 * wall, f"the daemon burnt {used:.2f} s of CPU in {wall:.1f} s after the Mount was cancelled"
    ec2sim.config(delays={"snapshot": 0.5})
    point, _ = c.mount_until_ready("spin", "c2")
    assert os.path.ismount(point)
    c.unmount("spin", "c2")


# ---- races and half-finished moves found in review ------------------------------------------------

def test_two_nodes_mounting_one_volume_at_once_leave_the_winners_mark(ec2sim, aws_nodes):
    """Two nodes of one zone mount the same volume at the same instant: one wins;
    the other never clears the winner's holder mark (without it, a third node or
    a move would take the volume from under the winner's filesystem)."""
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a")
    b = aws_nodes("us-east-1a")
    a.create("race", **GP2)
    vid = status_field(a.inspect("race"), "cloud_id")
    procs = {n: n.ctl_popen("volume", "mount", "race", "--id", f"m-{n.instance_id}") for n in (a, b)}
    results = {n: (p.wait(120), p.stdout.read(), p.stderr.read()) for n, p in procs.items()}
    winners = [n for n, (rc, _, _) in results.items() if rc == OK]
    assert len(winners) == 1, {n.instance_id: r for n, r in results.items()}
    winner = winners[0]
    winner.holds.append(("race", f"m-{winner.instance_id}"))
    volume = describe_volume(ec2, vid)
    assert [x["InstanceId"] for x in volume["Attachments"]] == [winner.instance_id], volume
    assert tags_of(volume).get("CloudstorHolder") == winner.instance_id, \
        f"the loser cleared the winner's mark: {tags_of(volume)}"
    assert os.path.ismount(winner.mountpoint("race"))
    winner.unmount("race", f"m-{winner.instance_id}")


def test_remove_of_a_moved_volume_before_its_clean_up_does_not_bring_the_old_one_back(ec2sim, aws_nodes):
    """The node moving a volume dies right after the commit (the old volume is
    still there, marked superseded): a Remove deletes both, and the name is gone."""
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a", detach_delay=0.5)
    c = aws_nodes("us-east-1b", mount_wait=60)
    a.create("gone", **GP2)
    write_data(a.mount("gone", "a1"), os.urandom(64 << 10))
    a.unmount("gone", "a1")
    ec2sim.kill_at(c.proc.pid, "CreateTags", phase="after", match={"Tag.1.Key": "CloudstorSuperseded"})
    c.ctl("volume", "mount", "gone", "--id", "c1", check=False)
    c.proc.wait(60)
    ec2sim.stop_instance(c.instance_id, force=True)
    assert len(live_volumes(ec2, "gone")) == 1, "the commit did not happen"
    a.rm("gone")
    left = [(v["VolumeId"], v["State"], tags_of(v)) for v in ec2.describe_volumes(
        Filters=[{"Name": "tag:CloudstorVolume", "Values": ["gone"]}])["Volumes"] if v["State"] not in ("deleting", "deleted")]
    assert left == [], f"after rm: {left}"
    assert "gone" not in a.names()
