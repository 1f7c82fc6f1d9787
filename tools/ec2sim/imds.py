"""Instance metadata (IMDSv2 only, as with HttpTokens=required) for one
simulated node, on its own port of the simulator's address."""
import json
import logging
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("ec2sim.imds")
MAX_TTL = 21600


@dataclass
class Node:
    instance_id: str
    availability_zone: str
    region: str
    role: str
    instance_type: str = "t3.micro"
    image_id: str = ""
    private_ip: str = "10.0.0.1"
    account: str = "123456789012"
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


class ImdsServer:
    """credentials() returns the role's current {AccessKeyId, SecretAccessKey,
    SessionToken, Expiration(datetime)}."""

    def __init__(self, node, credentials, host="127.0.0.1"):
        self.node = node
        self.credentials = credentials
        self.tokens = {}
        self.lock = threading.Lock()
        self.outage = None      # None (up), "drop" (connections closed unanswered) or "error" (HTTP 503)
        self.refused = 0        # requests refused by outages
        self.httpd = ThreadingHTTPServer((host, 0), self._handler_class())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=f"imds-{node.instance_id}",
                                       daemon=True)
        self.thread.start()

    @property
    def url(self):
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def set_outage(self, mode):
        if mode not in (None, "drop", "error"):
            raise ValueError(f"an outage is drop or error, not {mode!r}")
        with self.lock:
            self.outage = mode

    def refuse(self):
        """The outage in force (counting the request it refuses), or None."""
        with self.lock:
            if self.outage:
                self.refused += 1
            return self.outage

    def new_token(self, ttl):
        token = secrets.token_urlsafe(42)
        with self.lock:
            now = time.monotonic()
            self.tokens = {t: exp for t, exp in self.tokens.items() if exp > now}
            self.tokens[token] = now + ttl
        return token

    def valid(self, token):
        with self.lock:
            return token is not None and self.tokens.get(token, 0) > time.monotonic()

    def lookup(self, path):
        """(content type, body) for a metadata path, or None."""
        n = self.node
        if path == "/latest/dynamic/instance-identity/document":
            doc = {"accountId": n.account, "architecture": "x86_64", "availabilityZone": n.availability_zone,
                   "billingProducts": None, "devpayProductCodes": None, "marketplaceProductCodes": None,
                   "imageId": n.image_id, "instanceId": n.instance_id, "instanceType": n.instance_type,
                   "kernelId": None, "pendingTime": n.started, "privateIp": n.private_ip,
                   "ramdiskId": None, "region": n.region, "version": "2017-09-30"}
            return "application/json", json.dumps(doc, indent=2)
        if path.startswith("/latest/dynamic"):
            return ("text/plain", "instance-identity/") if path.rstrip("/") == "/latest/dynamic" else None
        if not path.startswith("/latest/meta-data"):
            return ("text/plain", "dynamic\nmeta-data") if path.rstrip("/") == "/latest" else None
        key = path[len("/latest/meta-data"):].strip("/")
        tree = {
            "ami-id": n.image_id, "instance-id": n.instance_id, "instance-type": n.instance_type,
            "local-ipv4": n.private_ip, "local-hostname": f"ip-{n.private_ip.replace('.', '-')}.ec2.internal",
            "hostname": f"ip-{n.private_ip.replace('.', '-')}.ec2.internal",
            "placement/availability-zone": n.availability_zone, "placement/region": n.region,
            "iam/info": None, f"iam/security-credentials/{n.role}": None,
        }
        if key == f"iam/security-credentials/{n.role}":
            c = self.credentials()
            body = {"Code": "Success", "LastUpdated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "Type": "AWS-HMAC", "AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
                    "Token": c["SessionToken"], "Expiration": c["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ")}
            return "text/plain", json.dumps(body, indent=2)
        if key == "iam/info":
            body = {"Code": "Success", "LastUpdated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "InstanceProfileArn": f"arn:aws:iam::{n.account}:instance-profile/{n.role}",
                    "InstanceProfileId": "AIPAEC2SIM" + n.instance_id[2:12].upper()}
            return "text/plain", json.dumps(body, indent=2)
        if key in tree:
            return "text/plain", tree[key]
        prefix = key + "/" if key else ""
        children = sorted({k[len(prefix):].split("/")[0] + ("/" if "/" in k[len(prefix):] else "")
                           for k in tree if k.startswith(prefix)})
        return ("text/plain", "\n".join(children)) if children else None

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "EC2ws"
            sys_version = ""

            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, fmt, *args):
                log.debug("%s " + fmt, server.node.instance_id, *args)

            def answer(self, status, body, ctype="text/plain", extra=()):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in extra:
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def unavailable(self):
                """True if an outage answered (or dropped) the request."""
                outage = server.refuse()
                if outage == "drop":
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                elif outage == "error":
                    self.close_connection = True
                    self.answer(503, "Service Unavailable")
                return outage is not None

            def do_PUT(self):
                if self.unavailable():
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if self.path != "/latest/api/token":
                    return self.answer(404, "Not Found")
                if self.headers.get("X-Forwarded-For"):
                    return self.answer(403, "Forbidden")
                ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
                if not ttl.isdigit() or not 1 <= int(ttl) <= MAX_TTL:
                    return self.answer(400, "Bad Request")
                token = server.new_token(int(ttl))
                self.answer(200, token, extra=[("X-aws-ec2-metadata-token-ttl-seconds", ttl)])

            def do_GET(self):
                if self.unavailable():
                    return
                if not server.valid(self.headers.get("X-aws-ec2-metadata-token")):
                    return self.answer(401, "Unauthorized")
                found = server.lookup(self.path.split("?", 1)[0])
                if found is None:
                    return self.answer(404, "Not Found")
                self.answer(200, found[1], found[0])

            do_HEAD = do_GET

        return Handler
