"""The request and response values passed between the proxy's parts, and the
one function that forwards a request to moto untouched."""
import http.client
import json
import re
import urllib.parse
from dataclasses import dataclass, field

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length",
              "proxy-connection", "upgrade", "te", "trailer"}

# EFS is a REST API: name its calls the way its API reference does.
EFS_ROUTES = [
    ("GET", r"/2015-02-01/file-systems/?$", "DescribeFileSystems"),
    ("POST", r"/2015-02-01/file-systems/?$", "CreateFileSystem"),
    ("DELETE", r"/2015-02-01/file-systems/[^/]+$", "DeleteFileSystem"),
    ("GET", r"/2015-02-01/mount-targets/?$", "DescribeMountTargets"),
    ("POST", r"/2015-02-01/mount-targets/?$", "CreateMountTarget"),
    ("DELETE", r"/2015-02-01/mount-targets/[^/]+$", "DeleteMountTarget"),
    ("GET", r"/2015-02-01/access-points/?$", "DescribeAccessPoints"),
    ("POST", r"/2015-02-01/access-points/?$", "CreateAccessPoint"),
    ("DELETE", r"/2015-02-01/access-points/[^/]+$", "DeleteAccessPoint"),
]


@dataclass
class Response:
    status: int
    headers: list = field(default_factory=list)
    body: bytes = b""

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def with_body(self, body):
        return Response(self.status, self.headers, body)

    @staticmethod
    def json(status, value):
        return Response(status, [("Content-Type", "application/json")],
                        (json.dumps(value, indent=1, sort_keys=True) + "\n").encode())


DROP = Response(0)  # sentinel: close the connection without answering


@dataclass
class Request:
    method: str
    target: str                     # path and query, exactly as received
    headers: list                   # (name, value) in arrival order
    body: bytes
    service: str = "ec2"
    region: str = ""
    access_key: str = ""
    action: str = ""
    params: dict = field(default_factory=dict)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @property
    def path(self):
        return self.target.split("?", 1)[0]

    def list_param(self, prefix):
        """Values of Prefix.1, Prefix.2, … in index order."""
        found = []
        for k, v in self.params.items():
            m = re.fullmatch(re.escape(prefix) + r"\.(\d+)", k)
            if m:
                found.append((int(m.group(1)), v))
        return [v for _, v in sorted(found)]

    def filters(self):
        """[(name, [values])] from Filter.N.Name / Filter.N.Value.M."""
        out = {}
        for k, v in self.params.items():
            m = re.fullmatch(r"Filter\.(\d+)\.Name", k)
            if m:
                out[int(m.group(1))] = (v, self.list_param(f"Filter.{m.group(1)}.Value"))
        return [out[i] for i in sorted(out)]

    def flag(self, name):
        return self.params.get(name, "").lower() == "true"


def describe(req, default_region):
    """Fill service, region, access key, action and params from the request."""
    auth = req.header("Authorization") or ""
    m = re.search(r"Credential=([^/]*)/\d{8}/([^/]+)/([^/]+)/aws4_request", auth)
    if m:
        req.access_key, req.region, req.service = m.group(1), m.group(2), m.group(3)
    else:
        req.region = default_region
    query = req.target.split("?", 1)[1] if "?" in req.target else ""
    params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    ctype = (req.header("Content-Type") or "").lower()
    if req.body and (ctype.startswith("application/x-www-form-urlencoded") or "Action=" in query
                     or (not ctype and req.body[:7] == b"Action=")):
        try:
            params.update(urllib.parse.parse_qsl(req.body.decode(), keep_blank_values=True))
        except UnicodeDecodeError:
            pass
    req.params = params
    if "Action" in params:
        req.action = params["Action"]
    elif req.header("X-Amz-Target"):
        req.action = req.header("X-Amz-Target").rsplit(".", 1)[-1]
    else:
        for method, pattern, name in EFS_ROUTES:
            if req.method == method and re.match(pattern, req.path):
                req.action = name
                break
        else:
            req.action = f"{req.method} {'/'.join(req.path.split('/')[:3])}"
    if req.service not in ("ec2",):
        req.action = f"{req.service}:{req.action}"
    return req


def forward(upstream, req, timeout=60):
    """Send `req` to upstream ("host:port") byte for byte: same method, target,
    headers (Host included) and body, so SigV4 signatures still verify there."""
    conn = http.client.HTTPConnection(upstream, timeout=timeout)
    try:
        conn.putrequest(req.method, req.target, skip_host=True, skip_accept_encoding=True)
        chunked = False
        for name, value in req.headers:
            low = name.lower()
            if low == "transfer-encoding":
                chunked = True   # the body was de-chunked on arrival
                continue
            if low == "content-length" and chunked:
                continue
            conn.putheader(name, value)
        if chunked or (req.body and req.header("Content-Length") is None):
            conn.putheader("Content-Length", str(len(req.body)))
        conn.endheaders(req.body or None)
        resp = conn.getresponse()
        body = resp.read()
        headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
        return Response(resp.status, headers, body)
    finally:
        conn.close()
