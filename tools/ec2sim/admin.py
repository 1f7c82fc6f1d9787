"""The admin API under /_sim/ (JSON in, JSON out). See README.md."""
import json
import logging
import re

import botocore.exceptions

from ec2rules import DELAYS
from faults import FaultError
from simhttp import Response

log = logging.getLogger("ec2sim.admin")


class AdminError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _json_body(req):
    if not req.body.strip():
        return {}
    try:
        return json.loads(req.body)
    except ValueError as e:
        raise AdminError(400, f"body is not JSON: {e}")


def handle_admin(sim, req):
    path = req.path[len("/_sim"):].rstrip("/") or "/"
    try:
        for method, pattern, fn in ROUTES:
            m = re.fullmatch(pattern, path)
            if m and req.method == method:
                return Response.json(200, fn(sim, _json_body(req), *m.groups()))
        if any(re.fullmatch(p, path) for _, p, _ in ROUTES):
            raise AdminError(405, f"{req.method} not allowed on {req.path}")
        raise AdminError(404, f"no admin resource {req.path}")
    except AdminError as e:
        return Response.json(e.status, {"error": str(e)})
    except (FaultError, ValueError, TypeError, KeyError) as e:
        return Response.json(400, {"error": str(e)})
    except botocore.exceptions.ClientError as e:
        return Response.json(400, {"error": str(e), "code": e.response["Error"]["Code"]})
    except Exception as e:
        log.exception("admin %s %s", req.method, req.path)
        return Response.json(500, {"error": repr(e)})


def info(sim, body):
    return sim.info()


def credentials(sim, body):
    key, secret = sim.moto.creds
    return {"AccessKeyId": key, "SecretAccessKey": secret}


def reset(sim, body):
    sim.reset()
    return dict(credentials(sim, body), ok=True)


def get_config(sim, body):
    return sim.config()


def set_config(sim, body):
    delays = sim.rules.delays
    if "delay" in body:
        for name in DELAYS:
            setattr(delays, name, float(body["delay"]))
    for name, value in (body.get("delays") or {}).items():
        if name not in DELAYS:
            raise AdminError(400, f"unknown delay {name!r}: {', '.join(DELAYS)}")
        setattr(delays, name, float(value))
    if "busy_if_mounted" in body:
        sim.rules.busy_if_mounted = bool(body["busy_if_mounted"])
    if "seed" in body:
        sim.faults.seed(body["seed"])
    return sim.config()


def list_faults(sim, body):
    return {"rules": sim.faults.list()}


def add_faults(sim, body):
    rules = body["rules"] if "rules" in body else [body]
    return {"ids": sim.faults.add(rules)}


def clear_faults(sim, body):
    sim.faults.clear()
    return {"rules": []}


def remove_fault(sim, body, rule_id):
    if not sim.faults.remove(int(rule_id)):
        raise AdminError(404, f"no fault {rule_id}")
    return {"rules": sim.faults.list()}


def stats(sim, body):
    return {**sim.faults.stats(), "throttled": sim.budget.stats()}


def clear_stats(sim, body):
    sim.faults.reset_stats()
    sim.budget.reset_stats()
    return stats(sim, body)


def calls(sim, body):
    return {"calls": sim.faults.calls()}


def clear_calls(sim, body):
    sim.faults.clear_calls()
    return {"calls": []}


def volumes(sim, body):
    return sim.rules.dump()


def list_nodes(sim, body):
    return {"nodes": [sim.node_info(iid) for iid in sorted(sim.nodes)]}


def add_node(sim, body):
    return sim.add_node(body)


def get_node(sim, body, iid):
    if iid not in sim.nodes:
        raise AdminError(404, f"no node {iid}")
    return sim.node_info(iid)


def remove_node(sim, body, iid):
    if not sim.remove_node(iid):
        raise AdminError(404, f"no node {iid}")
    return {"removed": iid}


def rotate_credentials(sim, body, iid):
    if iid not in sim.nodes:
        raise AdminError(404, f"no node {iid}")
    return sim.rotate_credentials(iid, bool(body.get("expire_old")), body.get("ttl"))


def node_metadata(sim, body, iid):
    if iid not in sim.nodes:
        raise AdminError(404, f"no node {iid}")
    if "outage" not in body:
        raise AdminError(400, 'give {"outage": "drop"|"error"|null}')
    sim.nodes[iid].set_outage(body["outage"])
    return sim.node_info(iid)


def instance_action(sim, body, iid, verb):
    return sim.instance_action(iid, verb, bool(body.get("force")), body.get("region"))


ROUTES = [
    ("GET", r"/info", info),
    ("GET", r"/health", lambda sim, body: {"ok": True}),
    ("GET", r"/credentials", credentials),
    ("POST", r"/reset", reset),
    ("GET", r"/config", get_config),
    ("POST", r"/config", set_config),
    ("GET", r"/faults", list_faults),
    ("POST", r"/faults", add_faults),
    ("DELETE", r"/faults", clear_faults),
    ("DELETE", r"/faults/(\d+)", remove_fault),
    ("GET", r"/stats", stats),
    ("DELETE", r"/stats", clear_stats),
    ("GET", r"/calls", calls),
    ("DELETE", r"/calls", clear_calls),
    ("GET", r"/volumes", volumes),
    ("GET", r"/nodes", list_nodes),
    ("POST", r"/nodes", add_node),
    ("GET", r"/nodes/(i-[0-9a-f]+)", get_node),
    ("DELETE", r"/nodes/(i-[0-9a-f]+)", remove_node),
    ("POST", r"/nodes/(i-[0-9a-f]+)/rotate-credentials", rotate_credentials),
    ("POST", r"/nodes/(i-[0-9a-f]+)/metadata", node_metadata),
    ("POST", r"/instances/(i-[0-9a-f]+)/(stop|start|terminate)", instance_action),
]
