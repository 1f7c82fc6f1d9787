"""EC2 Query API XML: error bodies as AWS writes them, namespace-preserving
rewrites of moto's responses, and opaque paging tokens."""
import base64
import json
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from simhttp import Response

# What real EC2 writes (moto writes the same URI without the trailing slash).
EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"


def request_id():
    return str(uuid.uuid4())


def ec2_error(code, message, status=400):
    """An EC2-style error, byte for byte the shape real EC2 answers."""
    rid = request_id()
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error></Errors>"
            f"<RequestID>{rid}</RequestID></Response>")
    return Response(status, [("Content-Type", "text/xml;charset=UTF-8"),
                             ("Server", "AmazonEC2"),
                             ("x-amzn-RequestId", rid)], body.encode())


def error_code(body):
    """The <Code> of an error body (EC2, IAM/STS query, or REST-XML), else None."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    for el in root.iter():
        if local(el.tag) == "Code":
            return el.text
    return None


def local(tag):
    return tag.rsplit("}", 1)[-1]


class Doc:
    """A parsed response whose elements keep their namespace on output."""

    def __init__(self, body):
        self.root = ET.fromstring(body)
        tag = self.root.tag
        self.ns = tag[1:].split("}", 1)[0] if tag.startswith("{") else ""

    def q(self, name):
        return f"{{{self.ns}}}{name}" if self.ns else name

    def child(self, el, name):
        return el.find(self.q(name))

    def text(self, el, name, default=None):
        found = el.find(self.q(name))
        return found.text if found is not None and found.text is not None else default

    def set_text(self, el, name, value):
        found = el.find(self.q(name))
        if found is None:
            found = ET.SubElement(el, self.q(name))
        found.text = value
        return found

    def sub(self, el, name, text=None):
        node = ET.SubElement(el, self.q(name))
        if text is not None:
            node.text = text
        return node

    def items(self, set_name):
        """The <item> children of the top-level <set_name>, and that set element."""
        found = self.root.find(self.q(set_name))
        if found is None:
            return [], None
        return found.findall(self.q("item")), found

    def serialise(self):
        kw = {"default_namespace": self.ns} if self.ns else {}
        text = ET.tostring(self.root, encoding="unicode", **kw)
        return ('<?xml version="1.0" encoding="UTF-8"?>\n' + text).encode()


def simple_response(action, fields, ns=EC2_NS):
    """<ActionResponse xmlns=…><requestId/>fields…</ActionResponse> for answers the
    simulator composes itself (field order as EC2 writes them)."""
    root = ET.Element(f"{{{ns}}}{action}Response")
    ET.SubElement(root, f"{{{ns}}}requestId").text = request_id()
    for name, value in fields:
        ET.SubElement(root, f"{{{ns}}}{name}").text = value
    text = ET.tostring(root, encoding="unicode", default_namespace=ns)
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n' + text).encode()
    return Response(200, [("Content-Type", "text/xml;charset=UTF-8"), ("Server", "AmazonEC2")], body)


def encode_token(kind, after):
    raw = json.dumps({"k": kind, "a": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(kind, token):
    """The id a page ends after, or None if the token is not one of ours for `kind`."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        if data.get("k") == kind and isinstance(data.get("a"), str):
            return data["a"]
    except (ValueError, TypeError):
        pass
    return None
