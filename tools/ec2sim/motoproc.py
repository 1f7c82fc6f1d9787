"""The moto server behind the proxy: started on loopback (and stopped by pid),
reset, given identities, and asked for state with the proxy's own credentials.

With signature enforcement on, moto lets the first INITIAL_NO_AUTH_ACTION_COUNT
requests through unsigned; exactly that many calls create an IAM user with an
allow-all policy and its access key, and a role nodes assume (their instance
profile). Every later request must be SigV4-signed with a key moto knows."""
import ctypes
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import boto3
import botocore.config
import botocore.exceptions
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from simhttp import Response

ACCOUNT = "123456789012"
ADMIN_USER = "ec2sim-admin"
NODE_ROLE = "ec2sim-node"
SETUP_CALLS = 5   # the identity set-up below makes exactly this many calls
ALLOW_ALL = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
TRUST_ANY = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                                       "Action": "sts:AssumeRole"}]})


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    # moto must not outlive the simulator, even when that is killed with SIGKILL.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    os.setsid()


class MotoServer:
    def __init__(self, auth=False, log_path=None, url=None):
        self.auth = auth
        self.log_path = log_path
        self.url = url
        self.proc = None
        self.creds = None          # (access key id, secret) of the admin user
        self._clients = {}
        self._lock = threading.Lock()

    @property
    def hostport(self):
        return urllib.parse.urlsplit(self.url).netloc

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, timeout=30):
        if self.url is None:
            port = free_port()
            env = dict(os.environ, MOTO_EC2_LOAD_DEFAULT_AMIS="false")
            if self.auth:
                env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(SETUP_CALLS)
            else:
                env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
            log = open(self.log_path or os.devnull, "ab")
            server = os.path.join(os.path.dirname(os.path.abspath(__file__)), "motoserver.py")
            self.proc = subprocess.Popen([sys.executable, server, "-H", "127.0.0.1", "-p", str(port)], env=env,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=_die_with_parent)
            log.close()
            self.url = f"http://127.0.0.1:{port}"
            self._wait_ready(timeout)
            self.setup(fresh=True)
        else:
            self.reset()

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode}")
            try:
                self._moto_api("POST", "/moto-api/reset")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("moto_server did not come up")

    def stop(self, timeout=10):
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _moto_api(self, method, path, body=b""):
        conn = http.client.HTTPConnection(self.hostport, timeout=30)
        try:
            conn.request(method, path, body=body)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{path}: {resp.status} {data[:200]!r}")
            return data
        finally:
            conn.close()

    def reset(self):
        """Empty moto (every backend, IAM included) and recreate the identities."""
        self._moto_api("POST", "/moto-api/reset")
        self.setup(fresh=False)

    def setup(self, fresh):
        if self.auth and not fresh:
            # reopen the free-call window for exactly the set-up calls
            self._moto_api("POST", "/moto-api/reset-auth", str(SETUP_CALLS).encode())
        iam = boto3.client("iam", endpoint_url=self.url, region_name="us-east-1",
                           aws_access_key_id="AKIAEC2SIMSETUP00000", aws_secret_access_key="setup",
                           config=botocore.config.Config(retries={"max_attempts": 1}))
        iam.create_user(UserName=ADMIN_USER)
        iam.put_user_policy(UserName=ADMIN_USER, PolicyName="all", PolicyDocument=ALLOW_ALL)
        key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
        iam.create_role(RoleName=NODE_ROLE, AssumeRolePolicyDocument=TRUST_ANY)
        iam.put_role_policy(RoleName=NODE_ROLE, PolicyName="all", PolicyDocument=ALLOW_ALL)
        with self._lock:
            self.creds = (key["AccessKeyId"], key["SecretAccessKey"])
            self._clients = {}

    def client(self, service, region):
        with self._lock:
            key = (service, region)
            if key not in self._clients:
                self._clients[key] = boto3.client(
                    service, endpoint_url=self.url, region_name=region,
                    aws_access_key_id=self.creds[0], aws_secret_access_key=self.creds[1],
                    config=botocore.config.Config(retries={"max_attempts": 2, "mode": "standard"},
                                                  connect_timeout=5, read_timeout=60))
            return self._clients[key]

    def raw_ec2(self, region, params):
        """An EC2 Query call signed with the admin key; the raw response."""
        body = urllib.parse.urlencode(params)
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                   "Host": self.hostport}
        aws = AWSRequest("POST", self.url + "/", data=body, headers=headers)
        SigV4Auth(Credentials(*self.creds), "ec2", region).add_auth(aws)
        conn = http.client.HTTPConnection(self.hostport, timeout=60)
        try:
            conn.request("POST", "/", body=body.encode(), headers=dict(aws.headers))
            resp = conn.getresponse()
            return Response(resp.status, resp.getheaders(), resp.read())
        finally:
            conn.close()

    # ---- state, as moto sees it -------------------------------------------------

    def instance(self, region, instance_id):
        """{"az", "state", "devices", "type", "image", "ip", "interfaces"} or None if unknown."""
        try:
            res = self.client("ec2", region).describe_instances(InstanceIds=[instance_id])
        except botocore.exceptions.ClientError as e:
            if "NotFound" in e.response["Error"]["Code"] or "Malformed" in e.response["Error"]["Code"]:
                return None
            raise
        for r in res["Reservations"]:
            for i in r["Instances"]:
                return {"az": i["Placement"]["AvailabilityZone"], "state": i["State"]["Name"],
                        "devices": {m["DeviceName"] for m in i.get("BlockDeviceMappings", [])},
                        "type": i.get("InstanceType", "t3.micro"), "image": i.get("ImageId", ""),
                        "ip": i.get("PrivateIpAddress", "10.0.0.1"),
                        "interfaces": len(i.get("NetworkInterfaces") or [])}
        return None

    def ebs_limit(self, region, instance_type):
        """(MaximumEbsAttachments, AttachmentLimitType) of an instance type, or (None, None)."""
        known = self.__dict__.setdefault("_ebs_limits", {})
        if (region, instance_type) not in known:
            known[(region, instance_type)] = self._ebs_limit(region, instance_type)
        return known[(region, instance_type)]

    def _ebs_limit(self, region, instance_type):
        try:
            found = self.client("ec2", region).describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"]
        except botocore.exceptions.ClientError:
            return None, None
        ebs = found[0].get("EbsInfo", {}) if found else {}
        return ebs.get("MaximumEbsAttachments"), ebs.get("AttachmentLimitType")

    def volume(self, region, volume_id):
        try:
            res = self.client("ec2", region).describe_volumes(VolumeIds=[volume_id])
        except botocore.exceptions.ClientError as e:
            if "NotFound" in e.response["Error"]["Code"] or "Malformed" in e.response["Error"]["Code"]:
                return None
            raise
        return res["Volumes"][0] if res["Volumes"] else None

    def run_instance(self, region, az, instance_type="t3.micro", image="ami-0ec2s1m0000000000"):
        res = self.client("ec2", region).run_instances(
            ImageId=image, InstanceType=instance_type, MinCount=1, MaxCount=1,
            Placement={"AvailabilityZone": az})
        return res["Instances"][0]["InstanceId"]

    def assume_node_role(self, region, session):
        res = self.client("sts", region).assume_role(
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{NODE_ROLE}", RoleSessionName=session,
            DurationSeconds=3600)
        return res["Credentials"]
