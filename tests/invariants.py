"""The invariants every crash-matrix cell (tests/test_crash_matrix.py) and every
fault-table row (tests/test_aws_faults.py) checks afterwards, with boto3 straight
at the simulator and with the file system, and the world they are checked in:

  - exactly one live EBS volume per name (none for a removed name), and no
    other volume or move snapshot of the stack left;
  - the data written before the operation is there (SHA-256);
  - no volume with two attachments, none marked held or claimed by anyone, no
    running node counting a hold;
  - the user's own snapshot of the volume (tags copied, as AWS Backup does) is
    untouched."""
import os
import signal
import subprocess
import time

from aws_fixtures import wait_for  # noqa: F401
from aws_nodes import (OK, UNAVAILABLE, AWSNode, data_digest, describe_volume, stack_hash, stack_volumes, STACK,
                       status_field, tags_of, write_data)


# ---- the world of one cell -------------------------------------------------------------------

class World:
    """The nodes of one cell, on a freshly reset simulator."""

    def __init__(self, sim, workdir, index):
        self.sim = sim
        self.ec2 = sim.client()
        self.root = os.path.join(workdir, f"c{index}")
        self.nodes = []
        self.digests = {}     # name → SHA-256 of data.bin written before the operation
        self.user_snapshots = set()
        self.removed = set()  # names the operation removes

    def node(self, zone="us-east-1a", start=True, spec=None, **kw):
        """A new instance (`spec`: more of its POST /_sim/nodes) and its daemon,
        started unless told not to."""
        kw.setdefault("detach_delay", 60)        # no detach of its own during an operation
        kw.setdefault("takeover_wait", 3)
        node = AWSNode(self.sim, self.sim.add_node(zone, **(spec or {})), os.path.join(self.root, f"n{len(self.nodes)}"),
                       **kw)
        self.nodes.append(node)
        return node.start() if start else node

    def volume_id(self, node, name):
        return status_field(node.inspect(name), "cloud_id")

    def with_data(self, node, name, mount_id="setup"):
        """Mounts, writes data.bin, unmounts; remembers its digest."""
        point = node.mount(name, mount_id)
        self.digests[name] = write_data(point, os.urandom(128 << 10))
        node.unmount(name, mount_id)

    def user_snapshot(self, node, name):
        """A snapshot the user took, copying the volume's tags (AWS Backup's "copy tags")."""
        vid = self.volume_id(node, name)
        tags = [{"Key": k, "Value": v} for k, v in tags_of(describe_volume(self.ec2, vid)).items()]
        snap = self.ec2.create_snapshot(VolumeId=vid, Description="users-own-backup",
                                        TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}])
        self.user_snapshots.add(snap["SnapshotId"])

    def close(self):
        for node in self.nodes:
            if node.running():
                node.release_holds()
                node.stop()
            elif node.proc is not None and node.proc.poll() is None:
                node.kill()
        for node in self.nodes:   # a killed daemon leaves its mounts: the next start would restore them
            subprocess.run(["umount", "-l", "-R", os.path.join(node.state, "mnt")], capture_output=True)


def killed(node, timeout=60):
    """Waits for the kill rule to end the daemon; False if it never fired."""
    try:
        node.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    node.exits.append(("kill rule", node.proc.returncode))
    return node.proc.returncode == -signal.SIGKILL


def until_ok(node, *args, timeout=120, done_codes=(OK,)):
    """Repeats a cloudstorctl call as Docker or an operator would until it succeeds;
    a retryable refusal (exit 5) is tried again, any other answer fails the cell."""
    deadline = time.monotonic() + timeout
    while True:
        r = node.ctl(*args, check=False)
        if r.returncode in done_codes:
            return r
        if r.returncode != UNAVAILABLE or time.monotonic() > deadline:
            raise AssertionError(f"cloudstorctl {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}\n"
                                 f"--- daemon log ---\n{node.logtext()}")
        time.sleep(0.3)


# ---- invariants -----------------------------------------------------------------------------

def live(volumes):
    """The volumes each name's data lives on, by Cloudstor's rule (EBSTags.live)."""
    present = {v["VolumeId"]: v for v in volumes if v["State"] not in ("deleting", "deleted")}
    out = []
    for v in present.values():
        tags = tags_of(v)
        if tags.get("CloudstorSuperseded") in present:
            continue
        source = present.get(tags.get("CloudstorMovedFrom"))
        if source is not None and tags_of(source).get("CloudstorSuperseded") != v["VolumeId"]:
            continue
        out.append(v)
    return out


def check(world, names, final):
    """The invariants, `final`: the node that reads the data back."""
    ec2 = world.ec2
    problems = []
    volumes = [v for v in stack_volumes(ec2) if v["State"] != "deleting"]
    by_name = {}
    for v in volumes:
        by_name.setdefault(tags_of(v).get("CloudstorVolume"), []).append(v)
        if len(v.get("Attachments") or []) > 1:
            problems.append(f"{v['VolumeId']} has two attachments: {v['Attachments']}")
        for mark in ("CloudstorHolder", "CloudstorMoveClaim", "CloudstorRemoval"):
            if mark in tags_of(v):
                problems.append(f"{v['VolumeId']} still carries {mark}={tags_of(v)[mark]}")
    for name in names:
        mine = by_name.get(name, [])
        want = 0 if name in world.removed else 1
        if len(live(mine)) != want or len(mine) != want:
            problems.append(f"{name}: {len(live(mine))} live of {len(mine)} volumes, wanted {want}: "
                            f"{[(v['VolumeId'], v['AvailabilityZone'], tags_of(v)) for v in mine]}")
    snaps = ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:StackID", "Values": [stack_hash(STACK)]}])
    kinds = {s["SnapshotId"]: tags_of(s).get("CloudstorKind") for s in snaps["Snapshots"]}
    missing = world.user_snapshots - set(kinds)
    if missing:
        problems.append(f"the user's snapshots {sorted(missing)} were deleted")
    left = [s for s, kind in kinds.items() if kind == "move" or (kind and s in world.user_snapshots)]
    if left:
        problems.append(f"move snapshots left after the prune: {left}")
    for node in world.nodes:
        if node.running():
            for name in names:
                if name in world.removed:
                    continue
                info = node.inspect(name)
                if int(status_field(info, "mount_count", 0)):
                    problems.append(f"{node.instance_id} still counts holds on {name}: {info}")
    for name, digest in world.digests.items():
        if name in world.removed or problems:
            continue
        point = until_ok(final, "volume", "mount", name, "--id", "check").stdout.strip()
        try:
            got = data_digest(point)
            if got != digest:
                problems.append(f"{name}: data.bin changed (sha256 {got[:12]}, wanted {digest[:12]})")
        finally:
            final.ctl("volume", "unmount", name, "--id", "check")
    return problems


def settle(world, node):
    """The orphans pruned, as an operator would after a crash."""
    node.ctl("volume", "prune", "--yes")
