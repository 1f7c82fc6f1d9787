#!/usr/bin/env python3
"""`make bench` for libcloudstor: starts a cloudstord on a temporary socket, then
times sequential Get calls through the C library against a raw unix-socket echo
as the floor (both measured by bench.c); prints a markdown table like
cloudstor-bench's. Python grpcio's figures are tools/bench/rpc_bench.py's.

    run.py --bin DIR_WITH_CLOUDSTORD --bench PATH_TO_BENCH [--calls N]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import grpc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "bench"))
from benchstubs import volume_stubs, wait_for_socket  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--calls", type=int, default=5000)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="cs-cbench-", dir="/tmp")
    sock = os.path.join(tmp, "d.sock")
    daemon = subprocess.Popen([os.path.join(args.bin, "cloudstord"), "--socket", sock, "--state-dir",
                               os.path.join(tmp, "state"), "--log-level", "warning"], stdin=subprocess.DEVNULL)
    try:
        wait_for_socket(sock, daemon, "cloudstord", timeout=30)
        os.mkdir(os.path.join(tmp, "stubs"))
        v, vg = volume_stubs(os.path.join(tmp, "stubs"))
        rows = []
        with grpc.insecure_channel("unix://" + sock) as channel:
            stub = vg.VolumesStub(channel)
            stub.Create(v.CreateRequest(name="bench", options={"backing": "shared"}), timeout=30)
            out = subprocess.run([args.bench, sock, "bench", str(args.calls)], capture_output=True, text=True,
                                 check=True).stdout
            for line in out.splitlines():
                name, calls, p50, p99, cps = line.split("\t")
                rows.append((name, int(calls), float(p50), float(p99), float(cps)))

            stub.Remove(v.RemoveRequest(name="bench"), timeout=30)

        curl = subprocess.run(["curl-config", "--version"], capture_output=True, text=True).stdout.strip()
        print(f"\nlibcloudstor with {curl or 'libcurl'}")
        floor = rows[0][2]
        print("| path | calls | p50 ms | p99 ms | calls/s | p50 / floor |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, calls, p50, p99, cps in rows:
            print(f"| {name} | {calls} | {p50 * 1000:.3f} | {p99 * 1000:.3f} | {cps:.0f} | {p50 / floor:.1f}× |")
    finally:
        daemon.terminate()
        daemon.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
