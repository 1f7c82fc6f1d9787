"""EBS options as EBS CSI users know them (issue 29), through cloudstorctl against
daemons playing EC2 instances of the simulator. Every fact about EBS is read with
boto3 straight from the simulator, never through the daemon.

Restore: `--opt snapshot=snap-…` makes the volume from that snapshot and keeps its
filesystem; a bad snapshot is refused before any CreateVolume. Backups:
`cloudstorctl snapshot create|ls|rm`, frozen-consistent, never pruned, outliving
their volume; only backups Cloudstor made are ever deleted."""
import concurrent.futures
import json
import os
import re
import secrets

import botocore.exceptions

import pytest

from aws_fixtures import ec2sim, ec2sim_session, wait_for  # noqa: F401  (fixtures)
from aws_nodes import (CONFLICT, INVALID, NOT_FOUND, UNAVAILABLE, aws_nodes, data_digest, describe_volume, fs_uuid,  # noqa: F401
                       status_field, tagged_volumes, write_data)

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: the simulated EBS data plane uses loop devices, "
                                       "and the daemon runs mkfs and mount")

GIB = 1 << 30


def only(items, what):
    assert len(items) == 1, f"wanted exactly one {what}, found {len(items)}: {items}"
    return items[0]


def completed_snapshot(ec2, volume_id, description="a user's backup"):
    """A snapshot made outside Cloudstor (as AWS Backup or a user would), completed."""
    snap = ec2.create_snapshot(VolumeId=volume_id, Description=description)["SnapshotId"]
    wait_for(lambda: ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]["State"] == "completed", 60,
             what=f"snapshot {snap} to complete")
    return snap


def creates(sim):
    return [c for c in sim.calls() if c["action"] == "CreateVolume"]


def test_a_restored_volume_keeps_its_snapshots_filesystem_and_data_grows_and_moves(ec2sim, aws_nodes):
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a")
    c = aws_nodes("us-east-1b")
    a.create("src", size=1, ebstype="gp2")
    point = a.mount("src", "m1")
    digest = write_data(point, secrets.token_bytes(1 << 20))
    uuid = fs_uuid(a.device_of("src"))
    a.unmount("src", "m1")
    snap = completed_snapshot(ec2, status_field(a.inspect("src"), "cloud_id"))

    # Its own size: EBS takes the snapshot's.
    a.create("restored", snapshot=snap, ebstype="gp2")
    made = only(tagged_volumes(ec2, "restored"), "EBS volume for restored")
    assert (made["SnapshotId"], made["Size"], made["AvailabilityZone"]) == (snap, 1, "us-east-1a"), made
    assert a.inspect("restored")["options"].get("snapshot") == snap
    point = a.mount("restored", "r1")
    assert data_digest(point) == digest
    assert fs_uuid(a.device_of("restored")) == uuid, "the restored volume was formatted anew"
    a.unmount("restored", "r1")

    # Larger than its snapshot: the filesystem grows to the volume at its mount.
    a.create("bigger", snapshot=snap, size=3, ebstype="gp2")
    assert only(tagged_volumes(ec2, "bigger"), "EBS volume for bigger")["Size"] == 3
    point = a.mount("bigger", "b1")
    fs = os.statvfs(point)
    assert fs.f_blocks * fs.f_frsize > 2.5 * GIB, f"the filesystem is {fs.f_blocks * fs.f_frsize} bytes on a 3 GiB volume"
    assert data_digest(point) == digest
    a.unmount("bigger", "b1")

    # A restored volume moves across zones like any other, its data with it.
    point, _ = c.mount_until_ready("restored", "r2")
    assert data_digest(point) == digest
    c.unmount("restored", "r2")

    for name in ("src", "restored", "bigger"):
        c.rm(name)
    # The snapshot was the user's: Cloudstor never deletes it.
    assert ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]["State"] == "completed"


def test_a_bad_snapshot_is_refused_before_any_volume_is_made(ec2sim, aws_nodes):
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a")
    two = ec2.create_volume(AvailabilityZone="us-east-1a", Size=2, VolumeType="gp2")["VolumeId"]
    wait_for(lambda: describe_volume(ec2, two)["State"] == "available", 30, what=f"{two} to be available")
    snap = completed_snapshot(ec2, two)
    ec2sim.clear_calls()

    err = a.fails(INVALID, "volume", "create", "x", "--opt", "snapshot=snap-xyz")
    assert "snapshot id" in err, err
    err = a.fails(INVALID, "volume", "create", "x", "--opt", "snapshot=" + snap, "--opt", "backing=shared")
    assert "relocatable volumes only" in err, err
    asked = [c["action"] for c in ec2sim.calls() if c["action"] in ("DescribeSnapshots", "CreateVolume")]
    assert asked == [], f"an option's syntax is checked before any AWS call: {asked}"

    err = a.fails(INVALID, "volume", "create", "x", "--opt", "snapshot=snap-0123456789abcdef0")
    assert "snap-0123456789abcdef0 is not one of this account's snapshots" in err, err
    err = a.fails(INVALID, "volume", "create", "x", "--opt", "snapshot=" + snap, "--opt", "size=1")
    assert f"smaller than snapshot {snap}'s 2 GiB" in err, err
    err = a.fails(INVALID, "volume", "create", "x", "--opt", "snapshot=" + snap, "--opt", "ebstype=io1", "--opt", "iops=100")
    assert f"snapshot {snap} is of 2 GiB, out of range for ebstype=io1 (4-16384 GiB)" in err, err

    ec2sim.config(delays={"snapshot": 120})
    pending = ec2.create_snapshot(VolumeId=two)["SnapshotId"]
    err = a.fails(UNAVAILABLE, "volume", "create", "x", "--opt", "snapshot=" + pending)
    assert f"snapshot {pending} is pending" in err and "try again" in err, err

    assert creates(ec2sim) == [], "a refused restore made a volume"
    assert a.names() == []


def test_a_snapshot_without_a_filesystem_is_never_formatted(ec2sim, aws_nodes):
    """A raw snapshot (no filesystem, or one the kernel cannot see) makes a volume
    Cloudstor refuses to mount rather than format: formatting would destroy
    what the user meant to restore."""
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a")
    raw = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1, VolumeType="gp2")["VolumeId"]
    wait_for(lambda: describe_volume(ec2, raw)["State"] == "available", 30, what=f"{raw} to be available")
    snap = completed_snapshot(ec2, raw)
    a.create("blank", snapshot=snap)
    err = a.fails(CONFLICT, "volume", "mount", "blank", "--id", "m1")
    assert f"made from snapshot {snap}, holds no filesystem" in err and "does not format" in err, err
    wait_for(lambda: not describe_volume(ec2, status_field(a.inspect("blank"), "cloud_id")).get("Attachments"), 60,
             what="the refused volume to be detached")
    a.rm("blank")


def snapshot_state(ec2, snap):
    try:
        return ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]["State"]
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidSnapshot.NotFound", e
        return None


def test_backups_are_kept_until_removed_and_only_cloudstors_are_removed(ec2sim, aws_nodes):
    ec2 = ec2sim.client()
    # a takes a periodic snapshot every second and keeps one: backups must survive that.
    a = aws_nodes("us-east-1a", snapshot_interval=1, extra_args=["--snapshot-retention", "1"])
    b = aws_nodes("us-east-1a")
    a.create("db", size=1, ebstype="gp2")
    point = a.mount("db", "m1")
    digest = write_data(point, secrets.token_bytes(1 << 20))

    # Mounted here: frozen while it starts; the label is kept.
    first = a.ctl("snapshot", "create", "db", "--label", "before-upgrade").stdout.strip()
    made = ec2.describe_snapshots(SnapshotIds=[first])["Snapshots"][0]
    tags = {t["Key"]: t["Value"] for t in made.get("Tags") or []}
    assert (tags.get("CloudstorKind"), tags.get("CloudstorLabel"), tags.get("CloudstorVolume")) == ("backup", "before-upgrade", "db"), tags
    # Mounted on a: b cannot freeze it, and says where to ask.
    err = b.fails(CONFLICT, "snapshot", "create", "db")
    assert f"mounted on node {a.instance_id}" in err, err
    err = a.fails(INVALID, "snapshot", "create", "db", "--label", "two words")
    assert "invalid label" in err, err
    write_data(point, secrets.token_bytes(1 << 20))   # the second backup holds other data
    wait_for(lambda: len([s for s in json.loads(a.ctl("snapshot", "ls", "db", "--json").stdout) if s["kind"] == "periodic"]) >= 1,
             30, what="a periodic snapshot of db")
    a.unmount("db", "m1")
    # Not mounted: any node backs it up.
    second = b.ctl("snapshot", "create", "db").stdout.strip()
    wait_for(lambda: snapshot_state(ec2, first) == snapshot_state(ec2, second) == "completed", 60, what="both backups to complete")

    listed = json.loads(b.ctl("snapshot", "ls", "db", "--json").stdout)
    backups = {s["id"]: s for s in listed if s["kind"] == "backup"}
    assert set(backups) == {first, second}, listed
    assert backups[first]["label"] == "before-upgrade" and backups[first]["volume"] == "db" and backups[first]["size_gib"] == "1", backups
    assert "before-upgrade" in b.ctl("snapshot", "ls").stdout
    assert [s["kind"] for s in listed].count("periodic") <= 1, f"retention keeps one periodic snapshot: {listed}"

    # A backup restores like any snapshot, with the data of its instant.
    b.create("db-restored", snapshot=first)
    assert data_digest(b.mount("db-restored", "r1")) == digest
    b.unmount("db-restored", "r1")

    # The volume goes; its backups stay, listed still; its periodic snapshots go with it.
    b.rm("db")
    assert snapshot_state(ec2, first) == snapshot_state(ec2, second) == "completed"
    assert {s["id"] for s in json.loads(b.ctl("snapshot", "ls", "--json").stdout)} == {first, second}

    # Only backups Cloudstor made are deleted.
    users = ec2.create_snapshot(VolumeId=status_field(b.inspect("db-restored"), "cloud_id"))["SnapshotId"]
    err = b.fails(CONFLICT, "snapshot", "rm", users)
    assert "not a backup Cloudstor made" in err and "nothing was deleted" in err, err
    assert snapshot_state(ec2, users) is not None
    err = b.fails(NOT_FOUND, "snapshot", "rm", "snap-0123456789abcdef0")
    assert "not one of this account's snapshots" in err, err
    err = b.fails(INVALID, "snapshot", "rm", "vol-0123456789abcdef0")
    assert "snap- and 8 or 17 hexadecimal digits" in err, err
    assert b.ctl("snapshot", "rm", second).stdout.strip() == second
    assert snapshot_state(ec2, second) is None
    assert snapshot_state(ec2, first) == "completed"
    b.rm("db-restored")


def test_gp3_throughput_is_provisioned_kept_across_zones_and_refused_beyond_its_limits(ec2sim, aws_nodes):
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a")
    c = aws_nodes("us-east-1b")
    ec2sim.clear_calls()
    for opts, words in ((["size=10", "ebstype=gp2", "throughput=200"], "applies to gp3"),
                        (["size=10", "ebstype=gp3", "throughput=1000"], "at most 0.25 MiB/s per IOPS (750 here)"),
                        (["size=100", "ebstype=gp3", "iops=16000", "throughput=2500"], "125-2000")):
        args = ["volume", "create", "fast"]
        for opt in opts:
            args += ["--opt", opt]
        assert words in a.fails(INVALID, *args)
    assert creates(ec2sim) == [], "a refused throughput made a volume"

    a.create("fast", size=10, ebstype="gp3", iops=4000, throughput=500)
    made = only(tagged_volumes(ec2, "fast"), "EBS volume for fast")
    assert (made["VolumeType"], made["Iops"], made["Throughput"]) == ("gp3", 4000, 500), made
    point = a.mount("fast", "m1")
    digest = write_data(point, secrets.token_bytes(1 << 16))
    a.unmount("fast", "m1")
    point, _ = c.mount_until_ready("fast", "m2")
    assert data_digest(point) == digest
    moved = only([v for v in tagged_volumes(ec2, "fast") if v["AvailabilityZone"] == "us-east-1b"], "moved volume")
    assert (moved["VolumeType"], moved["Iops"], moved["Throughput"]) == ("gp3", 4000, 500), moved
    c.unmount("fast", "m2")
    c.rm("fast")


def test_the_attach_limit_is_the_instance_types(ec2sim, aws_nodes):
    """d3.8xlarge may have 3 EBS volumes attached, its root volume one of them:
    Cloudstor reads that from DescribeInstanceTypes, mounts two, and refuses the
    third with the type named, before EC2 would refuse it (the simulator enforces
    the type's limit too)."""
    a = aws_nodes("us-east-1a", instance_type="d3.8xlarge")
    assert "instance-type=d3.8xlarge" in a.logtext() and "limit=2" in a.logtext(), a.logtext()
    for name in ("l1", "l2", "l3"):
        a.create(name, size=1, ebstype="gp2")
    assert "attachments 0 of 2 (instance type d3.8xlarge)" in a.ctl("health").stdout
    a.mount("l1", "m1")
    a.mount("l2", "m2")
    health = a.ctl("health").stdout.splitlines()
    assert health == ["SERVING", f"node {a.instance_id} in us-east-1a", "attachments 2 of 2 (instance type d3.8xlarge)"], health
    err = a.fails(CONFLICT, "volume", "mount", "l3", "--id", "m3")
    assert "the most allowed (2, by instance type d3.8xlarge)" in err, err
    ec2 = ec2sim.client()
    assert not describe_volume(ec2, status_field(a.inspect("l3"), "cloud_id")).get("Attachments")
    a.unmount("l2", "m2")
    wait_for(lambda: not describe_volume(ec2, status_field(a.inspect("l2"), "cloud_id")).get("Attachments"), 60,
             what="l2 to be detached")
    a.mount("l3", "m3")
    for name, mid in (("l1", "m1"), ("l3", "m3")):
        a.unmount(name, mid)
    for name in ("l1", "l2", "l3"):
        a.rm(name)


def test_the_simulator_refuses_an_attach_past_the_instance_types_limit(ec2sim):
    ec2 = ec2sim.client()
    node = ec2sim.add_node("us-east-1a", instance_type="d3.8xlarge")
    volumes = []
    for _ in range(3):
        vid = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
        wait_for(lambda v=vid: describe_volume(ec2, v)["State"] == "available", 30, what=f"{vid} available")
        volumes.append(vid)
    for vid, dev in zip(volumes, ("/dev/sdf", "/dev/sdg")):
        ec2.attach_volume(VolumeId=vid, InstanceId=node["instance_id"], Device=dev)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.attach_volume(VolumeId=volumes[2], InstanceId=node["instance_id"], Device="/dev/sdh")
    assert e.value.response["Error"]["Code"] == "AttachmentLimitExceeded", e.value.response


def test_encrypted_volumes_keep_their_key_across_zones_and_a_bad_key_is_refused(ec2sim, aws_nodes):
    ec2 = ec2sim.client()
    kms = ec2sim.client("kms")
    key = kms.create_key(Description="cloudstor test")["KeyMetadata"]
    kms.create_alias(AliasName="alias/cloudstor-test", TargetKeyId=key["KeyId"])
    disabled = kms.create_key(Description="disabled")["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=disabled)
    a = aws_nodes("us-east-1a")
    c = aws_nodes("us-east-1b")

    ec2sim.clear_calls()
    assert "KMS key alias/nosuch does not exist" in a.fails(INVALID, "volume", "create", "x", "--opt", "size=1", "--opt", "kmskeyid=alias/nosuch")
    err = a.fails(CONFLICT, "volume", "create", "x", "--opt", "size=1", "--opt", "kmskeyid=" + disabled)
    assert f"KMS key {disabled} is Disabled" in err, err
    err = a.fails(INVALID, "volume", "create", "x", "--opt", "size=1", "--opt", "encrypted=false", "--opt", "kmskeyid=alias/cloudstor-test")
    assert "needs encrypted=true" in err, err
    assert "allowed: true, false" in a.fails(INVALID, "volume", "create", "x", "--opt", "size=1", "--opt", "encrypted=yes")
    assert "kmskeyid" in a.fails(INVALID, "volume", "create", "x", "--opt", "size=1", "--opt", "kmskeyid=not a key")
    assert "holds 256" in a.fails(INVALID, "volume", "create", "x", "--opt", "size=1", "--opt", "kmskeyid=alias/" + "k" * 250)
    assert creates(ec2sim) == [], "a refused key made a volume"

    a.create("enc", size=1, ebstype="gp2", kmskeyid="alias/cloudstor-test")
    made = only(tagged_volumes(ec2, "enc"), "EBS volume for enc")
    assert made["Encrypted"] and made.get("KmsKeyId"), made
    options = a.inspect("enc")["options"]
    assert (options.get("encrypted"), options.get("kmskeyid")) == ("true", "alias/cloudstor-test"), options
    point = a.mount("enc", "m1")
    digest = write_data(point, secrets.token_bytes(1 << 16))
    a.unmount("enc", "m1")
    point, _ = c.mount_until_ready("enc", "m2")
    assert data_digest(point) == digest
    moved = only([v for v in tagged_volumes(ec2, "enc") if v["AvailabilityZone"] == "us-east-1b"], "moved volume")
    assert moved["Encrypted"] and moved.get("KmsKeyId") == made["KmsKeyId"], (made, moved)
    c.unmount("enc", "m2")
    c.rm("enc")

    # The account's encryption by default: honoured, and said in the options.
    ec2.enable_ebs_encryption_by_default()
    d = aws_nodes("us-east-1a")
    d.create("dflt", size=1, ebstype="gp2")
    assert d.inspect("dflt")["options"].get("encrypted") == "true"
    assert only(tagged_volumes(ec2, "dflt"), "EBS volume for dflt")["Encrypted"]
    assert "EBS encryption by default" in d.fails(CONFLICT, "volume", "create", "plain", "--opt", "size=1", "--opt", "encrypted=false")
    d.rm("dflt")
    ec2.disable_ebs_encryption_by_default()


def modifies(sim):
    return [c for c in sim.calls() if c["action"] == "ModifyVolume"]


def modification(node, name):
    return status_field(node.inspect(name), "modification")


def wait_modified(node, name, timeout=60):
    wait_for(lambda: modification(node, name).startswith("completed"), timeout,
             what=f"the modification of {name} to complete (now {modification(node, name)!r})")
    return modification(node, name)


def filesystem_bytes(point):
    fs = os.statvfs(point)
    return fs.f_blocks * fs.f_frsize


@pytest.fixture
def modify_delays(ec2sim):
    """Sets the simulator's modifying/optimizing seconds; puts them back after."""
    before = ec2sim.config()["delays"]

    def set_delays(modify, optimize=1.0):
        ec2sim.config(delays={"modify": modify, "optimize": optimize})
    yield set_delays
    ec2sim.config(delays={"modify": before["modify"], "optimize": before["optimize"]})


def test_modify_grows_and_retypes_a_volume_in_place_across_a_crash_and_a_move(ec2sim, aws_nodes, modify_delays):
    """cloudstorctl volume modify: refused before any call when it cannot be done;
    EC2's modifying → optimizing → completed shown in inspect; the filesystem
    grown where it is mounted or at its next mount; followed again after a crash;
    a move waits for it; the fifth modification in 24 hours refused with the
    time the next is possible."""
    ec2 = ec2sim.client()
    a = aws_nodes("us-east-1a")
    c = aws_nodes("us-east-1b")
    modify_delays(1.0)
    a.create("grow", size=2, ebstype="gp2")
    point = a.mount("grow", "m1")
    digest = write_data(point, secrets.token_bytes(1 << 20))

    ec2sim.clear_calls()
    for args, code, words in (
            (["--size", "1"], INVALID, "never shrinks"),
            (["--iops", "3000"], INVALID, "does not apply to ebstype=gp2"),
            (["--ebstype", "gp9"], INVALID, "allowed: standard, gp2, gp3"),
            (["--throughput", "200"], INVALID, "applies to gp3"),
            (["--ebstype", "gp3", "--throughput", "1000"], INVALID, "at most 0.25 MiB/s per IOPS")):
        assert words in a.fails(code, "volume", "modify", "grow", *args), args
    assert "nothing to modify" in a.ctl("volume", "modify", "grow", check=False).stderr
    assert "no such volume" in a.fails(NOT_FOUND, "volume", "modify", "nosuch", "--size", "3")
    assert modifies(ec2sim) == [], "a refused modification reached EC2"

    out = a.ctl("volume", "modify", "grow", "--size", "3", "--ebstype", "gp3", "--iops", "3000", "--throughput", "250").stdout
    assert "modifying" in out and "size=3" in out and "ebstype=gp3" in out, out
    done = wait_modified(a, "grow")
    vid = status_field(a.inspect("grow"), "cloud_id")
    made = describe_volume(ec2, vid)
    assert (made["Size"], made["VolumeType"], made["Iops"], made["Throughput"]) == (3, "gp3", 3000, 250), made
    assert a.inspect("grow")["options"]["size"] == "3"
    # Online growth needs CAP_SYS_RESOURCE; where it is refused, the next mount grows it.
    assert done in ("completed; filesystem grown", "completed; filesystem grows at its next mount"), done
    if done.endswith("next mount"):
        assert filesystem_bytes(point) < 2.5 * GIB
        a.unmount("grow", "m1")
        point = a.mount("grow", "m1")
        assert modification(a, "grow") == "completed; filesystem grown"
    assert filesystem_bytes(point) > 2.5 * GIB, f"the filesystem is {filesystem_bytes(point)} bytes on a 3 GiB volume"
    assert data_digest(point) == digest

    # A modification in progress: the next is refused; a crash does not lose it. (The
    # simulator keeps a modification `modifying` for the delay set when it began: 30 s
    # leave room for a restart on a loaded machine.)
    modify_delays(30.0)
    assert "modifying" in a.ctl("volume", "modify", "grow", "--size", "4").stdout
    err = a.fails(CONFLICT, "volume", "modify", "grow", "--size", "5")
    assert "is being modified (modifying" in err, err
    a.kill()
    a.start()
    wait_for(lambda: modification(a, "grow").startswith(("modifying", "optimizing")), 30,
             what="the restarted daemon to follow the modification")
    assert "following a modification begun before this start" in a.logtext(20000)
    modify_delays(1.0)
    wait_modified(a, "grow", timeout=90)

    # A move waits while the volume is modifying; the moved copy has the new size.
    modify_delays(30.0)
    a.ctl("volume", "modify", "grow", "--size", "5")
    a.unmount("grow", "m1")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:   # Docker's Mount, retried as Docker retries it
        mounting = pool.submit(c.mount_until_ready, "grow", "m2", 240, re.compile("modif|mov"))
        wait_for(lambda: "waiting for its modification" in status_field(c.inspect("grow"), "move"), 60,
                 what="the move to wait for the modification")
        point, _ = mounting.result(timeout=300)
    moved = only([v for v in tagged_volumes(ec2, "grow") if v["AvailabilityZone"] == "us-east-1b"], "moved volume")
    assert (moved["Size"], moved["VolumeType"], moved["Iops"], moved["Throughput"]) == (5, "gp3", 3000, 250), moved
    assert filesystem_bytes(point) > 4.5 * GIB
    assert data_digest(point) == digest

    # The moved copy is a new EBS volume: four modifications, then the fifth is refused.
    modify_delays(0.2, 0.2)
    for size in (6, 7, 8, 9):
        c.ctl("volume", "modify", "grow", "--size", str(size))
        wait_modified(c, "grow")
    ec2sim.clear_calls()
    err = c.fails(CONFLICT, "volume", "modify", "grow", "--size", "10")
    assert "modified 4 times in the last 24 hours" in err and "the next modification is possible from 20" in err, err
    assert modifies(ec2sim) == []
    c.unmount("grow", "m2")
    c.rm("grow")


def test_the_simulator_enforces_elastic_volumes_rules(ec2sim, modify_delays):
    """What moto lets pass: a shrink, a modification during another, a fifth in
    24 hours; and the states a modification goes through."""
    ec2 = ec2sim.client()
    modify_delays(1.0, 1.0)
    vid = ec2.create_volume(AvailabilityZone="us-east-1a", Size=2, VolumeType="gp2")["VolumeId"]
    wait_for(lambda: describe_volume(ec2, vid)["State"] == "available", 30, what=f"{vid} available")

    def refused(code, **kw):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ec2.modify_volume(VolumeId=vid, **kw)
        assert e.value.response["Error"]["Code"] == code, e.value.response
        return e.value.response["Error"]["Message"]

    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.describe_volumes_modifications(VolumeIds=[vid])
    assert e.value.response["Error"]["Code"] == "InvalidVolumeModification.NotFound"
    refused("InvalidParameterValue", Size=1)
    refused("InvalidParameterValue", VolumeType="io1")   # io1 needs its IOPS
    assert ec2.modify_volume(VolumeId=vid, Size=3)["VolumeModification"]["ModificationState"] == "modifying"
    refused("IncorrectModificationState", Size=4)

    def state():
        return ec2.describe_volumes_modifications(VolumeIds=[vid])["VolumesModifications"][0]["ModificationState"]
    seen = set()
    wait_for(lambda: seen.add(state()) or "completed" in seen, 30, interval=0.1, what="the modification to complete")
    assert {"optimizing", "completed"} <= seen, seen
    in_progress = ec2.describe_volumes_modifications(Filters=[{"Name": "modification-state", "Values": ["modifying", "optimizing"]}])
    assert vid not in [m["VolumeId"] for m in in_progress["VolumesModifications"]]
    modify_delays(0.1, 0.1)
    # A new type takes EC2's defaults for what is not sent: gp3 3,000 IOPS and 125 MiB/s.
    ec2.modify_volume(VolumeId=vid, VolumeType="gp3")
    wait_for(lambda: state() == "completed", 30, what="the modification to complete")
    made = describe_volume(ec2, vid)
    assert (made["VolumeType"], made["Iops"], made["Throughput"]) == ("gp3", 3000, 125), made
    for size in (4, 5):
        ec2.modify_volume(VolumeId=vid, Size=size)
        wait_for(lambda: state() == "completed", 30, what="the modification to complete")
    assert "Retry after" in refused("VolumeModificationRateExceeded", Size=7)
    ec2.delete_volume(VolumeId=vid)
