#!/usr/bin/env python3
"""Issue 30's figures: a relocatable volume on a cluster root against one in the
node's state directory, each beside a plain directory of the same file system,
all in the same run:

  * Mount+Unmount through cloudstord (cloudstorctl, so each includes a process
    start), against the same for a shared volume (a directory: no loop device,
    no filesystem to mount);
  * sequential write, `dd bs=1M count=256 oflag=direct conv=fsync` (on the disk when
    it ends, through the loop device and the image), in MiB/s (median of 5);
  * fsync latency: 200 appends of 4 KiB, each followed by fsync.

Here the cluster root is a directory of the local disk (this kernel has no NFS
client): the figures show what the holds and leases cost, not a network's.

    python3 tools/bench/cluster_bench.py --bin .build/release
"""
import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(ROOT, "tests"))

p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
p.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"), help="cloudstord and cloudstorctl")
p.add_argument("--runs", type=int, default=20, help="Mount+Unmount repetitions")
ARGS = p.parse_args()
ARGS.bin = os.path.abspath(ARGS.bin)
os.environ["CLOUDSTOR_BIN"] = ARGS.bin

from conftest import Daemon  # noqa: E402


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{platform.system()} {platform.release()} {platform.machine()}, {os.cpu_count()} cores ({model})"


def mount_unmount(daemon, name):
    times = []
    for i in range(ARGS.runs):
        started = time.monotonic()
        daemon.ctl("volume", "mount", name, "--id", f"b{i}")
        daemon.ctl("volume", "unmount", name, "--id", f"b{i}")
        times.append(time.monotonic() - started)
    return statistics.median(times)


def write_mib_s(directory, runs=5):
    """The median of `runs` writes of 256 MiB, each to a new file."""
    rates = []
    for _ in range(runs):
        target = os.path.join(directory, "dd.bin")
        r = subprocess.run(["dd", "if=/dev/zero", f"of={target}", "bs=1M", "count=256", "oflag=direct", "conv=fsync"],
                           capture_output=True, text=True, check=True)
        os.unlink(target)
        subprocess.run(["sync"], check=True)
        rates.append(256 / float(re.search(r"copied, ([0-9.]+) s", r.stderr).group(1)))
    return statistics.median(rates)


def fsync_ms(directory):
    path = os.path.join(directory, "fsync.bin")
    times = []
    with open(path, "wb") as f:
        for _ in range(200):
            f.write(b"x" * 4096)
            f.flush()
            started = time.monotonic()
            os.fsync(f.fileno())
            times.append(time.monotonic() - started)
    os.unlink(path)
    return statistics.median(times) * 1000


def measure(daemon, name, shared):
    daemon.ctl("volume", "create", name, "-o", "size=1")
    daemon.ctl("volume", "create", shared, "-o", "backing=shared")
    path = daemon.ctl("volume", "mount", name, "--id", "warm").stdout.strip()   # the filesystem is made here
    row = {"write": write_mib_s(path), "fsync": fsync_ms(path)}
    daemon.ctl("volume", "unmount", name, "--id", "warm")
    row["mount"] = mount_unmount(daemon, name)
    row["shared_mount"] = mount_unmount(daemon, shared)
    daemon.ctl("volume", "rm", name)
    daemon.ctl("volume", "rm", shared)
    return row


def main():
    work = tempfile.mkdtemp(prefix="csc-", dir="/var/tmp")
    daemons = []
    try:
        plain = os.path.join(work, "plain")
        cluster = os.path.join(work, "cluster")
        os.makedirs(plain)
        os.makedirs(cluster)
        rows = {}
        for kind, flags in (("state directory", []), ("cluster root", ["--cluster-root", cluster, "--shared-root", cluster])):
            d = Daemon(os.path.join(work, kind.replace(" ", "-")), flags, node_id="bench")
            os.makedirs(d.dir, exist_ok=True)
            daemons.append(d.start())
            rows[kind] = measure(d, "v", "s")
            assert d.stop() == 0
        base = {"write": write_mib_s(plain), "fsync": fsync_ms(plain)}
        print(f"\nmachine: {machine()}; file system under test: {work}")
        print(f"plain directory: dd oflag=direct conv=fsync {base['write']:.0f} MiB/s; fsync {base['fsync']:.2f} ms (median of 200)")
        print("| where | Mount+Unmount (median of %d) | vs a shared volume's | write MiB/s | vs plain | fsync ms | vs plain |" % ARGS.runs)
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for kind, r in rows.items():
            print(f"| {kind} | {r['mount'] * 1000:.0f} ms | {r['mount'] / r['shared_mount']:.2f}× ({r['shared_mount'] * 1000:.0f} ms) "
                  f"| {r['write']:.0f} | {r['write'] / base['write']:.2f}× | {r['fsync']:.2f} | {r['fsync'] / base['fsync']:.2f}× |")
    finally:
        for d in daemons:
            d.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
