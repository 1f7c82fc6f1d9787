#!/usr/bin/env python3
"""`make bench`: how the local provider grows with the number of volumes.

For 100, 1,000 and 10,000 relocatable volumes (sparse 1 GiB images, made by
concurrent Creates) on one fresh cloudstord (release build): the p50 of List
and of Get (one Python grpcio client on one channel), and the daemon's resident
memory once idle. Then the start-up with 1,000 held volumes: 1,000 shared
volumes mounted (held), the daemon stopped and started again, and the time from
its start to the first answered call (its reconcile restores every hold).

    scale_bench.py --bin DIR_WITH_CLOUDSTORD [--counts 100,1000,10000]
"""
import argparse
import concurrent.futures
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import grpc

from benchstubs import rss_mib, volume_stubs, wait_for_socket


class Daemon:
    def __init__(self, binary, directory):
        self.binary = binary
        self.socket = os.path.join(directory, "d.sock")
        self.state = os.path.join(directory, "state")
        self.proc = None

    def start(self):
        self.started = time.monotonic()
        self.proc = subprocess.Popen([self.binary, "--socket", self.socket, "--state-dir", self.state,
                                      "--log-level", "warning"], stdin=subprocess.DEVNULL)
        wait_for_socket(self.socket, self.proc, "cloudstord", timeout=24, interval=0.01)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            if self.proc.wait(timeout=120) != 0:
                sys.exit(f"cloudstord exited with {self.proc.returncode} when stopped")

    def rss_mib(self):
        return rss_mib(self.proc.pid)


def p50(call, n, warmup=3):
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t0)
    samples.sort()
    return samples[len(samples) // 2]


def make_volumes(stub, v, names, options):
    def create(name):
        stub.Create(v.CreateRequest(name=name, options=options), timeout=300)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(create, names))


def grow(binary, tmp, v, vg, count):
    daemon = Daemon(binary, os.path.join(tmp, f"n{count}"))
    daemon.start()
    try:
        with grpc.insecure_channel("unix://" + daemon.socket) as channel:
            stub = vg.VolumesStub(channel)
            names = [f"v{i:05d}" for i in range(count)]
            t0 = time.monotonic()
            make_volumes(stub, v, names, {"size": "1"})
            made = time.monotonic() - t0
            listed = stub.List(v.ListRequest(), timeout=300).volumes
            if sorted(x.name for x in listed) != names:
                sys.exit(f"List answered {len(listed)} volumes, not the {count} made")
            list_p50 = p50(lambda: stub.List(v.ListRequest(), timeout=300), 5 if count >= 10000 else 20)
            request = v.GetRequest(name=names[count // 2])
            get_p50 = p50(lambda: stub.Get(request, timeout=30), 2000)
            time.sleep(2)  # idle: housekeeping only
            rss = daemon.rss_mib()
    finally:
        daemon.stop()
    shutil.rmtree(daemon.state, ignore_errors=True)
    return count, made, list_p50, get_p50, rss


def held_restart(binary, tmp, v, vg, count):
    daemon = Daemon(binary, os.path.join(tmp, "held"))
    daemon.start()
    names = [f"s{i:05d}" for i in range(count)]
    try:
        with grpc.insecure_channel("unix://" + daemon.socket) as channel:
            stub = vg.VolumesStub(channel)
            make_volumes(stub, v, names, {"backing": "shared"})
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda n: stub.Mount(v.MountRequest(name=n, id="held"), timeout=300), names))
        daemon.stop()
        daemon.start()
        with grpc.insecure_channel("unix://" + daemon.socket) as channel:
            stub = vg.VolumesStub(channel)
            stub.Capabilities(v.CapabilitiesRequest(), timeout=300)
            serving = time.monotonic() - daemon.started
            held = sum(1 for x in stub.List(v.ListRequest(), timeout=300).volumes if x.status.mount_count == 1)
            if held != count:
                sys.exit(f"after the restart {held} volumes are held, not {count}")
            rss = daemon.rss_mib()
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda n: stub.Unmount(v.UnmountRequest(name=n, id="held"), timeout=300), names))
    finally:
        daemon.stop()
    return serving, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--counts", default="100,1000,10000")
    ap.add_argument("--held", type=int, default=1000)
    args = ap.parse_args()
    binary = os.path.join(os.path.abspath(args.bin), "cloudstord")
    tmp = tempfile.mkdtemp(prefix="cs-scale-", dir="/tmp")
    try:
        os.mkdir(os.path.join(tmp, "stubs"))
        v, vg = volume_stubs(os.path.join(tmp, "stubs"))
        rows = [grow(binary, tmp, v, vg, int(n)) for n in args.counts.split(",")]
        serving, held_rss = held_restart(binary, tmp, v, vg, args.held)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nScale, local provider; machine: {platform.system()} {platform.release()} {platform.machine()}, "
          f"{os.cpu_count()} cores; one Python grpcio {grpc.__version__} client")
    base = rows[0]
    print("| volumes | made in s | List p50 ms | × first | Get p50 ms | × first | RSS idle MiB | anonymous | file |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for count, made, list_p50, get_p50, (rss, anon, file) in rows:
        print(f"| {count:,} | {made:.1f} | {list_p50 * 1000:.2f} | {list_p50 / base[2]:.1f}× | {get_p50 * 1000:.3f} | "
              f"{get_p50 / base[3]:.2f}× | {rss:.1f} | {anon:.1f} | {file:.1f} |")
    print(f"\nstart-up with {args.held:,} held shared volumes: serving {serving:.2f} s after start "
          f"(every hold restored), RSS {held_rss[0]:.1f} MiB ({held_rss[1]:.1f} anonymous)")


if __name__ == "__main__":
    main()
