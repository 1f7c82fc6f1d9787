"""Faults injected on demand, and the request counters.

A rule is JSON: {"type": "throttle"|"error"|"latency"|"drop", "rate": 0..1 (1),
"actions": ["CreateVolume", …] (all), "count": N (unlimited), "seconds": s (latency),
"status": 500|503 and optional "code"/"message" (error), "phase": "before"|"after"
(drop/error: before moto sees the request, or after it took effect)}."""
import json
import random
import threading
import time
from collections import Counter, defaultdict

from ec2xml import ec2_error, request_id
from simhttp import DROP, Response

TYPES = ("throttle", "error", "latency", "drop")


class FaultError(ValueError):
    pass


def check_rule(rule):
    if not isinstance(rule, dict) or rule.get("type") not in TYPES:
        raise FaultError(f"a fault needs a type among {', '.join(TYPES)}: {rule!r}")
    rate = rule.setdefault("rate", 1.0)
    if not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise FaultError(f"rate must be between 0 and 1: {rate!r}")
    if rule["type"] == "latency" and not isinstance(rule.get("seconds"), (int, float)):
        raise FaultError("a latency fault needs seconds")
    if rule["type"] == "error":
        rule.setdefault("status", 500)
        if rule["status"] not in (500, 503):
            raise FaultError("an error fault has status 500 or 503")
    phase = rule.setdefault("phase", "before")
    if phase not in ("before", "after") or (phase == "after" and rule["type"] not in ("drop", "error")):
        raise FaultError("phase is before or after, and after only for drop and error")
    actions = rule.get("actions")
    if actions is not None and not (isinstance(actions, list) and all(isinstance(a, str) for a in actions)):
        raise FaultError("actions is a list of action names")
    return rule


def fault_response(rule, service):
    """The answer AWS gives for this fault, in the service's own error format."""
    if rule["type"] == "throttle":
        if service == "ec2":
            return ec2_error("RequestLimitExceeded", "Request limit exceeded.", 503)
        if service == "elasticfilesystem":
            return _json_error(429, "ThrottlingException", "Rate exceeded")
        return _query_error(400, "Throttling", "Rate exceeded")
    status = rule["status"]
    default = ("InternalError", "An internal error has occurred") if status == 500 else \
        ("Unavailable", "The server is overloaded and can't handle the request.")
    code, message = rule.get("code", default[0]), rule.get("message", default[1])
    if service == "ec2":
        return ec2_error(code, message, status)
    if service == "elasticfilesystem":
        return _json_error(status, "InternalServerError" if status == 500 else "ServiceUnavailable", message)
    return _query_error(status, code, message)


def _json_error(status, code, message):
    body = json.dumps({"ErrorCode": code, "Message": message}).encode()
    return Response(status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", code),
                             ("x-amzn-RequestId", request_id())], body)


def _query_error(status, code, message):
    rid = request_id()
    body = (f'<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}'
            f'</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>').encode()
    return Response(status, [("Content-Type", "text/xml")], body)


class Faults:
    def __init__(self, seed=None):
        self._lock = threading.Lock()
        self._rules = []
        self._next_id = 1
        self._rng = random.Random(seed)
        self.reset_stats()

    def reset_stats(self):
        with self._lock:
            self.requests = Counter()
            self.faults = Counter()
            self.faults_by_action = defaultdict(Counter)
            self.rule_errors = Counter()
            self.statuses = Counter()

    def seed(self, seed):
        with self._lock:
            self._rng = random.Random(seed)

    def add(self, rules):
        checked = [check_rule(dict(r)) for r in rules]
        with self._lock:
            for rule in checked:
                rule["id"] = self._next_id
                rule["fired"] = 0
                self._next_id += 1
                self._rules.append(rule)
            return [r["id"] for r in checked]

    def clear(self):
        with self._lock:
            self._rules = []

    def remove(self, rule_id):
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r["id"] != rule_id]
            return len(self._rules) != before

    def list(self):
        with self._lock:
            return [dict(r) for r in self._rules]

    def count_request(self, action):
        with self._lock:
            self.requests[action] += 1

    def count_status(self, status):
        with self._lock:
            self.statuses[str(status)] += 1

    def count_rule_error(self, code):
        with self._lock:
            self.rule_errors[code] += 1

    def _fire(self, req, phase):
        """Rules that fire for this request in this phase, counted."""
        fired = []
        with self._lock:
            for rule in self._rules:
                if rule["phase"] != phase:
                    continue
                acts = rule.get("actions")
                if acts is not None and req.action not in acts:
                    continue
                if "count" in rule and rule["fired"] >= rule["count"]:
                    continue
                if self._rng.random() >= rule["rate"]:
                    continue
                rule["fired"] += 1
                self.faults[rule["type"]] += 1
                self.faults_by_action[req.action][rule["type"]] += 1
                fired.append(rule)
                if rule["type"] != "latency":
                    break   # one terminal fault per request
        return fired

    def before(self, req):
        """Apply latency; return a response (or DROP) if a fault answers instead of moto."""
        for rule in self._fire(req, "before"):
            if rule["type"] == "latency":
                time.sleep(rule["seconds"])
            elif rule["type"] == "drop":
                return DROP
            else:
                return fault_response(rule, req.service)
        return None

    def after(self, req):
        for rule in self._fire(req, "after"):
            return DROP if rule["type"] == "drop" else fault_response(rule, req.service)
        return None

    def stats(self):
        with self._lock:
            return {
                "requests": dict(self.requests),
                "total": sum(self.requests.values()),
                "faults": dict(self.faults),
                "faults_by_action": {a: dict(c) for a, c in self.faults_by_action.items()},
                "rule_errors": dict(self.rule_errors),
                "statuses": dict(self.statuses),
            }
