"""The HTTP front: one port for the AWS APIs (forwarded to moto, with faults and
EC2 rules applied) and for the simulator's admin API under /_sim/."""
import http.client
import json
import logging
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from admin import handle_admin
from ec2xml import ec2_error
from faults import send_signals
from simhttp import DROP, HOP_BY_HOP, Request, Response, describe

log = logging.getLogger("ec2sim.proxy")
ADMIN_PREFIX = "/_sim/"


def serve_aws(sim, req):
    """One AWS API request: count and log it, maybe stop its caller (kill rules),
    maybe fault, apply rules, forward."""
    describe(req, sim.region)
    call, kills = sim.faults.arrive(req)
    started = time.monotonic()
    if any(rule["phase"] == "before" for rule in kills):
        resp = DROP                 # the call never reaches moto
    else:
        resp = answer(sim, req)
    if kills:
        send_signals(kills, req.action)
        resp = DROP                 # "after": it took effect, its answer is lost
    sim.faults.finish(call, resp, kills)
    log.info("%s %s %s %.0fms", req.action, req.access_key[:8] or "-",
             "dropped" if resp is DROP else resp.status, 1000 * (time.monotonic() - started))
    return resp


def answer(sim, req):
    """The budget, the faults and the EC2 rules, or moto: the answer (or DROP)."""
    resp = expired_token(req) if req.access_key and sim.expired(req.access_key) else None
    if resp is None and req.service == "ec2":
        resp = sim.budget.take(req.action)
    if resp is None:
        resp = sim.faults.before(req)
    if resp is None and sim.args.auth and not req.header("Authorization") and "X-Amz-Signature=" not in req.target:
        resp = unsigned(req)       # moto answers these with an HTML 500
    if resp is None:
        try:
            resp = sim.rules.handle(req) if req.service == "ec2" else sim.forward_other(req)
        except (OSError, http.client.HTTPException) as e:
            log.error("%s: moto unreachable: %s", req.action, e)
            resp = Response(502, [("Content-Type", "text/plain")], f"moto unreachable: {e}\n".encode())
        except Exception:
            log.exception("%s failed in the simulator", req.action)
            resp = ec2_error("InternalError", "An internal error has occurred", 500)
        after = sim.faults.after(req)
        if after is not None:
            resp = after
    return resp


def expired_token(req):
    """A node's role credentials past their expiration, refused as AWS does."""
    if req.service == "ec2":
        return ec2_error("RequestExpired", "Request has expired.", 400)
    message = "The security token included in the request is expired"
    if req.service == "elasticfilesystem":
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", "ExpiredTokenException")]
        return Response(403, headers, json.dumps({"ErrorCode": "ExpiredTokenException", "Message": message}).encode())
    body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>{message}</Message>"
            "</Error></ErrorResponse>").encode()
    return Response(403, [("Content-Type", "text/xml")], body)


def unsigned(req):
    message = "The request must contain either a valid (registered) AWS access key ID or X.509 certificate."
    if req.service == "ec2":
        return ec2_error("MissingAuthenticationToken", message, 403)
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", "MissingAuthenticationTokenException")]
    return Response(403, headers, json.dumps({"message": "Missing Authentication Token"}).encode())


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, sim):
        self.sim = sim
        super().__init__(address, ProxyHandler)


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # headers and body leave in two writes: without this, Nagle and the
        # client's delayed ACK add 40 ms to every answer
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        log.debug(fmt, *args)

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self):
        body = self._read_body()
        req = Request(self.command, self.path, list(self.headers.items()), body)
        sim = self.server.sim
        if req.path.startswith(ADMIN_PREFIX):
            resp = handle_admin(sim, req)
        else:
            resp = serve_aws(sim, req)
        if resp is DROP:
            self._drop()
        else:
            self._send(resp)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _dispatch

    def _drop(self):
        # close without a byte of answer, as a dying load balancer would
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, resp):
        self.send_response_only(resp.status)
        names = set()
        for name, value in resp.headers:
            if name.lower() in HOP_BY_HOP:
                continue
            names.add(name.lower())
            self.send_header(name, value)
        if "date" not in names:
            self.send_header("Date", self.date_time_string())
        self.send_header("Content-Length", str(len(resp.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and resp.body:
            self.wfile.write(resp.body)
