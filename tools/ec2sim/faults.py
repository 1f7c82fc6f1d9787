"""Faults injected on demand, the request counters and the ordered call log.

A rule is JSON: {"type": "throttle"|"error"|"latency"|"drop", "rate": 0..1 (1),
"actions": ["CreateVolume", …] (all), "count": N (unlimited), "seconds": s (latency),
"status": 500|503 and optional "code"/"message" (error), "phase": "before"|"after"
(drop/error: before moto sees the request, or after it took effect), "match":
{"Param": "value", …} (only requests whose parameters hold these pairs)}.

A kill rule, {"type": "kill", "pid": P, "actions": [...], "nth": N (1), "signal":
"KILL"|"STOP" (KILL), "phase": "before"|"after", "match"?}, fires once, on the Nth
matching request to arrive after it was added: it signals P (and waits until P is
dead or stopped), then drops the connection; "before": the call never reaches moto,
"after": it takes effect first and its answer is lost."""
import json
import logging
import os
import random
import signal
import threading
import time
from collections import Counter, defaultdict, deque

from ec2xml import ec2_error, request_id
from simhttp import DROP, Response

log = logging.getLogger("ec2sim.faults")

TYPES = ("throttle", "error", "latency", "drop", "kill")
AFTER_TYPES = ("drop", "error", "kill")
SIGNALS = {"KILL": signal.SIGKILL, "STOP": signal.SIGSTOP}
CALL_LOG_SIZE = 20_000
# SigV4 and SigV2 parameters of a presigned or Query request: not the call's own
AUTH_PARAMS = {"Action", "Version", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
               "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token", "AWSAccessKeyId",
               "Signature", "SignatureMethod", "SignatureVersion", "Timestamp", "Expires", "SecurityToken"}


class FaultError(ValueError):
    pass


def check_rule(rule):
    if not isinstance(rule, dict) or rule.get("type") not in TYPES:
        raise FaultError(f"a fault needs a type among {', '.join(TYPES)}: {rule!r}")
    if rule["type"] == "kill":
        _check_kill(rule)
    else:
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
    if phase not in ("before", "after") or (phase == "after" and rule["type"] not in AFTER_TYPES):
        raise FaultError(f"phase is before or after, and after only for {', '.join(AFTER_TYPES)}")
    actions = rule.get("actions")
    if actions is not None and not (isinstance(actions, list) and all(isinstance(a, str) for a in actions)):
        raise FaultError("actions is a list of action names")
    match = rule.get("match")
    if match is not None and not (isinstance(match, dict) and
                                  all(isinstance(k, str) and isinstance(v, str) for k, v in match.items())):
        raise FaultError('match is an object of parameter names and string values, e.g. {"Tag.1.Key": "x"}')
    return rule


def _positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_kill(rule):
    """A kill rule names its pid, its actions, its nth call and its signal; it
    fires once, so it has no rate and no count."""
    if "rate" in rule or "count" in rule:
        raise FaultError("a kill rule fires once, on its nth call: no rate, no count")
    if not _positive_int(rule.get("pid")):
        raise FaultError(f"a kill rule needs pid, a positive integer: {rule.get('pid')!r}")
    if rule["pid"] == os.getpid():
        raise FaultError("a kill rule's pid is the simulator's own")
    if not _positive_int(rule.setdefault("nth", 1)):
        raise FaultError(f"nth is a positive integer (1 is the first call): {rule['nth']!r}")
    if rule.setdefault("signal", "KILL") not in SIGNALS:
        raise FaultError(f"signal is one of {', '.join(SIGNALS)}: {rule['signal']!r}")
    if not rule.get("actions"):
        raise FaultError("a kill rule needs actions, the calls it counts")


def matches(rule, req):
    """Whether the request is one the rule counts: its action and parameters."""
    acts = rule.get("actions")
    if acts is not None and req.action not in acts:
        return False
    return all(req.params.get(k) == v for k, v in (rule.get("match") or {}).items())


def call_params(req):
    """The parameters a call log shows: an EC2 call's own, none for REST and others."""
    if req.service != "ec2":
        return {}
    return {k: v for k, v in req.params.items() if k not in AUTH_PARAMS}


def send_signals(kills, action):
    """Signal each kill rule's pid and wait until it is dead or stopped, so that the
    caller cannot see its connection drop first. A pid already gone is only logged."""
    for rule in kills:
        pid, name = rule["pid"], rule["signal"]
        try:
            os.kill(pid, SIGNALS[name])
        except ProcessLookupError:
            log.warning("kill rule %s: no process %s to SIG%s at %s #%s", rule["id"], pid, name, action, rule["nth"])
            continue
        except PermissionError as e:
            log.error("kill rule %s: SIG%s to %s refused: %s", rule["id"], name, pid, e)
            continue
        done = _signalled(pid, "ZX" if name == "KILL" else "ZXtT")
        log.info("kill rule %s: SIG%s to %s at %s #%s (%s)%s", rule["id"], name, pid, action, rule["nth"],
                 rule["phase"], "" if done else ", not yet taken after 5 s")


def _signalled(pid, states, timeout=5.0):
    """Wait until every thread of pid is in one of states (or gone)."""
    deadline = time.monotonic() + timeout
    while True:
        if all(s in states for s in _thread_states(pid)):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)


def _thread_states(pid):
    states = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return states
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
        except (OSError, IndexError):
            pass
    return states


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
            self._clear_calls()

    def clear_calls(self):
        with self._lock:
            self._clear_calls()

    def _clear_calls(self):
        self._calls = deque(maxlen=CALL_LOG_SIZE)
        self._seq = 0

    def seed(self, seed):
        with self._lock:
            self._rng = random.Random(seed)

    def add(self, rules):
        checked = [check_rule(dict(r)) for r in rules]
        with self._lock:
            for rule in checked:
                rule["id"] = self._next_id
                rule["fired"] = 0
                if rule["type"] == "kill":
                    rule["seen"] = 0
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

    def arrive(self, req):
        """A request arrived: count it, log it and decide which kill rules it is the
        nth call of, all in one step so that the log's order is the rules' order.
        Returns its log entry and those kill rules (copies)."""
        with self._lock:
            self.requests[req.action] += 1
            self._seq += 1
            call = {"seq": self._seq, "action": req.action, "params": call_params(req),
                    "status": "pending", "t": time.monotonic()}
            self._calls.append(call)
            kills = [dict(rule) for rule in self._rules if rule["type"] == "kill" and self._kill_due(rule, req)]
        return call, kills

    def _kill_due(self, rule, req):
        if rule["fired"] or not matches(rule, req):
            return False
        rule["seen"] += 1
        if rule["seen"] < rule["nth"]:
            return False
        self._count_fault(rule, req.action)
        return True

    def _count_fault(self, rule, action):
        rule["fired"] += 1
        self.faults[rule["type"]] += 1
        self.faults_by_action[action][rule["type"]] += 1

    def finish(self, call, resp, kills=()):
        """The answer went (or the connection was dropped): note it."""
        with self._lock:
            call["status"] = "dropped" if resp is DROP else resp.status
            if kills:
                call["killed"] = [rule["id"] for rule in kills]
            if resp is not DROP:
                self.statuses[str(resp.status)] += 1

    def calls(self):
        with self._lock:
            return [dict(c) for c in self._calls]

    def count_rule_error(self, code):
        with self._lock:
            self.rule_errors[code] += 1

    def _fire(self, req, phase):
        """Rules that fire for this request in this phase, counted."""
        fired = []
        with self._lock:
            for rule in self._rules:
                if rule["type"] == "kill" or rule["phase"] != phase or not matches(rule, req):
                    continue    # kill rules are decided on arrival, without randomness
                if "count" in rule and rule["fired"] >= rule["count"]:
                    continue
                if self._rng.random() >= rule["rate"]:
                    continue
                self._count_fault(rule, req.action)
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
