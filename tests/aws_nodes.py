"""Several cloudstord processes, each playing one simulated EC2 instance of an
ec2sim (tools/ec2sim), for the end-to-end tests of `cloudstord --provider aws`.

    from aws_nodes import AWSNode, aws_nodes, ...       # fixtures re-exported too
    def test_x(aws_nodes):
        a = aws_nodes("us-east-1a")                      # a new instance + its daemon
        a.create("v", size=1, ebstype="gp2")
        point = a.mount("v", "m1")

Every daemon is started with the node's instance metadata as its only source of
identity and credentials, and stopped by pid (SIGTERM, exit 0 expected) when the
test ends. Helpers here read the truth straight from the simulator with boto3."""
import hashlib
import json
import os
import re
import signal
import subprocess
import time

import botocore.exceptions
import pytest

from aws_fixtures import ec2sim, ec2sim_session, wait_for  # noqa: F401  (fixtures)
from conftest import binary, read, wait_for_socket

OK, INVALID, NOT_FOUND, CONFLICT, UNAVAILABLE = 0, 2, 3, 4, 5
STACK = "stack-1"
CTL_TIMEOUT = 180   # a bound against hangs, never asserted on
MOVE_WORDS = re.compile(r"mov|reloc|snapshot", re.IGNORECASE)


def stack_hash(stack):
    return hashlib.md5(stack.encode()).hexdigest()


def status_field(volume, name, default=""):
    """A field of a Volume's status as cloudstorctl prints it (proto JSON; field
    names as in the .proto or in lowerCamelCase; zero values may be omitted)."""
    status = volume.get("status") or {}
    camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)
    for key in (name, camel):
        if key in status:
            return status[key]
    return default


class CtlError(AssertionError):
    pass


class AWSNode:
    """One cloudstord playing one simulated EC2 instance (`node` is what
    `Sim.add_node` answered). Its files live under `root` (short: a unix socket
    path must fit in 108 bytes)."""

    def __init__(self, sim, node, root, stack=STACK, takeover_wait=3, mount_wait=30, detach_delay=1,
                 snapshot_interval=0, extra_args=()):
        self.sim = sim
        self.node = node
        self.instance_id = node["instance_id"]
        self.zone = node["availability_zone"]
        self.dir = root
        os.makedirs(root, exist_ok=True)
        self.socket = os.path.join(root, "d.sock")
        self.state = os.path.join(root, "state")
        self.log = os.path.join(root, "cloudstord.log")
        self.stack = stack
        self.takeover_wait = takeover_wait
        self.mount_wait = mount_wait
        self.detach_delay = detach_delay
        self.snapshot_interval = snapshot_interval
        self.extra_args = list(extra_args)
        self.proc = None
        self.exits = []   # (signal sent, exit code) of every stop
        self.holds = []   # (name, mount id) mounted by the test and not yet unmounted

    # ---- the daemon --------------------------------------------------------------------

    def args(self):
        return [binary("cloudstord"), "--provider", "aws", "--socket", self.socket, "--state-dir", self.state,
                "--stack-id", self.stack, "--device-dir", self.node["device_dir"],
                "--takeover-wait", str(self.takeover_wait), "--mount-wait", str(self.mount_wait),
                "--detach-delay", str(self.detach_delay), "--snapshot-interval", str(self.snapshot_interval),
                "--log-level", "debug",
                *self.extra_args]

    def start(self):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        env = dict(os.environ, **self.sim.daemon_env(self.node))
        with open(self.log, "a") as logf:
            logf.write(f"\n==== start {time.strftime('%H:%M:%S')}: {' '.join(self.args())}\n")
        with open(self.log, "a") as logf:
            self.proc = subprocess.Popen(self.args(), stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env)
        wait_for_socket(self.socket, self.proc, self.log)
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops the daemon by pid; its exit code (negative: killed by a signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.exits.append((sig, "timeout"))
                return "timeout"
            self.exits.append((sig, self.proc.returncode))
        return self.proc.returncode

    def kill(self):
        return self.stop(signal.SIGKILL)

    def restart(self):
        self.stop()
        return self.start()

    def logtext(self, tail=6000):
        return read(self.log)[-tail:]

    # ---- cloudstorctl ------------------------------------------------------------------

    def ctl(self, *args, check=True, timeout=CTL_TIMEOUT):
        env = dict(os.environ, CLOUDSTOR_SOCKET=self.socket)
        r = subprocess.run([binary("cloudstorctl"), *args], env=env, capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise CtlError(f"[{self.instance_id} {self.zone}] cloudstorctl {' '.join(args)} exited "
                           f"{r.returncode}: {r.stderr.strip()}\n--- daemon log (tail) ---\n{self.logtext()}")
        return r

    def ctl_popen(self, *args):
        """cloudstorctl started in the background (for calls the test interrupts)."""
        env = dict(os.environ, CLOUDSTOR_SOCKET=self.socket)
        return subprocess.Popen([binary("cloudstorctl"), *args], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def fails(self, code, *args):
        """Runs cloudstorctl expecting exit `code`; its stderr."""
        r = self.ctl(*args, check=False)
        assert r.returncode == code, (
            f"[{self.instance_id}] cloudstorctl {' '.join(args)}: exit {r.returncode}, wanted {code}\n"
            f"stdout: {r.stdout}\nstderr: {r.stderr}\n--- daemon log (tail) ---\n{self.logtext()}")
        assert r.stderr.strip(), "an error without a message"
        return r.stderr

    def create(self, name, check=True, **options):
        args = ["volume", "create", name]
        for key, value in sorted(options.items()):
            args += ["--opt", f"{key}={value}"]
        return self.ctl(*args, check=check)

    def inspect(self, name):
        return json.loads(self.ctl("volume", "inspect", name).stdout)

    def ls(self, *flags):
        return json.loads(self.ctl("volume", "ls", "--json", *flags).stdout)

    def names(self):
        return sorted(v["name"] for v in self.ls())

    def mount(self, name, mount_id):
        point = self.ctl("volume", "mount", name, "--id", mount_id).stdout.strip()
        self.holds.append((name, mount_id))
        assert point == self.mountpoint(name), f"mount point {point!r}, wanted {self.mountpoint(name)!r}"
        assert os.path.ismount(point), f"{point} is not a mount point after Mount answered"
        return point

    def mount_until_ready(self, name, mount_id, timeout=120, retryable=MOVE_WORDS):
        """Mount as Docker retries it: exit 5 with a message about the move in
        progress is retried (bounded); anything else fails the test. Returns
        (mount point, the retryable messages seen)."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            r = self.ctl("volume", "mount", name, "--id", mount_id, check=False)
            if r.returncode == OK:
                self.holds.append((name, mount_id))
                point = r.stdout.strip()
                assert point == self.mountpoint(name), f"mount point {point!r}"
                assert os.path.ismount(point), f"{point} is not a mount point after Mount answered"
                return point, seen
            if r.returncode != UNAVAILABLE or (retryable is not None and not retryable.search(r.stderr)):
                raise CtlError(f"[{self.instance_id} {self.zone}] mount {name}: exit {r.returncode}: "
                               f"{r.stderr.strip()} (retryable ones before: {seen})\n"
                               f"--- daemon log (tail) ---\n{self.logtext()}")
            seen.append(r.stderr.strip())
            if time.monotonic() > deadline:
                raise CtlError(f"mount {name} still not ready after {timeout}s: {seen[-3:]}\n{self.logtext()}")
            time.sleep(0.5)

    def unmount(self, name, mount_id):
        self.ctl("volume", "unmount", name, "--id", mount_id)
        if (name, mount_id) in self.holds:
            self.holds.remove((name, mount_id))

    def release_holds(self):
        """After a failed test: unmount what the test still holds, best effort."""
        for name, mount_id in reversed(self.holds):
            try:
                self.ctl("volume", "unmount", name, "--id", mount_id, check=False, timeout=60)
            except subprocess.TimeoutExpired:
                pass
        self.holds = []

    def rm(self, name):
        self.ctl("volume", "rm", name)

    def mountpoint(self, name):
        return os.path.join(self.state, "mnt", name)

    def by_id_link(self, cloud_id):
        return os.path.join(self.node["device_dir"], "nvme-Amazon_Elastic_Block_Store_" + cloud_id.replace("-", ""))

    def device_of(self, name):
        """The block device of a volume attached here: status.device, else the
        simulator's by-id link of its EBS volume id."""
        vol = self.inspect(name)
        dev = status_field(vol, "device")
        if dev and os.path.exists(dev):
            return dev
        link = self.by_id_link(status_field(vol, "cloud_id"))
        assert os.path.exists(link), f"no device for {name}: status {vol.get('status')}, no {link}"
        return link


# ---- the truth, straight from the simulator (boto3) ---------------------------------------

def tags_of(resource):
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


def tagged_volumes(ec2, name, stack=STACK):
    """Every EBS volume tagged with this name and stack, whatever its state."""
    vols = ec2.describe_volumes(Filters=[{"Name": "tag:CloudstorVolume", "Values": [name]},
                                         {"Name": "tag:StackID", "Values": [stack_hash(stack)]}])["Volumes"]
    return [v for v in vols if v["State"] != "deleted"]


def live_volumes(ec2, name, stack=STACK):
    return [v for v in tagged_volumes(ec2, name, stack)
            if "CloudstorSuperseded" not in tags_of(v) and v["State"] not in ("deleting", "deleted")]


def stack_volumes(ec2, stack=STACK):
    vols = ec2.describe_volumes(Filters=[{"Name": "tag:StackID", "Values": [stack_hash(stack)]}])["Volumes"]
    return [v for v in vols if v["State"] != "deleted"]


def describe_volume(ec2, vid):
    """The volume, or None once it is gone."""
    try:
        vols = ec2.describe_volumes(VolumeIds=[vid])["Volumes"]
    except botocore.exceptions.ClientError as e:
        if e.response["Error"]["Code"] == "InvalidVolume.NotFound":
            return None
        raise
    return vols[0] if vols and vols[0]["State"] != "deleted" else None


def snapshots_of(ec2, vid):
    return ec2.describe_snapshots(Filters=[{"Name": "volume-id", "Values": [vid]}])["Snapshots"]


def ec2_calls(stats):
    """EC2 actions counted by the simulator (IAM, STS, EFS are `service:Action`)."""
    return {a: n for a, n in stats["requests"].items() if ":" not in a and " " not in a}


def expected_tags(name, generation, options="ebstype=gp2,size=1", stack=STACK):
    return {"CloudstorVolume": name, "StackID": stack_hash(stack), "CloudstorGeneration": str(generation),
            "CloudstorBacking": "relocatable", "CloudstorOptions": options}


def assert_tags(volume, name, generation, **kw):
    tags = tags_of(volume)
    want = expected_tags(name, generation, **kw)
    got = {k: tags.get(k) for k in want}
    assert got == want, f"{volume['VolumeId']} tags {tags}, wanted at least {want}"


# ---- data on a volume --------------------------------------------------------------------

def write_data(point, payload):
    """Writes `payload` (bytes) as a file on a mounted volume, durably."""
    path = os.path.join(point, "data.bin")
    with open(path, "wb") as f:
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())
    fd = os.open(point, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return hashlib.sha256(payload).hexdigest()


def data_digest(point):
    path = os.path.join(point, "data.bin")
    assert os.path.exists(path), f"the file written before is gone from {point}: {os.listdir(point)}"
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def fs_uuid(device):
    r = subprocess.run(["blkid", "-o", "value", "-s", "UUID", device], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip(), f"blkid {device}: {r.returncode} {r.stderr}"
    return r.stdout.strip()


# ---- fixtures --------------------------------------------------------------------------------

@pytest.fixture
def aws_nodes(ec2sim, workdir):
    """A factory: aws_nodes(zone, **AWSNode options) → a started AWSNode on a new
    simulated instance. Every daemon still running at the end is stopped with
    SIGTERM and must exit 0; the workdir fixture then checks that no mount and no
    loop device is left under the test's directory."""
    made = []

    def make(zone="us-east-1a", start=True, instance_type="t3.micro", **kw):
        node = ec2sim.add_node(zone, instance_type=instance_type)
        n = AWSNode(ec2sim, node, os.path.join(workdir, f"n{len(made)}"), **kw)
        made.append(n)
        return n.start() if start else n

    yield make
    bad = []
    for n in made:
        if n.running():
            n.release_holds()   # nothing left if the test passed
            rc = n.stop()
            if rc != 0:
                bad.append(f"{n.instance_id}: exit {rc} on SIGTERM\n{n.logtext()}")
    assert not bad, "a daemon did not stop cleanly:\n" + "\n".join(bad)


class GrpcClient:
    def __init__(self, pb, node):
        import grpc
        self.pb = pb
        self.channel = grpc.insecure_channel("unix://" + node.socket)
        self.volumes = pb.vg.VolumesStub(self.channel)

    def get(self, name):
        return self.volumes.Get(self.pb.v.GetRequest(name=name), timeout=30).volume

    def list(self):
        return list(self.volumes.List(self.pb.v.ListRequest(), timeout=60).volumes)

    def close(self):
        self.channel.close()
