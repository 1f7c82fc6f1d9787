#!/usr/bin/env python3
"""`make bench`: what one gRPC call to cloudstord costs, against the peer to beat.

Two clients make sequential calls on one connection each: Python grpcio (gRPC's
C core), and the leanest one possible (h2client.py: prebuilt HTTP/2 frames, so
that nearly all of a call's time is the server's). They call:
- a raw unix-socket echo in another process (the floor: two syscalls each way);
- cloudstord (release build): Get of a local relocatable volume, and Capabilities;
- a Python grpcio server in another process answering the same Get from a dict.
Then cloudstord runs under `valgrind --tool=callgrind`, which counts the
instructions the whole daemon executes per Get (repeatable on a noisy machine).

    rpc_bench.py --bin DIR_WITH_CLOUDSTORD [--calls N]
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


def daemon(binary, tmp, name, prefix=()):
    sock = os.path.join(tmp, f"{name}.sock")
    proc = subprocess.Popen([*prefix, binary, "--socket", sock, "--state-dir", os.path.join(tmp, f"{name}-state"),
                             "--log-level", "warning"], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE if prefix else None)
    wait_for_socket(sock, proc, binary)
    return proc, sock


def instructions_per_get(binary, tmp, v, vg, calls):
    """The whole daemon's instructions per Get under callgrind: counters zeroed
    after a warm-up, dumped after `calls` Gets. valgrind 3.19 cannot read the
    DWARF 5 of Swift 6 binaries, so it runs a copy without debug sections (the
    code is the same)."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("valgrind is not installed (scripts/install-deps.sh installs it)")
    stripped = os.path.join(tmp, "cloudstord-nodebug")
    subprocess.run(["strip", "--strip-debug", "-o", stripped, binary], check=True)
    out = os.path.join(tmp, "callgrind.out")
    proc, sock = daemon(stripped, tmp, "cg", prefix=("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"))
    try:
        with grpc.insecure_channel("unix://" + sock) as channel:
            stub = vg.VolumesStub(channel)
            stub.Create(v.CreateRequest(name="bench", options={"size": "1"}), timeout=120)
            request = v.GetRequest(name="bench")
            for _ in range(50):
                stub.Get(request, timeout=60)
            subprocess.run(["callgrind_control", "--zero", str(proc.pid)], check=True, capture_output=True)
            for _ in range(calls):
                stub.Get(request, timeout=60)
            subprocess.run(["callgrind_control", "--dump", str(proc.pid)], check=True, capture_output=True)
    finally:
        stop(proc)
    with open(out + ".1") as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1]) // calls
    sys.exit("callgrind wrote no totals")


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

        instructions = instructions_per_get(binary, tmp, v, vg, args.callgrind_calls)

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
    finally:
        for proc in procs:
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
