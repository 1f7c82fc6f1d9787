"""The AWS test bed for the end-to-end tests: ec2sim (tools/ec2sim) in front of
a moto server, both started here and stopped by pid.

    from aws_fixtures import Sim, ec2sim, ec2sim_session   # fixtures
    def test_x(ec2sim):            # a freshly reset simulator
        ec2 = ec2sim.client("ec2")
        node = ec2sim.add_node("us-east-1a")   # instance + IMDSv2 endpoint
        env = ec2sim.daemon_env(node)          # AWS_* variables for a cloudstord

By default moto enforces SigV4 (INITIAL_NO_AUTH_ACTION_COUNT): the simulator
creates an IAM user and key during moto's free calls; `Sim.credentials()` gives
them, and a node's instance role gives session credentials through IMDS."""
import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

import boto3
import botocore.config
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIM_DIR = os.path.join(ROOT, "tools", "ec2sim")
SIM = os.path.join(SIM_DIR, "ec2sim.py")
REGION = "us-east-1"


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:   # a zombie child is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def loops_backed_by(prefix):
    out = subprocess.run(["losetup", "--json", "--list", "--output", "NAME,BACK-FILE"],
                         capture_output=True, text=True).stdout
    devices = json.loads(out or "{}").get("loopdevices", [])
    return [d["name"] for d in devices if (d.get("back-file") or "").startswith(prefix)]


@contextlib.contextmanager
def moto_server(auth=True, log_path=None):
    """A bare moto_server (no proxy) on loopback, stopped by pid afterwards. With
    auth, signatures are enforced and `.creds` is the (key, secret) moto accepts."""
    if SIM_DIR not in sys.path:
        sys.path.insert(0, SIM_DIR)
    from motoproc import MotoServer
    moto = MotoServer(auth=auth, log_path=log_path)
    try:
        moto.start()
        yield moto
    finally:
        moto.stop()


class Sim:
    """One ec2sim process (and its moto) under a short /tmp directory."""

    def __init__(self, auth=True, delay=0.0, seed=1, extra=()):
        self.dir = tempfile.mkdtemp(prefix="ec2s-", dir="/tmp")
        self.state_dir = os.path.join(self.dir, "st")
        self.log_path = os.path.join(self.dir, "sim.log")
        ready = os.path.join(self.dir, "ready.json")
        cmd = [sys.executable, SIM, "--port", "0", "--state-dir", self.state_dir, "--ready-file", ready,
               "--delay", str(delay), "--seed", str(seed), *extra] + (["--auth"] if auth else [])
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + 60
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ec2sim did not start:\n{self.log()}")
            time.sleep(0.05)
        with open(ready) as f:
            self.info = json.load(f)
        self.url = self.info["url"]
        self.moto_pid = self.info["moto_pid"]
        self.device_root = self.info["device_root"]
        self._creds = None

    # ---- process ---------------------------------------------------------------------

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stop the simulator by pid; make sure its moto is gone too. Its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        moto = getattr(self, "moto_pid", None)
        if moto and pid_alive(moto):
            deadline = time.monotonic() + 10
            while pid_alive(moto) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(moto):
                os.kill(moto, signal.SIGKILL)
        return self.proc.returncode

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- admin API ----------------------------------------------------------------------

    def admin(self, method, path, body=None, expect=200):
        u = urllib.parse.urlsplit(self.url)
        conn = http.client.HTTPConnection(u.netloc, timeout=60)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, "/_sim/" + path.lstrip("/"), body=data,
                         headers={"Content-Type": "application/json"} if data else {})
            resp = conn.getresponse()
            payload = json.loads(resp.read() or b"null")
        finally:
            conn.close()
        if expect is not None and resp.status != expect:
            raise AssertionError(f"{method} /_sim/{path}: {resp.status} {payload}")
        return payload

    def reset(self):
        self._creds = self.admin("POST", "reset")
        return self._creds

    def credentials(self):
        if self._creds is None:
            self._creds = self.admin("GET", "credentials")
        return self._creds["AccessKeyId"], self._creds["SecretAccessKey"]

    def config(self, **kw):
        return self.admin("POST", "config", kw)

    def fault(self, **rule):
        return self.admin("POST", "faults", rule)["ids"][0]

    def kill_at(self, pid, action, nth=1, phase="before", signal="KILL", match=None):
        """Signal pid (KILL or STOP) on the nth call of action from now (only calls
        whose parameters hold `match`) and drop that call: before it takes effect,
        or after. Returns the rule's id."""
        rule = {"type": "kill", "pid": pid, "actions": [action], "nth": nth, "phase": phase, "signal": signal}
        if match:
            rule["match"] = match
        return self.admin("POST", "faults", rule)["ids"][0]

    def calls(self):
        """Every AWS call since the last reset or clear, in arrival order:
        [{"seq", "action", "params", "status", "t"}]."""
        return self.admin("GET", "calls")["calls"]

    def clear_calls(self):
        self.admin("DELETE", "calls")

    def stats(self):
        return self.admin("GET", "stats")

    def volumes(self):
        return self.admin("GET", "volumes")

    def add_node(self, availability_zone="us-east-1a", region=REGION, **kw):
        return self.admin("POST", "nodes", dict(kw, availability_zone=availability_zone, region=region))

    def stop_instance(self, instance_id, force=False):
        return self.admin("POST", f"instances/{instance_id}/stop", {"force": force})

    # ---- clients -----------------------------------------------------------------------------

    def client(self, service="ec2", region=REGION, creds=None, attempts=1, token=None):
        """A boto3 client of the proxy; attempts=1: no retries, every fault is seen."""
        key, secret = creds or self.credentials()
        return boto3.client(service, endpoint_url=self.url, region_name=region,
                            aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
                            config=botocore.config.Config(retries={"total_max_attempts": attempts, "mode": "standard"},
                                                          connect_timeout=5, read_timeout=30))

    def daemon_env(self, node):
        """Environment for a cloudstord playing `node` (credentials come from IMDS)."""
        return {"AWS_ENDPOINT_URL": self.url, "AWS_REGION": node["region"],
                "AWS_EC2_METADATA_SERVICE_ENDPOINT": node["imds_url"]}


@pytest.fixture(scope="session")
def ec2sim_session():
    sim = Sim()
    try:
        yield sim
    finally:
        sim.cleanup()


@pytest.fixture
def ec2sim(ec2sim_session):
    """The session's simulator, reset (moto emptied, faults and delays cleared)."""
    ec2sim_session.reset()
    ec2sim_session.config(delay=0.0, busy_if_mounted=True, seed=1)
    yield ec2sim_session
    ec2sim_session.admin("DELETE", "faults")
