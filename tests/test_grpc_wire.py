"""cloudstord's gRPC boundary frame by frame: an HTTP/2 client (the `h2` library,
no gRPC stack) sends what well-behaved gRPC clients never do, and each call must
end with a clear status while the connection and the daemon go on serving."""
import socket
import struct

import h2.config
import h2.connection
import h2.events
import pytest

from conftest import read

LIMIT = 4 << 20  # the largest request message the daemon takes, gRPC's default


def framed(message, compressed=False):
    return bytes([1 if compressed else 0]) + struct.pack(">I", len(message)) + message


class Wire:
    """One HTTP/2 connection to the daemon."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(20)  # a bound against hangs, never asserted on
        self.sock.connect(path)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.streams = {}
        self.flush()

    def close(self):
        self.sock.close()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def open(self, path, method="POST", content_type="application/grpc", extra=(), end=False):
        sid = self.conn.get_next_available_stream_id()
        headers = [(":method", method), (":scheme", "http"), (":path", path), (":authority", "localhost"),
                   ("content-type", content_type), ("te", "trailers"), *extra]
        self.conn.send_headers(sid, headers, end_stream=end)
        self.streams[sid] = {"headers": {}, "data": b"", "ended": False, "reset": None}
        self.flush()
        return sid

    def send(self, sid, body, end=True):
        """Sends body as the flow-control windows allow; stops early if the stream ends."""
        while body:
            if self.streams[sid]["ended"] or self.streams[sid]["reset"] is not None:
                return
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if window == 0:
                self.pump()
                continue
            self.conn.send_data(sid, body[:window], end_stream=end and len(body) <= window)
            body = body[window:]
            self.flush()

    def pump(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the daemon closed the connection")
        for event in self.conn.receive_data(data):
            s = self.streams.get(getattr(event, "stream_id", None))
            if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                s["headers"].update(dict(event.headers))
            elif isinstance(event, h2.events.DataReceived):
                s["data"] += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                s["ended"] = True
            elif isinstance(event, h2.events.StreamReset) and s is not None:
                s["reset"] = event.error_code
        self.flush()

    def outcome(self, sid):
        """(grpc-status, grpc-message, response headers and trailers, DATA) once the call ended."""
        s = self.streams[sid]
        while not s["ended"]:
            if s["reset"] is not None and s["headers"]:
                break
            self.pump()
        h = s["headers"]
        return (int(h["grpc-status"]) if "grpc-status" in h else None), h.get("grpc-message", ""), h, s["data"]

    def call(self, path, message, **kwargs):
        sid = self.open(path, **kwargs)
        self.send(sid, framed(message))
        return self.outcome(sid)


@pytest.fixture
def wire(daemon):
    w = Wire(daemon.socket)
    yield w
    w.close()


def serving(wire, pb):
    """A health check on the same connection answers SERVING."""
    status, message, _, data = wire.call("/grpc.health.v1.Health/Check", pb.h.HealthCheckRequest().SerializeToString())
    assert status == 0, message
    assert pb.h.HealthCheckResponse.FromString(data[5:]).status == pb.h.HealthCheckResponse.SERVING


def test_a_well_formed_call_answers(wire, pb):
    status, _, headers, data = wire.call("/cloudstor.v1.Volumes/Capabilities", b"")
    assert (status, headers[":status"], headers["content-type"]) == (0, "200", "application/grpc")
    assert pb.v.CapabilitiesResponse.FromString(data[5:]).scope == "global"
    assert data[:5] == framed(data[5:])[:5]


@pytest.mark.parametrize("path", ["/cloudstor.v1.Volumes/Nope", "/no.such.Service/Get", "/", "x" * 2000])
def test_an_unknown_method_is_unimplemented(wire, pb, path):
    status, message, _, _ = wire.call(path, b"")
    assert status == 12 and "no method" in message
    assert len(message) < 300, "the message echoes a huge path"
    serving(wire, pb)


def test_a_request_that_is_not_protobuf_is_refused(wire, pb):
    status, message, _, _ = wire.call("/cloudstor.v1.Volumes/Get", b"\xff\xff\xff\xff")
    assert status == 13 and "not a valid cloudstor.v1.GetRequest" in message
    serving(wire, pb)


def test_compression_is_refused(wire, pb):
    get = pb.v.GetRequest(name="x").SerializeToString()
    status, message, headers, _ = wire.call("/cloudstor.v1.Volumes/Get", get, extra=[("grpc-encoding", "gzip")])
    assert status == 12 and "compression gzip" in message
    sid = wire.open("/cloudstor.v1.Volumes/Get")
    wire.send(sid, framed(get, compressed=True))
    status, message, _, _ = wire.outcome(sid)
    assert status == 13 and "compressed" in message
    serving(wire, pb)


def test_malformed_framing_is_refused(wire, pb):
    get = pb.v.GetRequest(name="x").SerializeToString()
    cases = [
        (b"", "carried no message"),
        (framed(get)[:-1], "ended inside a message"),
        (b"\x00\x00", "ended inside a message"),
        (framed(get) + framed(get), "one request message"),
    ]
    for body, needle in cases:
        sid = wire.open("/cloudstor.v1.Volumes/Get", end=not body)
        wire.send(sid, body)
        status, message, _, _ = wire.outcome(sid)
        assert status == 13 and needle in message, (body, message)
    serving(wire, pb)


def test_not_a_grpc_request_gets_an_http_status(wire, pb):
    sid = wire.open("/cloudstor.v1.Volumes/Capabilities", method="GET", end=True)
    assert wire.outcome(sid)[2][":status"] == "405"
    sid = wire.open("/cloudstor.v1.Volumes/Capabilities", content_type="application/json", end=True)
    assert wire.outcome(sid)[2][":status"] == "415"
    serving(wire, pb)


def test_a_message_over_the_limit_is_refused_before_it_is_read(wire, pb, daemon):
    """Refused from its length prefix with RESOURCE_EXHAUSTED, the rest of it
    refused too (RST_STREAM NO_ERROR): the connection goes on serving, so the
    daemon opened the connection's window again for what it dropped."""
    for _ in range(3):
        sid = wire.open("/cloudstor.v1.Volumes/Create")
        wire.send(sid, framed(b"\x0a\x01x" + b"\x12" + b"\x00" * (LIMIT + 16)))
        status, message, _, _ = wire.outcome(sid)
        assert status == 8 and "over the limit" in message, message
    serving(wire, pb)
    assert daemon.proc.poll() is None, read(daemon.log)


def test_requests_larger_than_a_window_are_read_whole(wire, pb):
    """Requests of 300 KiB (five times HTTP/2's initial window) on one connection:
    the daemon opens the stream's and the connection's windows as it reads. The
    option's value is refused as hostile, which needs the whole message."""
    create = pb.v.CreateRequest(name="big", options={"size": "1", "x": "y" * (300 << 10)}).SerializeToString()
    for _ in range(5):
        status, message, _, _ = wire.call("/cloudstor.v1.Volumes/Create", create)
        assert status == 3 and "option" in message, message
        assert len(message) < 10_000
    serving(wire, pb)


def test_a_deadline_ends_a_call(wire, pb):
    """A Watch never ends by itself: its grpc-timeout does, with DEADLINE_EXCEEDED."""
    request = pb.h.HealthCheckRequest().SerializeToString()
    sid = wire.open("/grpc.health.v1.Health/Watch", extra=[("grpc-timeout", "300m")])
    wire.send(sid, framed(request))
    status, message, _, data = wire.outcome(sid)
    assert status == 4 and "deadline" in message
    assert pb.h.HealthCheckResponse.FromString(data[5:]).status == pb.h.HealthCheckResponse.SERVING
    for bad in ["", "5", "999999999S", "-1S", "1x"]:  # ignored: the call runs with no deadline
        status, message, _, _ = wire.call("/cloudstor.v1.Volumes/Capabilities", b"", extra=[("grpc-timeout", bad)])
        assert status == 0, (bad, message)
    serving(wire, pb)


def test_a_reset_call_is_forgotten(wire, pb):
    request = pb.h.HealthCheckRequest().SerializeToString()
    for _ in range(20):
        sid = wire.open("/grpc.health.v1.Health/Watch")
        wire.send(sid, framed(request), end=False)
        wire.conn.reset_stream(sid)
        wire.flush()
    serving(wire, pb)


@pytest.mark.parametrize("garbage", [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00" * 100, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\xff" * 64])
def test_garbage_closes_only_its_connection(daemon, pb, garbage):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(20)
        s.connect(daemon.socket)
        s.sendall(garbage)
        while s.recv(65536):  # the daemon answers (GOAWAY) and closes
            pass
    w = Wire(daemon.socket)
    try:
        serving(w, pb)
    finally:
        w.close()
    assert daemon.proc.poll() is None, read(daemon.log)
