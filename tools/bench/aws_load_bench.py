#!/usr/bin/env python3
"""`make bench`: the AWS budget at load. Three cloudstord (A and B in us-east-1a,
C in us-east-1b) against one ec2sim that enforces EC2's request-rate budget for
the account (`--ec2-budget`: RequestLimitExceeded beyond it). All at once:

  1. 200 volumes created, a third from each node;
  2. 25 of each node's volumes mounted on it, within what its instance type
     takes: 75 attaches, 75 mkfs;
  3. those 75 unmounted (each detaches at once);
  4. the 200 removed.

Every operation must complete. For each phase: wall time, EC2 calls by action,
calls per operation, calls/s, and the calls the account refused (throttled).
Run as root (loop devices, mkfs, mount):

    python3 tools/bench/aws_load_bench.py --bin .build/release
"""
import argparse
import collections
import concurrent.futures
import os
import platform
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True   # importing tests/ leaves no __pycache__ behind

VOLUMES = 200
MOUNTS_PER_NODE = 25   # within the instance type's attach limit (the simulator's t3.micro: 26 besides its root volume)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"))
    p.add_argument("--delay", type=float, default=1.0, help="simulator: seconds of every transitional state")
    return p.parse_args()


ARGS = parse_args()
os.environ["CLOUDSTOR_BIN"] = os.path.abspath(ARGS.bin)   # read by tests/conftest.py
sys.path.insert(0, os.path.join(ROOT, "tests"))

import grpc  # noqa: E402

from aws_fixtures import Sim  # noqa: E402
from aws_nodes import AWSNode, ec2_calls  # noqa: E402
from benchstubs import volume_stubs  # noqa: E402


def retrying(call, refused, deadline=600):
    """call(), again on UNAVAILABLE ("try again shortly": Docker retries a Mount,
    an operator a Create, an Unmount or a Remove); each such answer counted in refused."""
    start = time.monotonic()
    while True:
        try:
            return call()
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() - start > deadline:
                raise
            refused.append(e.details())
            time.sleep(0.5)


def run(extra_args):
    """One whole run, each daemon given extra_args; the rows of its table."""
    work = tempfile.mkdtemp(prefix="csload-", dir="/tmp")
    os.mkdir(os.path.join(work, "pb"))
    v, vg = volume_stubs(os.path.join(work, "pb"))
    sim = Sim(auth=True, delay=ARGS.delay, seed=1, extra=["--ec2-budget"])
    nodes, channels, rows, failed, mounted, stubs, owner = {}, [], [], None, [], {}, {}
    try:
        for label, zone in (("A", "us-east-1a"), ("B", "us-east-1a"), ("C", "us-east-1b")):
            node = AWSNode(sim, sim.add_node(zone), os.path.join(work, label), stack="load", takeover_wait=10,
                           mount_wait=100, detach_delay=0, extra_args=extra_args)
            nodes[label] = node.start()
        for label, node in nodes.items():
            channel = grpc.insecure_channel("unix://" + node.socket)
            channels.append(channel)
            stubs[label] = vg.VolumesStub(channel)
            stubs[label].List(v.ListRequest(), timeout=120)   # answered once its start-up is done
        labels = list(nodes)
        owner.update({f"load{i:03d}": labels[i % 3] for i in range(VOLUMES)})
        mounted += [n for label in labels for n in [x for x, o in owner.items() if o == label][:MOUNTS_PER_NODE]]

        refused = []

        def phase(name, operations, work_items):
            refused.clear()
            sim.admin("DELETE", "stats")
            t0 = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(len(work_items)) as pool:
                for future in [pool.submit(fn) for fn in work_items]:
                    future.result()
            took = time.monotonic() - t0
            stats = sim.stats()
            rows.append((name, operations, took, collections.Counter(ec2_calls(stats)),
                         sum(stats["throttled"].values()), len(refused)))

        phase(f"create {VOLUMES}", VOLUMES, [
            (lambda n=n: retrying(lambda: stubs[owner[n]].Create(v.CreateRequest(name=n, options={"size": "1"}), timeout=600),
                                  refused))
            for n in owner])
        phase(f"mount {len(mounted)} (25 a node)", len(mounted), [
            (lambda n=n: retrying(lambda: stubs[owner[n]].Mount(v.MountRequest(name=n, id="load"), timeout=300), refused))
            for n in mounted])
        for n in mounted:
            point = stubs[owner[n]].Get(v.GetRequest(name=n), timeout=60).volume.status.mountpoint
            if not os.path.ismount(point):
                raise AssertionError(f"{n}: {point} is not mounted after its Mount")
        phase(f"unmount {len(mounted)}", len(mounted), [
            (lambda n=n: retrying(lambda: stubs[owner[n]].Unmount(v.UnmountRequest(name=n, id="load"), timeout=300), refused))
            for n in mounted])
        phase(f"remove {VOLUMES}", VOLUMES, [
            (lambda n=n: retrying(lambda: stubs[owner[n]].Remove(v.RemoveRequest(name=n), timeout=600), refused))
            for n in owner])
        left = [x for x in stubs["A"].List(v.ListRequest(), timeout=120).volumes]
        if left:
            raise AssertionError(f"{len(left)} volumes left after removing them all")
    except BaseException as e:   # reported after the clean-up
        failed = e
        for n in mounted:        # what a failed run left mounted, best effort
            try:
                stubs[owner[n]].Unmount(v.UnmountRequest(name=n, id="load"), timeout=120)
            except Exception:
                pass
    finally:
        for channel in channels:
            channel.close()
        codes = {label: node.stop() for label, node in nodes.items()}
        logs = {label: node.logtext() for label, node in nodes.items()}
        sim.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    if failed is not None or any(code != 0 for code in codes.values()):
        print(f"aws_load_bench: FAILED: {failed!r}; daemon exits {codes}", file=sys.stderr)
        for label, text in logs.items():
            print(f"--- cloudstord {label} log (tail) ---\n{text}", file=sys.stderr)
        sys.exit(1)

    return rows


def main():
    if os.geteuid() != 0:
        sys.exit("aws_load_bench: run as root (loop devices, mkfs, mount)")
    runs = [("each node budgets for the whole account (--budget-nodes 1, the default)", []),
            ("each node keeps to a third (--budget-nodes 3)", ["--budget-nodes", "3"])]
    results = [(title, run(extra)) for title, extra in runs]
    print(f"\nAWS budget at load: 3 nodes, ec2sim enforcing the account's EC2 budget (Describe* 100 + 20/s, "
          f"others 200 + 5/s), every state {ARGS.delay:g} s; machine: {platform.machine()}, {os.cpu_count()} cores")
    for title, rows in results:
        print(f"\n{title}\n")
        print("| phase (all at once) | took s | EC2 calls | per operation | calls/s | throttled | UNAVAILABLE answers, retried "
              "| by action |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for name, operations, took, calls, throttled, unavailable in rows:
            total = sum(calls.values())
            by_action = ", ".join(f"{a} {n}" for a, n in sorted(calls.items(), key=lambda kv: (-kv[1], kv[0])))
            print(f"| {name} | {took:.1f} | {total} | {total / operations:.2f} | {total / took:.1f} | {throttled} | "
                  f"{unavailable} | {by_action} |")

if __name__ == "__main__":
    main()
