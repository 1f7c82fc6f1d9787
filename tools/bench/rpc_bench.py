#!/usr/bin/env python3
"""`make bench`: what one gRPC call to cloudstord costs, against the peer to beat.

Two clients make sequential calls on one connection each: Python grpcio (gRPC's
C core), and the leanest one possible (h2client.py: prebuilt HTTP/2 frames, so
that nearly all of a call's time is the server's). They call:
- a raw unix-socket echo in another process (the floor: two syscalls each way);
- cloudstord (release build): Get of a local relocatable volume, and Capabilities;
- a Python grpcio server in another process answering the same Get from a dict.
Then cloudstord runs under `valgrind --tool=callgrind`, which counts the
instructions the whole daemon executes per Get (repeatable on a noisy machine),
and so does cloudstor-shim for a Get sent as Docker sends it.

    rpc_bench.py --bin DIR_WITH_CLOUDSTORD_AND_SHIM [--calls N]
"""
import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import grpc

from benchstubs import volume_stubs, wait_for_socket
from h2client import H2Client

ECHO = """
import socket, sys
server = socket.socket(socket.AF_UNIX)
server.bind(sys.argv[1])
server.listen(4)
while True:  # one connection at a time: the readiness probe, then the client
    conn, _ = server.accept()
    while data := conn.recv(64):
        conn.sendall(data)
    conn.close()
"""

PEER = """
import sys
from concurrent import futures
import grpc
sys.path.insert(0, sys.argv[1])
from cloudstor.v1 import volume_pb2 as v, volume_pb2_grpc as vg

class Volumes(vg.VolumesServicer):
    def __init__(self, volumes):
        self.volumes = volumes

    def Get(self, request, context):
        volume = self.volumes.get(request.name)
        if volume is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "no such volume: " + request.name)
        return v.GetResponse(volume=volume)

    def Capabilities(self, request, context):
        return v.CapabilitiesResponse(scope="global")

volume = v.Volume.FromString(open(sys.argv[3], "rb").read())
server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
vg.add_VolumesServicer_to_server(Volumes({volume.name: volume}), server)
server.add_insecure_port("unix://" + sys.argv[2])
server.start()
server.wait_for_termination()
"""


def measure(name, call, calls, warmup=200):
    for _ in range(warmup):
        call()
    samples = []
    start = time.perf_counter()
    for _ in range(calls):
        t0 = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t0)
    wall = time.perf_counter() - start
    samples.sort()
    return name, calls, samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.99))], calls / wall


def stop(proc):
    proc.terminate()
    proc.wait()


def daemon(binary, tmp, name):
    sock = os.path.join(tmp, f"{name}.sock")
    proc = subprocess.Popen([binary, "--socket", sock, "--state-dir", os.path.join(tmp, f"{name}-state"),
                             "--log-level", "warning"], stdin=subprocess.DEVNULL)
    wait_for_socket(sock, proc, binary)
    return proc, sock


def callgrind(binary, tmp, run, args):
    """Starts binary with args under callgrind (a copy without debug sections:
    valgrind 3.19 cannot read the DWARF 5 of Swift 6 binaries; the code is the
    same, and keeps its name: the one executable chooses its part by argv[0]),
    calls run(proc, zero, dump) and returns the instructions counted between
    zero() and dump(). valgrind's own output goes to NAME.valgrind in tmp."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("valgrind is not installed (scripts/install-deps.sh installs it)")
    name = os.path.basename(binary)
    os.makedirs(os.path.join(tmp, "nodebug"), exist_ok=True)
    stripped = os.path.join(tmp, "nodebug", name)
    subprocess.run(["strip", "--strip-debug", "-o", stripped, binary], check=True)
    out = os.path.join(tmp, f"{name}.callgrind")
    with open(os.path.join(tmp, f"{name}.valgrind"), "w") as log:
        proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", stripped, *args],
                                stdin=subprocess.DEVNULL, stderr=log)
    try:
        run(proc, lambda: subprocess.run(["callgrind_control", "--zero", str(proc.pid)], check=True, capture_output=True),
            lambda: subprocess.run(["callgrind_control", "--dump", str(proc.pid)], check=True, capture_output=True))
    finally:
        stop(proc)
    with open(out + ".1") as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    sys.exit("callgrind wrote no totals")


def daemon_instructions_per_get(binary, tmp, v, vg, calls):
    """The whole daemon's instructions per Get: counted after a warm-up."""
    sock = os.path.join(tmp, "cg.sock")

    def run(proc, zero, dump):
        wait_for_socket(sock, proc, binary)
        with grpc.insecure_channel("unix://" + sock) as channel:
            stub = vg.VolumesStub(channel)
            stub.Create(v.CreateRequest(name="bench", options={"size": "1"}), timeout=120)
            request = v.GetRequest(name="bench")
            for _ in range(50):
                stub.Get(request, timeout=60)
            zero()
            for _ in range(calls):
                stub.Get(request, timeout=60)
            dump()

    args = ["--socket", sock, "--state-dir", os.path.join(tmp, "cg-state"), "--log-level", "warning"]
    return callgrind(binary, tmp, run, args) // calls


def shim_instructions_per_get(shim, daemon_sock, tmp, calls):
    """The whole shim's instructions per Get as Docker sends it (the daemon runs
    natively and has the volume "bench")."""
    sock = os.path.join(tmp, "cg-shim.sock")
    body = b'{"Name":"bench"}'
    request = (b"POST /VolumeDriver.Get HTTP/1.1\r\nHost: plugin\r\nUser-Agent: Go-http-client/1.1\r\n"
               b"Accept: application/vnd.docker.plugins.v1.2+json\r\nContent-Length: %d\r\n"
               b"Accept-Encoding: gzip\r\n\r\n" % len(body)) + body

    def run(proc, zero, dump):
        wait_for_socket(sock, proc, shim)
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(sock)
            reader = s.makefile("rb")

            def get():
                s.sendall(request)
                status = reader.readline()
                length = 0
                while (line := reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                answer = reader.read(length)
                if b" 200 " not in status or b'"Err":""' not in answer:
                    sys.exit(f"the shim answered {status!r} {answer[:200]!r}")

            for _ in range(50):
                get()
            zero()
            for _ in range(calls):
                get()
            dump()

    args = ["--listen", sock, "--service-socket", daemon_sock, "--log-level", "warning"]
    return callgrind(shim, tmp, run, args) // calls


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--callgrind-calls", type=int, default=300)
    args = ap.parse_args()
    binary = os.path.join(args.bin, "cloudstord")

    tmp = tempfile.mkdtemp(prefix="cs-rpcbench-", dir="/tmp")
    procs = []
    try:
        os.mkdir(os.path.join(tmp, "stubs"))
        v, vg = volume_stubs(os.path.join(tmp, "stubs"))
        rows = []

        echo_path = os.path.join(tmp, "echo.sock")
        echo = subprocess.Popen([sys.executable, "-c", ECHO, echo_path])
        procs.append(echo)
        wait_for_socket(echo_path, echo, "echo server")
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(echo_path)
            payload = b"a" * 64

            def round_trip():
                s.sendall(payload)
                got = 0
                while got < len(payload):
                    got += len(s.recv(64))

            rows.append(measure("raw unix-socket echo (floor)", round_trip, args.calls * 4))

        proc, sock = daemon(binary, tmp, "d")
        procs.append(proc)
        with grpc.insecure_channel("unix://" + sock) as channel:
            stub = vg.VolumesStub(channel)
            stub.Create(v.CreateRequest(name="bench", options={"size": "1"}), timeout=30)
            request = v.GetRequest(name="bench")
            rows.append(measure("cloudstord Get", lambda: stub.Get(request, timeout=30), args.calls))
            rows.append(measure("cloudstord Capabilities", lambda: stub.Capabilities(v.CapabilitiesRequest(), timeout=30),
                                args.calls))
            volume = stub.Get(request, timeout=30).volume
        get_path, get_bytes = "/cloudstor.v1.Volumes/Get", request.SerializeToString()
        reply_length = len(v.GetResponse(volume=volume).SerializeToString())
        lean = H2Client(sock)
        rows.append(measure("cloudstord Get (lean client)", lambda: lean.unary(get_path, get_bytes, reply_length), args.calls))
        lean.close()
        stop(proc)
        procs.remove(proc)

        volume_file = os.path.join(tmp, "volume.pb")
        with open(volume_file, "wb") as f:
            f.write(volume.SerializeToString())
        peer_sock = os.path.join(tmp, "peer.sock")
        peer = subprocess.Popen([sys.executable, "-c", PEER, os.path.join(tmp, "stubs"), peer_sock, volume_file])
        procs.append(peer)
        wait_for_socket(peer_sock, peer, "the Python grpcio server")
        with grpc.insecure_channel("unix://" + peer_sock) as channel:
            stub = vg.VolumesStub(channel)
            assert stub.Get(request, timeout=30).volume == volume
            rows.append(measure("Python grpcio server Get (from a dict; the peer to beat)",
                                lambda: stub.Get(request, timeout=30), args.calls))
        lean = H2Client(peer_sock)
        rows.append(measure("Python grpcio server Get (lean client)", lambda: lean.unary(get_path, get_bytes, reply_length),
                            args.calls))
        lean.close()
        stop(peer)
        procs.remove(peer)

        instructions = daemon_instructions_per_get(binary, tmp, v, vg, args.callgrind_calls)
        proc, sock = daemon(binary, tmp, "s")
        procs.append(proc)
        with grpc.insecure_channel("unix://" + sock) as channel:
            vg.VolumesStub(channel).Create(v.CreateRequest(name="bench", options={"size": "1"}), timeout=30)
        shim_instructions = shim_instructions_per_get(os.path.join(args.bin, "cloudstor-shim"), sock, tmp, args.callgrind_calls)

        print(f"\nRPC, one Python grpcio {grpc.__version__} client and the lean client; machine: {platform.system()} {platform.release()} "
              f"{platform.machine()}, {os.cpu_count()} cores")
        floor = rows[0][2]
        print("| path | calls | p50 ms | p99 ms | calls/s | p50 / floor |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, calls, p50, p99, cps in rows:
            print(f"| {name} | {calls} | {p50 * 1000:.3f} | {p99 * 1000:.3f} | {cps:.0f} | {p50 / floor:.1f}× |")
        p50 = {name: p50 for name, _, p50, _, _ in rows}
        print(f"\ncloudstord Get / Python grpcio server Get: {p50['cloudstord Get'] / p50['Python grpcio server Get (from a dict; the peer to beat)']:.2f}× (grpcio client), "
              f"{p50['cloudstord Get (lean client)'] / p50['Python grpcio server Get (lean client)']:.2f}× (lean client)")
        print(f"instructions per Get (callgrind, whole daemon, {args.callgrind_calls} calls): {instructions:,}")
        print(f"instructions per Get through the shim (callgrind, whole shim, Docker's HTTP): {shim_instructions:,}")
    finally:
        for proc in procs:
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
