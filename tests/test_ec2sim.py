"""ec2sim behaves like AWS where moto does not: each rule, state, fault and the
EBS data plane, proven with boto3 against the proxy (moto enforcing SigV4)."""
import concurrent.futures
import datetime
import http.client
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.parse
import xml.etree.ElementTree as ET

import boto3
import botocore.config
import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from aws_fixtures import (REGION, Sim, ec2sim, ec2sim_session, loops_backed_by, moto_server,  # noqa: F401
                          pid_alive, wait_for)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the data plane needs root (losetup)")


def code_of(excinfo):
    return excinfo.value.response["Error"]["Code"]


def status_of(excinfo):
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


def raw_ec2(sim, params, secret=None):
    """A hand-signed EC2 Query call: (status, body) exactly as the proxy answers."""
    key, good = sim.credentials()
    body = urllib.parse.urlencode(dict(params, Version="2016-11-15"))
    netloc = urllib.parse.urlsplit(sim.url).netloc
    req = AWSRequest("POST", sim.url + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Host": netloc})
    SigV4Auth(Credentials(key, secret or good), "ec2", REGION).add_auth(req)
    conn = http.client.HTTPConnection(netloc, timeout=30)
    try:
        conn.request("POST", "/", body=body.encode(), headers=dict(req.headers))
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def volume(ec2, vid):
    return ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]


def wait_state(ec2, vid, state, timeout=10):
    return wait_for(lambda: volume(ec2, vid)["State"] == state, timeout, what=f"{vid} {state}")


def attached(ec2, vid, timeout=10):
    def check():
        atts = volume(ec2, vid)["Attachments"]
        return bool(atts) and atts[0]["State"] == "attached"
    return wait_for(check, timeout, what=f"{vid} attached")


def new_volume(ec2, az="us-east-1a", size=1, **kw):
    vid = ec2.create_volume(Size=size, AvailabilityZone=az, **kw)["VolumeId"]
    wait_state(ec2, vid, "available")
    return vid


# ---- signatures ---------------------------------------------------------------------------

def test_signatures_verify_through_the_proxy_and_bad_ones_are_refused(ec2sim):
    ec2 = ec2sim.client()
    assert ec2.describe_volumes()["Volumes"] == []
    key, _ = ec2sim.credentials()
    for creds in ((key, "wrong-secret"), ("AKIAUNKNOWN000000000", "x")):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ec2sim.client(creds=creds).describe_volumes()
        assert code_of(e) == "AuthFailure"
    # an answer the proxy composes itself (a rule error) authenticates first, as AWS does
    node = ec2sim.add_node("us-east-1a")
    vid = new_volume(ec2)
    ec2.attach_volume(VolumeId=vid, InstanceId=node["instance_id"], Device="/dev/sdf")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2sim.client(creds=(key, "wrong-secret")).attach_volume(
            VolumeId=vid, InstanceId=node["instance_id"], Device="/dev/sdg")
    assert code_of(e) == "AuthFailure"
    netloc = urllib.parse.urlsplit(ec2sim.url).netloc
    conn = http.client.HTTPConnection(netloc, timeout=10)
    conn.request("POST", "/", body="Action=DescribeVolumes&Version=2016-11-15",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    assert resp.status == 403 and b"<Code>MissingAuthenticationToken</Code>" in resp.read()
    conn.close()
    # other services pass through, signed too
    iam = ec2sim.client("iam")
    assert any(u["UserName"] == "ec2sim-admin" for u in iam.list_users()["Users"])
    assert ec2sim.client("efs").describe_file_systems()["FileSystems"] == []


def test_bare_moto_enforces_signatures_after_the_free_calls():
    with moto_server(auth=True) as moto:
        def ec2(key, secret):
            return boto3.client("ec2", endpoint_url=moto.url, region_name=REGION, aws_access_key_id=key,
                                aws_secret_access_key=secret,
                                config=botocore.config.Config(retries={"total_max_attempts": 1}))
        assert ec2(*moto.creds).describe_volumes()["Volumes"] == []
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ec2(moto.creds[0], "wrong-secret").describe_volumes()
        assert code_of(e) == "AuthFailure"
        pid = moto.pid
    assert not pid_alive(pid)


def test_the_account_budget_throttles_beyond_ec2s_buckets_and_refills():
    """--ec2-budget: Describe* share a bucket of 100 refilled at 20/s, as EC2's
    account budget. The first 100 calls in a burst always pass; calls go on until
    one is refused RequestLimitExceeded, and no more can pass than the bucket and
    its refill allow. The refusals are counted; a second later calls pass again."""
    sim = Sim(extra=["--ec2-budget"])
    try:
        ec2 = sim.client()
        ec2.describe_volumes()   # a first connection, outside the timing
        sim.admin("DELETE", "stats")
        started = time.monotonic()
        passed, refused = 0, None
        while refused is None and passed < 2000:
            try:
                ec2.describe_volumes()
                passed += 1
            except botocore.exceptions.ClientError as e:
                refused = e
        elapsed = time.monotonic() - started
        assert refused is not None, f"{passed} describes in {elapsed:.1f} s and none refused"
        assert refused.response["Error"]["Code"] == "RequestLimitExceeded", refused.response
        assert refused.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert 99 <= passed <= 100 + 20 * elapsed + 1, (passed, elapsed)
        assert sim.stats()["throttled"] == {"DescribeVolumes": 1}
        time.sleep(1.0)
        ec2.describe_volumes()
    finally:
        sim.cleanup()


# ---- EC2 rules moto lacks -------------------------------------------------------------------

def test_error_xml_has_the_shape_ec2_answers(ec2sim):
    status, body = raw_ec2(ec2sim, {"Action": "DetachVolume", "VolumeId": new_volume(ec2sim.client()),
                                    "InstanceId": "i-0123456789abcdef0"})
    assert status == 400
    root = ET.fromstring(body)
    assert root.tag == "Response"
    assert [c.tag for c in root] == ["Errors", "RequestID"]
    assert root.findtext("Errors/Error/Code") == "IncorrectState"
    assert "is in the 'available' state." in root.findtext("Errors/Error/Message")
    assert root.findtext("RequestID")


def test_one_attachment_per_volume_and_one_volume_per_device(ec2sim):
    ec2 = ec2sim.client()
    a, b = ec2sim.add_node("us-east-1a"), ec2sim.add_node("us-east-1a")
    vid, other = new_volume(ec2), new_volume(ec2)
    assert ec2.attach_volume(VolumeId=vid, InstanceId=a["instance_id"], Device="/dev/sdf")["State"] == "attaching"
    for inst, dev in ((b["instance_id"], "/dev/sdf"), (a["instance_id"], "/dev/sdg")):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ec2.attach_volume(VolumeId=vid, InstanceId=inst, Device=dev)
        assert code_of(e) == "VolumeInUse" and status_of(e) == 400
        assert f"{vid} is already attached to an instance" in str(e.value)
    with pytest.raises(botocore.exceptions.ClientError) as e:   # /dev/xvdf is the same slot
        ec2.attach_volume(VolumeId=other, InstanceId=a["instance_id"], Device="/dev/xvdf")
    assert code_of(e) == "InvalidParameterValue"
    assert ec2sim.stats()["rule_errors"] == {"VolumeInUse": 2, "InvalidParameterValue": 1}


def test_attach_across_zones_is_a_zone_mismatch(ec2sim):
    ec2 = ec2sim.client()
    node = ec2sim.add_node("us-east-1b")
    vid = new_volume(ec2, "us-east-1a")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.attach_volume(VolumeId=vid, InstanceId=node["instance_id"], Device="/dev/sdf")
    assert code_of(e) == "InvalidVolume.ZoneMismatch"
    assert f"The volume '{vid}' is not in the same availability zone as instance '{node['instance_id']}'" \
        in str(e.value)
    assert volume(ec2, vid)["State"] == "available"


def test_attach_of_a_volume_not_available_is_an_incorrect_state(ec2sim):
    ec2sim.config(delays={"create": 30})
    ec2 = ec2sim.client()
    node = ec2sim.add_node("us-east-1a")
    vid = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
    assert volume(ec2, vid)["State"] == "creating"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.attach_volume(VolumeId=vid, InstanceId=node["instance_id"], Device="/dev/sdf")
    assert code_of(e) == "IncorrectState" and f"{vid} is not 'available'." in str(e.value)


def test_detach_of_an_unattached_volume_and_delete_of_an_attached_one(ec2sim):
    ec2sim.config(delays={"detach": 30})
    ec2 = ec2sim.client()
    node = ec2sim.add_node("us-east-1a")
    vid = new_volume(ec2)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.detach_volume(VolumeId=vid, InstanceId=node["instance_id"])
    assert code_of(e) == "IncorrectState" and f"Volume '{vid}' is in the 'available' state." in str(e.value)
    ec2.attach_volume(VolumeId=vid, InstanceId=node["instance_id"], Device="/dev/sdf")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.delete_volume(VolumeId=vid)
    assert code_of(e) == "VolumeInUse"
    # still in use while detaching (moto itself has already let go by then)
    assert ec2.detach_volume(VolumeId=vid, InstanceId=node["instance_id"])["State"] == "detaching"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.delete_volume(VolumeId=vid)
    assert code_of(e) == "VolumeInUse"
    with pytest.raises(botocore.exceptions.ClientError) as e:   # nor can it be attached meanwhile
        ec2.attach_volume(VolumeId=vid, InstanceId=node["instance_id"], Device="/dev/sdg")
    assert code_of(e) == "VolumeInUse"
    # Force hurries a detach along (here: the 30 s detach delay restarts at 0 s)
    ec2sim.config(delays={"detach": 0})
    ec2.detach_volume(VolumeId=vid, InstanceId=node["instance_id"], Force=True)
    wait_state(ec2, vid, "available")
    ec2.delete_volume(VolumeId=vid)
    assert ec2.describe_volumes()["Volumes"] == [v for v in ec2.describe_volumes()["Volumes"] if v["Size"] == 8]


def test_detach_without_instance_id_and_client_token_replay(ec2sim):
    ec2 = ec2sim.client()
    node = ec2sim.add_node("us-east-1a")
    first = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a", ClientToken="tok-1")["VolumeId"]
    again = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a", ClientToken="tok-1")["VolumeId"]
    assert first == again
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.create_volume(Size=2, AvailabilityZone="us-east-1a", ClientToken="tok-1")
    assert code_of(e) == "IdempotentParameterMismatch"
    ours = [v for v in ec2.describe_volumes()["Volumes"] if v["Size"] == 1]
    assert [v["VolumeId"] for v in ours] == [first]
    ec2.attach_volume(VolumeId=first, InstanceId=node["instance_id"], Device="/dev/sdf")
    assert ec2.detach_volume(VolumeId=first)["State"] == "detaching"   # moto alone answers HTML 500
    wait_state(ec2, first, "available")


def test_create_from_a_pending_snapshot_is_refused(ec2sim):
    ec2sim.config(delays={"snapshot": 30})
    ec2 = ec2sim.client()
    sid = ec2.create_snapshot(VolumeId=new_volume(ec2))["SnapshotId"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.create_volume(SnapshotId=sid, AvailabilityZone="us-east-1b")
    assert code_of(e) == "IncorrectState"


def test_create_from_a_snapshot_smaller_than_it_is_refused(ec2sim):
    ec2sim.config(delays={"snapshot": 0})
    ec2 = ec2sim.client()
    sid = ec2.create_snapshot(VolumeId=new_volume(ec2, size=2))["SnapshotId"]
    deadline = time.monotonic() + 10
    while ec2.describe_snapshots(SnapshotIds=[sid])["Snapshots"][0]["State"] != "completed":
        assert time.monotonic() < deadline, f"{sid} still pending"
        time.sleep(0.05)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.create_volume(SnapshotId=sid, AvailabilityZone="us-east-1b", Size=1)
    assert code_of(e) == "InvalidParameterValue" and "Volume of 1GiB is too small; minimum is 2GiB." in str(e.value)
    assert ec2.create_volume(SnapshotId=sid, AvailabilityZone="us-east-1b")["Size"] == 2   # moto: the snapshot's size
    assert ec2.create_volume(SnapshotId=sid, AvailabilityZone="us-east-1b", Size=3)["Size"] == 3


# ---- states that last ---------------------------------------------------------------------------

def observe(fn, until, timeout=10):
    """Poll fn() until until(value); the distinct values seen, in order."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if not seen or seen[-1] != value:
            seen.append(value)
        if until(value) or time.monotonic() > deadline:
            return seen
        time.sleep(0.03)


def test_transitional_states_last_and_come_in_order(ec2sim):
    ec2sim.config(delay=0.4)
    ec2 = ec2sim.client()
    node = ec2sim.add_node("us-east-1a")

    created = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")
    vid = created["VolumeId"]
    assert created["State"] == "creating"
    assert observe(lambda: volume(ec2, vid)["State"], lambda s: s == "available") == ["creating", "available"]

    def attachment():
        v = volume(ec2, vid)
        return v["State"], tuple(a["State"] for a in v["Attachments"])

    assert ec2.attach_volume(VolumeId=vid, InstanceId=node["instance_id"], Device="/dev/sdf")["State"] == "attaching"
    assert observe(attachment, lambda s: s[1] == ("attached",)) == [("in-use", ("attaching",)),
                                                                   ("in-use", ("attached",))]
    # the filters see the same states as the listing
    flt = [{"Name": "attachment.status", "Values": ["attached"]}, {"Name": "size", "Values": ["1"]}]
    assert [v["VolumeId"] for v in ec2.describe_volumes(Filters=flt)["Volumes"]] == [vid]

    snap = ec2.create_snapshot(VolumeId=vid)
    assert snap["State"] == "pending"
    seen = observe(lambda: ec2.describe_snapshots(SnapshotIds=[snap["SnapshotId"]])["Snapshots"][0]["Progress"],
                   lambda p: p == "100%")
    percents = [int(p.rstrip("%")) for p in seen]
    assert percents == sorted(percents) and percents[-1] == 100 and len(percents) >= 3
    assert ec2.describe_snapshots(SnapshotIds=[snap["SnapshotId"]])["Snapshots"][0]["State"] == "completed"

    assert ec2.detach_volume(VolumeId=vid, InstanceId=node["instance_id"])["State"] == "detaching"
    during = ec2.describe_volumes(Filters=[{"Name": "status", "Values": ["in-use"]},
                                           {"Name": "size", "Values": ["1"]}])["Volumes"]
    assert [v["VolumeId"] for v in during] == [vid]   # moto alone says "available" here
    assert observe(attachment, lambda s: s[0] == "available") == [("in-use", ("detaching",)), ("available", ())]


# ---- paging ----------------------------------------------------------------------------------------

def test_describe_volumes_pages_as_ec2_does(ec2sim):
    ec2 = ec2sim.client()
    tag = [{"ResourceType": "volume", "Tags": [{"Key": "StackID", "Value": "paging"}]}]
    made = {ec2.create_volume(Size=1, AvailabilityZone="us-east-1a", TagSpecifications=tag)["VolumeId"]
            for _ in range(12)}
    flt = [{"Name": "tag:StackID", "Values": ["paging"]}]
    pages, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        page = ec2.describe_volumes(Filters=flt, MaxResults=5, **kw)
        pages.append([v["VolumeId"] for v in page["Volumes"]])
        token = page.get("NextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [5, 5, 2]
    assert {v for p in pages for v in p} == made
    paginated = ec2.get_paginator("describe_volumes").paginate(Filters=flt, PaginationConfig={"PageSize": 7})
    assert [len(p["Volumes"]) for p in paginated] == [7, 5]
    assert len(ec2.describe_volumes(Filters=flt)["Volumes"]) == 12    # no MaxResults: everything
    snaps = {ec2.create_snapshot(VolumeId=vid)["SnapshotId"] for vid in sorted(made)[:6]}
    first = ec2.describe_snapshots(OwnerIds=["self"], MaxResults=5)
    rest = ec2.describe_snapshots(OwnerIds=["self"], MaxResults=5, NextToken=first["NextToken"])
    assert (len(first["Snapshots"]), len(rest["Snapshots"]), rest.get("NextToken")) == (5, 1, None)
    assert {s["SnapshotId"] for s in first["Snapshots"] + rest["Snapshots"]} == snaps
    for kw, code in (({"MaxResults": 4}, "InvalidParameterValue"),
                     ({"MaxResults": 5, "VolumeIds": [next(iter(made))]}, "InvalidParameterCombination"),
                     ({"NextToken": "not-a-token"}, "InvalidPaginationToken")):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ec2.describe_volumes(**kw)
        assert code_of(e) == code


def test_later_pages_are_cut_from_the_first_with_the_states_of_now(ec2sim):
    ec2 = ec2sim.client()
    key, _ = ec2sim.credentials()
    tag = [{"ResourceType": "volume", "Tags": [{"Key": "StackID", "Value": "kept"}]}]
    made = sorted(ec2.create_volume(Size=1, AvailabilityZone="us-east-1a", TagSpecifications=tag)["VolumeId"]
                  for _ in range(8))
    for vid in made:
        wait_state(ec2, vid, "available")
    flt = [{"Name": "tag:StackID", "Values": ["kept"]}]
    first = ec2.describe_volumes(Filters=flt, MaxResults=5)
    assert [v["VolumeId"] for v in first["Volumes"]] == made[:5]
    # between the pages: one of the rest attached, one more volume made
    node = ec2sim.add_node("us-east-1a")
    ec2.attach_volume(VolumeId=made[6], InstanceId=node["instance_id"], Device="/dev/sdf")
    late = []   # made until one sorts into the later pages (ids are random)
    while not late or late[-1] < made[4]:
        assert len(late) < 60
        late.append(ec2.create_volume(Size=1, AvailabilityZone="us-east-1a", TagSpecifications=tag)["VolumeId"])
    # the token is no key to the kept answer for a request signed with a wrong secret
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2sim.client(creds=(key, "wrong-secret")).describe_volumes(
            Filters=flt, MaxResults=5, NextToken=first["NextToken"])
    assert code_of(e) == "AuthFailure"
    rest = ec2.describe_volumes(Filters=flt, MaxResults=5, NextToken=first["NextToken"])
    assert [v["VolumeId"] for v in rest["Volumes"]] == made[5:] and "NextToken" not in rest
    states = {v["VolumeId"]: (v["State"], [a["State"] for a in v["Attachments"]]) for v in rest["Volumes"]}
    assert states[made[6]] in (("in-use", ["attaching"]), ("in-use", ["attached"]))
    assert states[made[5]] == ("available", [])
    # a new listing sees the volume made meanwhile
    assert set(late) <= {v["VolumeId"] for v in ec2.describe_volumes(Filters=flt)["Volumes"]}


# ---- faults ------------------------------------------------------------------------------------------

def test_throttling_at_a_rate_per_action(ec2sim):
    ec2 = ec2sim.client()
    ec2sim.fault(type="throttle", rate=0.3, actions=["DescribeVolumes"])
    throttled = 0
    for _ in range(100):
        try:
            ec2.describe_volumes()
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "RequestLimitExceeded"
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 503
            throttled += 1
    assert 10 <= throttled <= 55
    for _ in range(20):
        ec2.describe_snapshots(OwnerIds=["self"])     # other actions untouched
    stats = ec2sim.stats()
    assert stats["faults"] == {"throttle": throttled}
    assert stats["faults_by_action"] == {"DescribeVolumes": {"throttle": throttled}}
    assert stats["requests"]["DescribeVolumes"] == 100 and stats["requests"]["DescribeSnapshots"] == 20
    # a client that retries gets through
    assert ec2sim.client(attempts=10).describe_volumes()["Volumes"] == []


def test_concurrent_creates_complete_through_throttling(ec2sim):
    ec2sim.fault(type="throttle", rate=0.3, actions=["CreateVolume"])
    ec2 = ec2sim.client(attempts=20)
    tag = [{"ResourceType": "volume", "Tags": [{"Key": "batch", "Value": "1"}]}]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda i: ec2.create_volume(Size=1, AvailabilityZone="us-east-1a", TagSpecifications=tag,
                                                          ClientToken=f"batch-{i}")["VolumeId"], range(10)))
    assert len(set(made)) == 10
    listed = ec2.describe_volumes(Filters=[{"Name": "tag:batch", "Values": ["1"]}])["Volumes"]
    assert len(listed) == 10
    stats = ec2sim.stats()
    assert stats["faults"]["throttle"] > 0
    assert stats["requests"]["CreateVolume"] == 10 + stats["faults"]["throttle"]


def test_server_errors_latency_and_errors_after_the_fact(ec2sim):
    ec2 = ec2sim.client()
    for status, code in ((500, "InternalError"), (503, "Unavailable")):
        ec2sim.fault(type="error", status=status, count=1)
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ec2.describe_volumes()
        assert code_of(e) == code and status_of(e) == status
    ec2.describe_volumes()      # count=1: gone again
    ec2sim.fault(type="latency", seconds=0.3, actions=["DescribeSnapshots"], count=1)
    started = time.monotonic()
    ec2.describe_snapshots(OwnerIds=["self"])
    assert time.monotonic() - started >= 0.3
    # phase "after": the call takes effect, the client hears an error
    ec2sim.fault(type="error", status=500, actions=["CreateVolume"], phase="after", count=1)
    with pytest.raises(botocore.exceptions.ClientError):
        ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")
    assert len([v for v in ec2.describe_volumes()["Volumes"] if v["Size"] == 1]) == 1
    assert ec2sim.stats()["faults"] == {"error": 3, "latency": 1}


def test_dropped_connections(ec2sim):
    ec2 = ec2sim.client()
    ec2sim.fault(type="drop", actions=["DescribeVolumes"], count=1)
    with pytest.raises((botocore.exceptions.ConnectionClosedError, botocore.exceptions.EndpointConnectionError)):
        ec2.describe_volumes()
    ec2sim.fault(type="drop", actions=["CreateVolume"], phase="after", count=1)
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")
    assert len([v for v in ec2.describe_volumes()["Volumes"] if v["Size"] == 1]) == 1   # it did happen
    assert ec2sim.stats()["faults"] == {"drop": 2}


def test_efs_faults_speak_efs(ec2sim):
    efs = ec2sim.client("efs")
    ec2sim.fault(type="throttle", actions=["elasticfilesystem:DescribeFileSystems"], count=1)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        efs.describe_file_systems()
    assert code_of(e) == "ThrottlingException" and status_of(e) == 429
    assert efs.describe_file_systems()["FileSystems"] == []


# ---- kill rules and the call log ---------------------------------------------------------------

DROPPED = (botocore.exceptions.ConnectionClosedError, botocore.exceptions.EndpointConnectionError)


@pytest.fixture
def victim():
    """A throwaway process for kill rules to signal; killed and reaped afterwards."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait()


def unused_pid():
    """A pid no process can have: pids are allocated below pid_max."""
    with open("/proc/sys/kernel/pid_max") as f:
        return int(f.read())


NO_PID = unused_pid()


def proc_state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def sized(ec2, size):
    return [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"] if v["Size"] == size]


def test_a_kill_before_stops_the_caller_at_the_nth_call_which_never_happens(ec2sim, victim):
    ec2 = ec2sim.client()
    rid = ec2sim.kill_at(victim.pid, "CreateVolume", nth=2)
    ec2.create_volume(Size=3, AvailabilityZone="us-east-1a")
    ec2.describe_volumes()                                  # another action: not counted
    assert victim.poll() is None
    with pytest.raises(DROPPED):
        ec2.create_volume(Size=3, AvailabilityZone="us-east-1a")
    assert victim.poll() == -signal.SIGKILL                 # dead before its caller heard anything
    assert len(sized(ec2, 3)) == 1                          # the second create never took effect
    ec2.create_volume(Size=3, AvailabilityZone="us-east-1a")    # fired once: the third goes through
    assert len(sized(ec2, 3)) == 2
    [rule] = ec2sim.admin("GET", "faults")["rules"]
    assert rule["id"] == rid and rule["fired"] == 1 and rule["seen"] == 2
    stats = ec2sim.stats()
    assert stats["faults"] == {"kill": 1} and stats["faults_by_action"] == {"CreateVolume": {"kill": 1}}
    creates = [c for c in ec2sim.calls() if c["action"] == "CreateVolume"]
    assert [c["status"] for c in creates] == [200, "dropped", 200]
    assert creates[1]["killed"] == [rid] and "killed" not in creates[0]


def test_a_kill_after_lets_the_call_take_effect_and_loses_its_answer(ec2sim, victim):
    """Also: a latency rule on the same call still delays it before the kill."""
    ec2 = ec2sim.client()
    ec2sim.fault(type="latency", seconds=0.3, actions=["CreateVolume"])
    ec2sim.kill_at(victim.pid, "CreateVolume", phase="after")
    started = time.monotonic()
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        ec2.create_volume(Size=4, AvailabilityZone="us-east-1a")
    assert time.monotonic() - started >= 0.3
    assert victim.wait(timeout=5) == -signal.SIGKILL
    [vid] = sized(ec2, 4)                                   # it did happen
    wait_state(ec2, vid, "available")                       # and the simulator's states go on
    ec2.create_volume(Size=4, AvailabilityZone="us-east-1a")
    assert len(sized(ec2, 4)) == 2
    assert ec2sim.stats()["faults"] == {"latency": 2, "kill": 1}
    assert [c["status"] for c in ec2sim.calls() if c["action"] == "CreateVolume"] == ["dropped", 200]


def test_a_stop_rule_pauses_the_caller(ec2sim, victim):
    ec2 = ec2sim.client()
    ec2sim.kill_at(victim.pid, "DescribeVolumes", signal="STOP")
    with pytest.raises(DROPPED):
        ec2.describe_volumes()
    assert proc_state(victim.pid) == "T"                    # stopped before the drop was seen
    victim.send_signal(signal.SIGCONT)
    wait_for(lambda: proc_state(victim.pid) != "T", what="the victim resumed")
    assert victim.poll() is None
    assert ec2.describe_volumes()["Volumes"] == []          # fired once
    victim.kill()
    assert victim.wait(timeout=5) == -signal.SIGKILL


def test_a_kill_rule_counts_only_calls_that_match(ec2sim, victim):
    ec2 = ec2sim.client()
    vid = new_volume(ec2)
    ec2sim.kill_at(victim.pid, "CreateTags", nth=2, match={"Tag.1.Key": "B"})

    def tag(key, value):
        ec2.create_tags(Resources=[vid], Tags=[{"Key": key, "Value": value}])

    tag("B", "1")
    tag("A", "1")
    tag("A", "2")
    assert victim.poll() is None
    with pytest.raises(DROPPED):
        tag("B", "2")                                       # the second B, the fourth CreateTags
    assert victim.wait(timeout=5) == -signal.SIGKILL
    tags = {t["Key"]: t["Value"] for t in volume(ec2, vid).get("Tags", [])}
    assert tags == {"A": "2", "B": "1"}                     # phase before: B=2 never landed
    tagged = [(c["params"]["Tag.1.Key"], c["status"]) for c in ec2sim.calls() if c["action"] == "CreateTags"]
    assert tagged == [("B", 200), ("A", 200), ("A", 200), ("B", "dropped")]


def test_kill_rules_use_no_randomness_and_leave_other_rules_alone(ec2sim, victim):
    """A seeded throttle throttles the same calls with or without kill rules that
    see the same calls (one not yet due, one whose match fails)."""
    ec2 = ec2sim.client()

    def pattern():
        outcomes = []
        for _ in range(30):
            try:
                ec2.describe_volumes()
                outcomes.append("ok")
            except botocore.exceptions.ClientError as e:
                outcomes.append(e.response["Error"]["Code"])
        return outcomes

    ec2sim.config(seed=7)
    ec2sim.fault(type="throttle", rate=0.5, actions=["DescribeVolumes"])
    alone = pattern()
    assert 5 <= alone.count("RequestLimitExceeded") <= 25
    ec2sim.admin("DELETE", "faults")
    ec2sim.config(seed=7)
    late = ec2sim.kill_at(victim.pid, "DescribeVolumes", nth=1000)
    unmatched = ec2sim.kill_at(victim.pid, "DescribeVolumes", match={"VolumeId.1": "vol-none"})
    ec2sim.fault(type="throttle", rate=0.5, actions=["DescribeVolumes"])
    assert pattern() == alone
    assert victim.poll() is None
    rules = {r["id"]: r for r in ec2sim.admin("GET", "faults")["rules"]}
    assert (rules[late]["seen"], rules[late]["fired"]) == (30, 0)
    assert (rules[unmatched]["seen"], rules[unmatched]["fired"]) == (0, 0)


def test_a_kill_rule_for_a_process_gone_is_no_error(ec2sim):
    rid = ec2sim.kill_at(NO_PID, "DescribeVolumes")
    with pytest.raises(DROPPED):
        ec2sim.client().describe_volumes()
    assert ec2sim.client().describe_volumes()["Volumes"] == []
    assert f"kill rule {rid}: no process {NO_PID}" in ec2sim.log()


@pytest.mark.parametrize("rule, complaint", [
    ({"actions": ["CreateVolume"]}, "pid"),
    ({"pid": 0, "actions": ["CreateVolume"]}, "pid"),
    ({"pid": "123", "actions": ["CreateVolume"]}, "pid"),
    ({"pid": True, "actions": ["CreateVolume"]}, "pid"),
    ({"pid": NO_PID}, "actions"),
    ({"pid": NO_PID, "actions": []}, "actions"),
    ({"pid": NO_PID, "actions": "CreateVolume"}, "actions"),
    ({"pid": NO_PID, "actions": ["CreateVolume"], "nth": 0}, "nth"),
    ({"pid": NO_PID, "actions": ["CreateVolume"], "nth": 1.5}, "nth"),
    ({"pid": NO_PID, "actions": ["CreateVolume"], "signal": "TERM"}, "signal"),
    ({"pid": NO_PID, "actions": ["CreateVolume"], "phase": "during"}, "phase"),
    ({"pid": NO_PID, "actions": ["CreateVolume"], "rate": 0.5}, "rate"),
    ({"pid": NO_PID, "actions": ["CreateVolume"], "count": 2}, "count"),
    ({"pid": NO_PID, "actions": ["CreateVolume"], "match": {"Force": True}}, "match"),
])
def test_bad_kill_rules_are_refused(ec2sim, rule, complaint):
    answer = ec2sim.admin("POST", "faults", dict(rule, type="kill"), expect=400)
    assert complaint in answer["error"]
    good = {"type": "kill", "pid": NO_PID, "actions": ["CreateVolume"]}
    ec2sim.admin("POST", "faults", {"rules": [good, dict(rule, type="kill")]}, expect=400)
    assert ec2sim.admin("GET", "faults")["rules"] == []      # all or nothing


def test_the_call_log_lists_calls_in_order_with_params_and_statuses(ec2sim):
    ec2 = ec2sim.client()
    node = ec2sim.add_node("us-east-1a")                     # its RunInstances goes to moto directly
    spec = [{"ResourceType": "volume", "Tags": [{"Key": "CloudstorName", "Value": "v1"}]}]
    vid = ec2.create_volume(Size=1, AvailabilityZone="us-east-1b", TagSpecifications=spec,
                            ClientToken="tok-1")["VolumeId"]
    ec2.create_tags(Resources=[vid], Tags=[{"Key": "CloudstorHolder", "Value": node["instance_id"]}])
    wait_state(ec2, vid, "available")
    with pytest.raises(botocore.exceptions.ClientError):    # a rule error: another zone
        ec2.attach_volume(VolumeId=vid, InstanceId=node["instance_id"], Device="/dev/sdf")
    ec2sim.fault(type="drop", actions=["DeleteVolume"], count=1)
    with pytest.raises(DROPPED):
        ec2.delete_volume(VolumeId=vid)
    ec2sim.client("efs").describe_file_systems()
    calls = [c for c in ec2sim.calls() if c["action"] != "DescribeVolumes"]   # wait_state's polls
    assert [(c["action"], c["status"]) for c in calls] == [
        ("CreateVolume", 200), ("CreateTags", 200), ("AttachVolume", 400), ("DeleteVolume", "dropped"),
        ("elasticfilesystem:DescribeFileSystems", 200)]
    create, tag, attach, delete, efs = (c["params"] for c in calls)
    assert create == {"Size": "1", "AvailabilityZone": "us-east-1b", "ClientToken": "tok-1",
                      "TagSpecification.1.ResourceType": "volume",
                      "TagSpecification.1.Tag.1.Key": "CloudstorName", "TagSpecification.1.Tag.1.Value": "v1"}
    assert tag == {"ResourceId.1": vid, "Tag.1.Key": "CloudstorHolder", "Tag.1.Value": node["instance_id"]}
    assert attach == {"VolumeId": vid, "InstanceId": node["instance_id"], "Device": "/dev/sdf"}
    assert delete == {"VolumeId": vid} and efs == {}
    everything = ec2sim.calls()
    assert [c["seq"] for c in everything] == list(range(1, len(everything) + 1))
    assert all(a["t"] <= b["t"] for a, b in zip(everything, everything[1:]))
    ec2sim.admin("DELETE", "calls")
    assert ec2sim.calls() == []
    ec2.describe_snapshots(OwnerIds=["self"])
    [call] = ec2sim.calls()
    assert call["seq"] == 1 and call["action"] == "DescribeSnapshots" and call["params"] == {"Owner.1": "self"}
    assert ec2sim.stats()["requests"]["CreateVolume"] == 1    # stats are kept by DELETE /_sim/calls
    ec2sim.admin("DELETE", "stats")
    assert ec2sim.calls() == []


def test_a_stopped_instance_keeps_its_volume_until_forced_off(ec2sim):
    ec2 = ec2sim.client()
    node = ec2sim.add_node("us-east-1a")
    vid = new_volume(ec2)
    ec2.attach_volume(VolumeId=vid, InstanceId=node["instance_id"], Device="/dev/sdf")
    attached(ec2, vid)
    assert ec2sim.stop_instance(node["instance_id"])["state"] == "stopped"
    inst = ec2.describe_instances(InstanceIds=[node["instance_id"]])["Reservations"][0]["Instances"][0]
    assert inst["State"]["Name"] == "stopped"
    assert volume(ec2, vid)["State"] == "in-use"
    ec2.detach_volume(VolumeId=vid, InstanceId=node["instance_id"], Force=True)
    wait_state(ec2, vid, "available")


# ---- instance metadata -----------------------------------------------------------------------------

def imds(url, path, token=None, method="GET", headers=None):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.netloc, timeout=10)
    try:
        hdrs = dict(headers or {})
        if token:
            hdrs["X-aws-ec2-metadata-token"] = token
        conn.request(method, path, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def token_for(node):
    status, token = imds(node["imds_url"], "/latest/api/token", method="PUT",
                         headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"})
    assert status == 200
    return token


def test_imdsv2_per_node(ec2sim):
    a, b = ec2sim.add_node("us-east-1a"), ec2sim.add_node("us-east-1c")
    assert imds(a["imds_url"], "/latest/meta-data/instance-id")[0] == 401
    assert imds(a["imds_url"], "/latest/api/token", method="PUT")[0] == 400
    assert imds(a["imds_url"], "/latest/api/token", method="PUT",
                headers={"X-aws-ec2-metadata-token-ttl-seconds": "0"})[0] == 400
    ta, tb = token_for(a), token_for(b)
    assert imds(b["imds_url"], "/latest/meta-data/instance-id", ta)[0] == 401   # tokens are per instance
    seen = []
    for node, tok in ((a, ta), (b, tb)):
        iid = imds(node["imds_url"], "/latest/meta-data/instance-id", tok)[1]
        az = imds(node["imds_url"], "/latest/meta-data/placement/availability-zone", tok)[1]
        region = imds(node["imds_url"], "/latest/meta-data/placement/region", tok)[1]
        doc = json.loads(imds(node["imds_url"], "/latest/dynamic/instance-identity/document", tok)[1])
        assert (iid, az, region) == (node["instance_id"], node["availability_zone"], REGION)
        assert (doc["instanceId"], doc["availabilityZone"], doc["region"]) == (iid, az, region)
        seen.append((iid, az))
    assert seen[0][0] != seen[1][0] and (seen[0][1], seen[1][1]) == ("us-east-1a", "us-east-1c")
    # the instance role's credentials sign real calls (moto enforces signatures)
    role = imds(a["imds_url"], "/latest/meta-data/iam/security-credentials/", ta)[1]
    creds = json.loads(imds(a["imds_url"], f"/latest/meta-data/iam/security-credentials/{role}", ta)[1])
    assert creds["Code"] == "Success" and creds["Expiration"].endswith("Z")
    ec2 = ec2sim.client(creds=(creds["AccessKeyId"], creds["SecretAccessKey"]), token=creds["Token"])
    ids = {i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]}
    assert ids == {a["instance_id"], b["instance_id"]}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2sim.client(creds=(creds["AccessKeyId"], creds["SecretAccessKey"]), token="forged").describe_volumes()
    assert code_of(e) == "AuthFailure"


def role_credentials(node):
    tok = token_for(node)
    role = imds(node["imds_url"], "/latest/meta-data/iam/security-credentials/", tok)[1]
    return json.loads(imds(node["imds_url"], f"/latest/meta-data/iam/security-credentials/{role}", tok)[1])


def test_metadata_outages_drop_or_refuse_until_lifted(ec2sim):
    node = ec2sim.add_node("us-east-1a")
    iid = node["instance_id"]
    down = ec2sim.admin("POST", f"nodes/{iid}/metadata", {"outage": "drop"})
    assert down["metadata"] == {"outage": "drop", "refused": 0}
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        token_for(node)
    ec2sim.admin("POST", f"nodes/{iid}/metadata", {"outage": "error"})
    assert imds(node["imds_url"], "/latest/api/token", method="PUT",
                headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"})[0] == 503
    assert imds(node["imds_url"], "/latest/meta-data/instance-id", "any")[0] == 503
    ec2sim.admin("POST", f"nodes/{iid}/metadata", {"outage": "flood"}, expect=400)
    up = ec2sim.admin("POST", f"nodes/{iid}/metadata", {"outage": None})
    assert up["metadata"] == {"outage": None, "refused": 3}
    assert imds(node["imds_url"], "/latest/meta-data/instance-id", token_for(node))[1] == iid


def test_short_lived_role_credentials_rotate_and_expire(ec2sim):
    node = ec2sim.add_node("us-east-1a", credential_ttl=4)
    first = role_credentials(node)
    expires = datetime.datetime.fromisoformat(first["Expiration"].replace("Z", "+00:00"))
    assert expires - datetime.datetime.now(datetime.timezone.utc) < datetime.timedelta(seconds=5)
    assert role_credentials(node)["AccessKeyId"] == first["AccessKeyId"]   # kept for half their life

    def ec2_of(c):
        return ec2sim.client(creds=(c["AccessKeyId"], c["SecretAccessKey"]), token=c["Token"])
    ec2_of(first).describe_volumes()
    second = wait_for(lambda: (c := role_credentials(node))["AccessKeyId"] != first["AccessKeyId"] and c, 10,
                      what="new credentials")
    wait_for(lambda: ec2sim.admin("GET", f"nodes/{node['instance_id']}") and
             datetime.datetime.now(datetime.timezone.utc) > expires, 10, what="the first ones expired")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2_of(first).describe_volumes()
    assert code_of(e) == "RequestExpired" and status_of(e) == 400
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2sim.client("efs", creds=(first["AccessKeyId"], first["SecretAccessKey"]), token=first["Token"]).describe_file_systems()
    assert code_of(e) == "ExpiredTokenException"
    ec2_of(second).describe_volumes()


def test_rotating_with_expire_old_refuses_the_old_credentials_at_once(ec2sim):
    node = ec2sim.add_node("us-east-1a")
    old = role_credentials(node)
    ec2 = ec2sim.client(creds=(old["AccessKeyId"], old["SecretAccessKey"]), token=old["Token"])
    ec2.describe_volumes()
    info = ec2sim.admin("POST", f"nodes/{node['instance_id']}/rotate-credentials", {"expire_old": True})
    assert info["credentials"]["access_key"] is None     # new ones at the next metadata read
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.describe_volumes()
    assert code_of(e) == "RequestExpired"
    new = role_credentials(node)
    assert new["AccessKeyId"] != old["AccessKeyId"]
    ec2sim.client(creds=(new["AccessKeyId"], new["SecretAccessKey"]), token=new["Token"]).describe_volumes()


# ---- the EBS data plane --------------------------------------------------------------------------

def link_of(node, vid):
    return os.path.join(node["device_dir"], "nvme-Amazon_Elastic_Block_Store_" + vid.replace("-", ""))


def backing_file(loop):
    with open(f"/sys/block/{os.path.basename(loop)}/loop/backing_file") as f:
        return f.read().strip()


def write_pattern(device, data, offset):
    subprocess.run(["dd", f"of={device}", "bs=4096", f"seek={offset // 4096}", "conv=fsync,notrunc",
                    "status=none"], input=data, check=True)


def read_pattern(device, length, offset):
    return subprocess.run(["dd", f"if={device}", "bs=4096", f"skip={offset // 4096}", f"count={length // 4096}",
                           "iflag=direct", "status=none"], capture_output=True, check=True).stdout


def attach_and_wait(ec2, vid, node, device="/dev/sdf"):
    ec2.attach_volume(VolumeId=vid, InstanceId=node["instance_id"], Device=device)
    attached(ec2, vid)
    link = link_of(node, vid)
    assert os.path.islink(link)
    return link


def detach_and_wait(ec2, vid, node, force=False):
    ec2.detach_volume(VolumeId=vid, InstanceId=node["instance_id"], Force=force)
    wait_state(ec2, vid, "available")
    assert not os.path.lexists(link_of(node, vid))


def test_data_survives_detach_snapshot_and_restore_in_another_zone(ec2sim):
    ec2sim.config(delay=0.1)
    ec2 = ec2sim.client()
    a, b, c = ec2sim.add_node("us-east-1a"), ec2sim.add_node("us-east-1a"), ec2sim.add_node("us-east-1b")
    vid = new_volume(ec2)
    link = attach_and_wait(ec2, vid, a)
    loop = os.readlink(link)
    assert loop.startswith("/dev/loop")
    image = ec2sim.volumes()["volumes"][vid]["image"]
    assert backing_file(loop) == image and os.path.getsize(image) == 1 << 30
    assert os.stat(image).st_blocks * 512 < 1 << 20          # sparse
    data = os.urandom(64 << 10)
    write_pattern(link, data, 1 << 20)
    detach_and_wait(ec2, vid, a)
    assert loops_backed_by(image) == []

    assert read_pattern(attach_and_wait(ec2, vid, b), len(data), 1 << 20) == data   # same zone: re-attach
    detach_and_wait(ec2, vid, b)

    sid = ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
    wait_for(lambda: ec2.describe_snapshots(SnapshotIds=[sid])["Snapshots"][0]["State"] == "completed",
             what="snapshot completed")
    restored = ec2.create_volume(SnapshotId=sid, AvailabilityZone="us-east-1b")["VolumeId"]
    wait_state(ec2, restored, "available")
    assert read_pattern(attach_and_wait(ec2, restored, c), len(data), 1 << 20) == data
    detach_and_wait(ec2, restored, c)

    ec2.delete_snapshot(SnapshotId=sid)
    for v in (vid, restored):
        ec2.delete_volume(VolumeId=v)
    assert not os.listdir(os.path.dirname(image))
    assert not os.listdir(os.path.join(os.path.dirname(os.path.dirname(image)), "snapshots"))


@pytest.fixture
def mountpoint():
    path = tempfile.mkdtemp(prefix="ec2m-", dir="/tmp")
    yield path
    subprocess.run(["umount", "-l", path], capture_output=True)
    os.rmdir(path)


def mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split(" ")[4] == path for line in f)


def test_detach_of_a_mounted_volume_is_busy_until_unmounted(ec2sim, mountpoint):
    ec2 = ec2sim.client()
    node = ec2sim.add_node("us-east-1a")
    vid = new_volume(ec2)
    link = attach_and_wait(ec2, vid, node)
    subprocess.run(["mkfs.ext4", "-q", link], check=True)
    subprocess.run(["mount", link, mountpoint], check=True)
    with open(os.path.join(mountpoint, "f"), "w") as f:
        f.write("kept")
    ec2.detach_volume(VolumeId=vid, InstanceId=node["instance_id"])
    wait_for(lambda: volume(ec2, vid)["Attachments"][0]["State"] == "busy", what="busy")
    assert os.path.islink(link) and mounted(mountpoint)
    subprocess.run(["umount", mountpoint], check=True)
    wait_state(ec2, vid, "available")
    assert not os.path.lexists(link)
    link = attach_and_wait(ec2, vid, node)
    subprocess.run(["mount", "-o", "ro", link, mountpoint], check=True)
    with open(os.path.join(mountpoint, "f")) as f:
        assert f.read() == "kept"
    subprocess.run(["umount", mountpoint], check=True)


def test_forced_detach_yanks_a_mounted_volume(ec2sim, mountpoint):
    ec2 = ec2sim.client()
    node = ec2sim.add_node("us-east-1a")
    vid = new_volume(ec2)
    link = attach_and_wait(ec2, vid, node)
    image = backing_file(os.readlink(link))
    subprocess.run(["mkfs.ext4", "-q", link], check=True)
    subprocess.run(["mount", link, mountpoint], check=True)
    detach_and_wait(ec2, vid, node, force=True)
    assert not mounted(mountpoint)
    wait_for(lambda: loops_backed_by(image) == [], what="loop released")


def test_reset_and_shutdown_release_every_loop_and_link(ec2sim):
    ec2 = ec2sim.client()
    node = ec2sim.add_node("us-east-1a")
    vid = new_volume(ec2)
    attach_and_wait(ec2, vid, node)
    ec2sim.reset()
    assert loops_backed_by(ec2sim.info["state_dir"]) == []
    assert not os.path.exists(node["device_dir"])

    sim = Sim(auth=False)      # a simulator of its own, without signature enforcement
    try:
        ec2 = sim.client(creds=("AKIDANY", "any"))
        nodes = [sim.add_node("us-east-1a"), sim.add_node("us-east-1b")]
        links = [attach_and_wait(ec2, new_volume(ec2, n["availability_zone"]), n) for n in nodes]
        assert len(loops_backed_by(sim.state_dir)) == 2
        assert sim.stop() == 0
        assert loops_backed_by(sim.state_dir) == []
        assert not any(os.path.lexists(link) for link in links)
        assert not any(files for _, _, files in os.walk(sim.device_root))
        assert not pid_alive(sim.moto_pid)
    finally:
        sim.cleanup()
