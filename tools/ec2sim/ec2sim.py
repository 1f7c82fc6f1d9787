#!/usr/bin/env python3
"""ec2sim: a proxy in front of moto that behaves like AWS, not like a mock.

    python3 tools/ec2sim/ec2sim.py --port 0 --state-dir /tmp/sim --ready-file /tmp/sim/ready.json [--auth]

Point AWS_ENDPOINT_URL at it; see README.md for the admin API and the rules."""
import argparse
import datetime
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading

from budget import Budget
from dataplane import DataPlane
from ec2rules import DELAYS, Ec2Rules
from faults import Faults
from imds import ImdsServer, Node
from motoproc import NODE_ROLE, MotoServer
from proxy import ProxyServer
from scheduler import Scheduler
from sigv4 import KeyStore, rest_auth_error, resign, verify
from simhttp import forward

log = logging.getLogger("ec2sim")


class Simulator:
    def __init__(self, args):
        self.args = args
        self.region = args.region
        self.own_state_dir = args.state_dir is None
        self.state_dir = os.path.abspath(args.state_dir or tempfile.mkdtemp(prefix="ec2sim-", dir="/tmp"))
        os.makedirs(self.state_dir, exist_ok=True)
        self.dev_root = os.path.abspath(args.device_root or os.path.join(self.state_dir, "dev"))
        self.moto = MotoServer(auth=args.auth, log_path=os.path.join(self.state_dir, "moto.log"),
                               url=args.moto_url)
        self.keys = KeyStore()
        self.faults = Faults(args.seed)
        self.budget = Budget(args.ec2_budget)
        self.data = DataPlane(self.state_dir, self.dev_root)
        self.sched = Scheduler()
        self.rules = Ec2Rules(self.moto, self.data, self.keys, self.faults, self.sched,
                              self.forward_to_moto, args.auth)
        for name in DELAYS:
            value = getattr(args, f"{name}_delay")
            setattr(self.rules.delays, name, args.delay if value is None else value)
        self.nodes = {}        # instance id -> ImdsServer
        self.node_creds = {}   # instance id -> role credentials
        self.cred_ttl = {}     # instance id -> lifetime in seconds of its role's credentials (default: moto's hour)
        self.expiry = {}       # access key of a node's role credentials -> when AWS stops taking them
        self.lock = threading.RLock()
        self.server = None

    # ---- life cycle ---------------------------------------------------------------------

    def start(self):
        self.data.release_stale()
        self.moto.start()
        self.keys.add(*self.moto.creds)
        self.server = ProxyServer((self.args.host, self.args.port), self)
        threading.Thread(target=self.server.serve_forever, name="ec2sim-http", daemon=True).start()
        log.info("listening on %s (moto %s, pid %s, auth %s)", self.url, self.moto.url, self.moto.pid,
                 "enforced" if self.args.auth else "off")

    @property
    def url(self):
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def shutdown(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
        self.sched.stop()
        with self.rules.lock:
            self._stop_nodes()
            self.data.release_all()
        self.moto.stop()
        if self.own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        log.info("stopped")

    def reset(self):
        with self.rules.lock:
            self.sched.clear()
            self._stop_nodes()
            self.data.release_all()
            self.data.wipe()
            self.rules.reset()
            self.faults.clear()
            self.faults.reset_stats()
            self.keys.clear()
            with self.lock:
                self.expiry.clear()
            self.moto.reset()
            self.keys.add(*self.moto.creds)
        log.info("reset")

    def forward_to_moto(self, req):
        resp = forward(self.moto.hostport, req)
        if resp.status == 200:
            self.keys.learn(resp.body)
        return resp

    def forward_other(self, req):
        """IAM, STS, EFS …: forwarded untouched, except the body-less REST calls that
        moto's verifier cannot check (see sigv4.resign) when signatures are enforced."""
        if self.args.auth and not req.body and req.method in ("GET", "DELETE", "HEAD"):
            verdict = verify(req, self.keys)
            if verdict is not True:
                return rest_auth_error(verdict)
            req = resign(req, self.moto.creds, self.moto.hostport)
        return self.forward_to_moto(req)

    def info(self):
        return {"url": self.url, "pid": os.getpid(), "moto_url": self.moto.url, "moto_pid": self.moto.pid,
                "state_dir": self.state_dir, "device_root": self.dev_root, "auth": bool(self.args.auth),
                "region": self.region}

    def config(self):
        d = self.rules.delays
        return {"delays": {name: getattr(d, name) for name in DELAYS},
                "busy_if_mounted": self.rules.busy_if_mounted}

    # ---- nodes ----------------------------------------------------------------------------

    def add_node(self, spec):
        region = spec.get("region") or self.region
        az = spec.get("availability_zone")
        iid = spec.get("instance_id")
        if iid is None:
            iid = self.moto.run_instance(region, az or region + "a", spec.get("instance_type", "t3.micro"))
        inst = self.moto.instance(region, iid)
        if inst is None:
            raise ValueError(f"no instance {iid} in {region}")
        if az and az != inst["az"]:
            raise ValueError(f"{iid} is in {inst['az']}, not {az}")
        with self.lock:
            if iid in self.nodes:
                return self.node_info(iid)
            node = Node(iid, inst["az"], region, NODE_ROLE, inst["type"], inst["image"], inst["ip"])
            if spec.get("credential_ttl") is not None:
                self.cred_ttl[iid] = self._ttl(spec["credential_ttl"])
            self.nodes[iid] = ImdsServer(node, lambda: self.node_credentials(node), self.args.host)
            with self.rules.lock:
                self.data.instance_dir(iid)
        log.info("node %s in %s: metadata at %s", iid, inst["az"], self.nodes[iid].url)
        return self.node_info(iid)

    def node_info(self, iid):
        srv = self.nodes[iid]
        n = srv.node
        creds = self.node_creds.get(iid)
        return {"instance_id": iid, "availability_zone": n.availability_zone, "region": n.region,
                "imds_url": srv.url, "role": n.role, "device_dir": os.path.join(self.dev_root, iid),
                "metadata": {"outage": srv.outage, "refused": srv.refused},
                "credentials": {"ttl": self.cred_ttl.get(iid), "access_key": creds and creds["AccessKeyId"],
                                "expiration": creds and creds["Expiration"].isoformat()}}

    @staticmethod
    def _ttl(value):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"credential_ttl is a positive number of seconds: {value!r}")
        return value

    def node_credentials(self, node):
        """The role's credentials IMDS hands out now. New ones come when the old
        expire within 5 minutes (AWS: "at least five minutes before"), or within
        half their lifetime when it is shorter (credential_ttl)."""
        with self.lock:
            iid = node.instance_id
            creds = self.node_creds.get(iid)
            now = datetime.datetime.now(datetime.timezone.utc)
            ttl = self.cred_ttl.get(iid)
            margin = datetime.timedelta(seconds=300 if ttl is None else min(300, ttl / 2))
            if creds is None or creds["Expiration"] - now < margin:
                creds = self.moto.assume_node_role(node.region, iid)
                if ttl is not None:
                    # whole seconds: what metadata says is exactly when AWS stops taking them
                    creds = dict(creds, Expiration=now.replace(microsecond=0) + datetime.timedelta(seconds=ttl))
                self.keys.add(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
                self.expiry[creds["AccessKeyId"]] = creds["Expiration"]
                self.node_creds[iid] = creds
            return creds

    def rotate_credentials(self, iid, expire_old=False, ttl=None):
        """The next metadata read gets new credentials; with expire_old the ones
        handed out so far expire now (AWS refuses them from here on)."""
        with self.lock:
            if ttl is not None:
                self.cred_ttl[iid] = self._ttl(ttl)
            old = self.node_creds.pop(iid, None)
            if old is not None and expire_old:
                self.expiry[old["AccessKeyId"]] = datetime.datetime.now(datetime.timezone.utc)
        return self.node_info(iid)

    def expired(self, access_key):
        """Whether these are a node's role credentials past their expiration."""
        with self.lock:
            when = self.expiry.get(access_key)
        return when is not None and when <= datetime.datetime.now(datetime.timezone.utc)

    def remove_node(self, iid):
        with self.lock:
            srv = self.nodes.pop(iid, None)
            self.node_creds.pop(iid, None)
            self.cred_ttl.pop(iid, None)
        if srv:
            srv.stop()
        return srv is not None

    def _stop_nodes(self):
        for iid in list(self.nodes):
            self.remove_node(iid)

    def instance_action(self, iid, verb, force, region):
        region = region or (self.nodes[iid].node.region if iid in self.nodes else self.region)
        ec2 = self.moto.client("ec2", region)
        if verb == "stop":
            ec2.stop_instances(InstanceIds=[iid], Force=force)
        elif verb == "start":
            ec2.start_instances(InstanceIds=[iid])
        else:
            ec2.terminate_instances(InstanceIds=[iid])
            self.rules.instances_gone([iid])
        return {"instance_id": iid, "state": self.moto.instance(region, iid)["state"]}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address of the API and of every node's metadata endpoint")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (see --ready-file)")
    p.add_argument("--region", default="us-east-1", help="region of unsigned requests and of new nodes")
    p.add_argument("--state-dir", help="images, moto.log (default: a temporary directory, removed at exit)")
    p.add_argument("--device-root", help="per-instance by-id directories (default: STATE/dev)")
    p.add_argument("--auth", action="store_true", help="moto enforces SigV4 (INITIAL_NO_AUTH_ACTION_COUNT)")
    p.add_argument("--moto-url", help="use this running moto instead of starting one")
    p.add_argument("--delay", type=float, default=0.5, help="seconds every transitional state lasts")
    for name in DELAYS:
        p.add_argument(f"--{name}-delay", type=float, help=f"override --delay for {name}")
    p.add_argument("--seed", type=int, help="seed of the fault dice")
    p.add_argument("--ec2-budget", action="store_true",
                   help="enforce EC2's request-rate budget for the account (RequestLimitExceeded beyond it)")
    p.add_argument("--ready-file", help="write {url, pid, moto_pid, …} here as JSON once serving")
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if os.geteuid() != 0:
        log.warning("not root: the data plane (losetup) will fail")
    stop = threading.Event()
    # A parent may hand down a mask that blocks SIGTERM (Swift's Foundation.Process
    # does, from its dispatch threads): unblock it, or no one could stop us.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sim = Simulator(args)
    try:
        sim.start()
        if args.ready_file:
            tmp = args.ready_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(sim.info(), f)
            os.rename(tmp, args.ready_file)
        print(f"ec2sim ready {sim.url}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        sim.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
