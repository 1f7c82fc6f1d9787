"""The leanest gRPC client a bench can have: unary calls as prebuilt HTTP/2 frames
over a unix socket, with no HPACK decoder and no library, so that what is
measured is the server. A call sends one HEADERS and one DATA frame and reads
frames until its stream's trailers (HEADERS with END_STREAM); it checks that a
DATA frame of the expected length came first, so an error status (trailers only)
cannot pass for an answer."""
import socket
import struct

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, SETTINGS, PING, WINDOW_UPDATE = 0, 1, 4, 6, 8
END_STREAM, ACK, END_HEADERS = 1, 1, 4


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def literal(index, value):
    """A header with a name from HPACK's static table, not indexed (RFC 7541, 6.2.2)."""
    value = value.encode()
    head = bytes([index]) if index < 15 else bytes([15, index - 15])
    return head + bytes([len(value)]) + value


class H2Client:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.buffer = b""
        self.stream = 1
        # Our windows: the connection's as large as it goes; replies are small.
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0) + frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 2**31 - 1 - 65535)))
        self.received = 0

    def close(self):
        self.sock.close()

    def _frame(self):
        while len(self.buffer) < 9 or len(self.buffer) < 9 + int.from_bytes(self.buffer[:3], "big"):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buffer += chunk
        length = int.from_bytes(self.buffer[:3], "big")
        kind, flags = self.buffer[3], self.buffer[4]
        stream = int.from_bytes(self.buffer[5:9], "big") & 0x7FFFFFFF
        payload = self.buffer[9:9 + length]
        self.buffer = self.buffer[9 + length:]
        return kind, flags, stream, payload

    def unary(self, path, message, reply_length):
        """Calls path with the serialized message; returns once the trailers came."""
        stream = self.stream
        self.stream += 2
        headers = (b"\x83\x86" + literal(4, path) + literal(1, "localhost") + literal(31, "application/grpc")
                   + b"\x00\x02te\x08trailers")
        body = b"\x00" + struct.pack(">I", len(message)) + message
        self.sock.sendall(frame(HEADERS, END_HEADERS, stream, headers) + frame(DATA, END_STREAM, stream, body))
        got = None
        while True:
            kind, flags, on, payload = self._frame()
            if kind == SETTINGS and not flags & ACK:
                self.sock.sendall(frame(SETTINGS, ACK, 0))
            elif kind == PING and not flags & ACK:
                self.sock.sendall(frame(PING, ACK, 0, payload))
            elif on == stream and kind == DATA:
                got = len(payload)
                self.received += len(payload)
                if self.received > 2**30:
                    self.sock.sendall(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", self.received)))
                    self.received = 0
            elif on == stream and kind == HEADERS and flags & END_STREAM:
                if got != 5 + reply_length:
                    raise AssertionError(f"{path}: a reply of {got} bytes, not {5 + reply_length}: the call failed")
                return
