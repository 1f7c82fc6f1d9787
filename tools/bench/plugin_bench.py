#!/usr/bin/env python3
"""Issues 10 and 28's figures for the managed plugin, each beside a baseline from the same run:

  * the rootfs that `docker plugin create` copies on every node, by part;
  * `docker plugin create`, `push` (to a local registry, Debian's docker-registry)
    and `install` (from it) against the same steps for the plugin padded to
    215 MiB with copies of its own executable: the size before issue 28, when
    cloudstord and cloudstor-shim were two static binaries of 90 and 81 MiB;
  * `docker plugin create` against copying the same directory (`cp -a`), the work
    the engine cannot avoid;
  * `docker plugin enable` until the volume driver answers, against starting the
    same cloudstord + cloudstor-shim as plain processes until their sockets answer;
  * `docker run --rm -v VOL:/data busybox true` on a relocatable volume of the
    plugin (CLOUDSTOR_PROVIDER=local) against the engine's built-in `local` driver.

A private Docker engine (tests/test_docker.py's, its own data root), stopped by pid
at the end; the plugin is built from --bin by scripts/build-plugin.sh. As root:

    python3 tools/bench/plugin_bench.py --bin .build/release
"""
import argparse
import os
import platform
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
p.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"), help="cloudstord and cloudstor-shim")
p.add_argument("--runs", type=int, default=20, help="docker run repetitions per driver")
ARGS = p.parse_args()
ARGS.bin = os.path.abspath(ARGS.bin)
os.environ["CLOUDSTOR_BIN"] = ARGS.bin

from conftest import spawn, stop  # noqa: E402
from registry import Registry  # noqa: E402
from test_docker import IMAGE, running_engine  # noqa: E402

NAME = "cloudstor:bench"
OLD_ROOTFS = 215 << 20   # before issue 28


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{platform.system()} {platform.release()} {platform.machine()}, {os.cpu_count()} cores ({model})"


def timed(fn):
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def du(path):
    return int(subprocess.run(["du", "-sb", path], capture_output=True, text=True, check=True).stdout.split()[0])


def mib(n):
    return f"{n / (1 << 20):.1f}"


def main():
    work = tempfile.mkdtemp(prefix="csb-", dir="/tmp")
    try:
        plugin = os.path.join(work, "plugin")
        nfs = [] if shutil.which("mount.nfs4", path="/usr/sbin:/sbin") else ["--without-nfs"]
        subprocess.run([os.path.join(ROOT, "scripts", "build-plugin.sh"), *nfs, ARGS.bin, plugin], check=True,
                       stdout=subprocess.DEVNULL)
        rootfs = os.path.join(plugin, "rootfs")
        parts = {"cloudstor (cloudstord and cloudstor-shim)": du(f"{rootfs}/usr/bin/cloudstor"),
                 "libraries": du(f"{rootfs}/usr/lib") + du(f"{rootfs}/usr/lib64"), "init": du(f"{rootfs}/init")}
        total = du(rootfs)
        parts["tools and the rest"] = total - sum(parts.values())

        copy = timed(lambda: subprocess.run(["cp", "-a", rootfs, os.path.join(work, "copy")], check=True))
        padded = os.path.join(work, "padded")
        subprocess.run(["cp", "-a", plugin, padded], check=True)
        filler, n = os.path.join(padded, "rootfs", "usr", "lib", "bench-filler"), 0
        os.makedirs(filler)
        while du(os.path.join(padded, "rootfs")) < OLD_ROOTFS:   # compresses as the old binaries did
            missing = OLD_ROOTFS - du(os.path.join(padded, "rootfs"))
            with open(f"{rootfs}/usr/bin/cloudstor", "rb") as src, open(os.path.join(filler, str(n)), "wb") as dst:
                dst.write(src.read()[:missing])
            n += 1
        plain_dir = os.path.join(work, "plain")
        os.makedirs(plain_dir)
        def plain():
            d = spawn([os.path.join(ARGS.bin, "cloudstord"), "--socket", f"{plain_dir}/d.sock", "--state-dir",
                       f"{plain_dir}/st"], f"{plain_dir}/d.log", f"{plain_dir}/d.sock")
            s = spawn([os.path.join(ARGS.bin, "cloudstor-shim"), "--listen", f"{plain_dir}/p.sock", "--service-socket",
                       f"{plain_dir}/d.sock"], f"{plain_dir}/s.log", f"{plain_dir}/p.sock")
            return d, s
        started = time.monotonic()
        procs = plain()
        plain_start = time.monotonic() - started
        for proc in reversed(procs):
            stop(proc)

        registry = Registry(os.path.join(work, "registry"), "127.0.0.1").start()   # loopback: no TLS needed
        try:
            with running_engine() as eng:
                steps = {which: distribute(eng, registry, directory, which) for which, directory in (("now", plugin), ("padded", padded))}
                create, enable, disable, runs = plugin_in_use(eng, work, plugin)
        finally:
            registry.stop()

        print(f"machine: {machine()}; binaries from {ARGS.bin}")
        print(f"\nrootfs {mib(total)} MiB:", ", ".join(f"{k} {mib(v)}" for k, v in parts.items()),
              "" if not nfs else "(built without mount.nfs4: nfs-common is not installed here)")
        print(f"\n| step | seconds | baseline: the plugin padded to {mib(OLD_ROOTFS)} MiB (before issue 28) | ratio |")
        print("| --- | ---: | ---: | ---: |")
        for step in ("create", "push", "install"):
            print(f"| docker plugin {step} | {steps['now'][step]:.2f} | {steps['padded'][step]:.2f} | "
                  f"{steps['now'][step] / steps['padded'][step]:.2f}× |")
        print("\n| step | seconds | baseline | baseline seconds | ratio |")
        print("| --- | ---: | --- | ---: | ---: |")
        print(f"| docker plugin create | {create:.2f} | cp -a of the rootfs | {copy:.2f} | {create / copy:.1f}× |")
        print(f"| docker plugin enable (until the driver answers) | {enable:.2f} | cloudstord + shim started as processes | "
              f"{plain_start:.2f} | {enable / plain_start:.1f}× |")
        print(f"| docker plugin disable | {disable:.2f} | | | |")
        local, plug = statistics.median(runs["vlocal"]), statistics.median(runs["vplug"])
        print(f"| docker run -v (relocatable volume of the plugin), p50 of {ARGS.runs} | {plug:.3f} | "
              f"the same with Docker's local driver | {local:.3f} | {plug / local:.2f}× |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def distribute(eng, registry, directory, tag):
    """create, push, rm, install from the registry, rm: seconds of the first three."""
    ref = registry.ref(tag)
    took = {"create": timed(lambda: eng.run("plugin", "create", ref, directory, timeout=600))}
    took["push"] = timed(lambda: eng.run("plugin", "push", ref, timeout=600))
    eng.run("plugin", "rm", ref)
    took["install"] = timed(lambda: eng.run("plugin", "install", "--grant-all-permissions", "--disable", ref, timeout=600))
    eng.run("plugin", "rm", ref)
    return took


def plugin_in_use(eng, work, plugin):
    """create, enable, `docker run` with a volume (interleaved with Docker's local
    driver), disable: their seconds, and the runs'."""
    state = os.path.join(work, "state")
    os.makedirs(state)
    create = timed(lambda: eng.run("plugin", "create", NAME, plugin, timeout=600))
    # The bench's own directory for the daemon to make cloudstor/ in, not the host's /var/lib.
    eng.run("plugin", "set", NAME, "CLOUDSTOR_PROVIDER=local", f"state.source={state}")
    enable = timed(lambda: eng.run("plugin", "enable", NAME, timeout=120))
    eng.run("volume", "create", "-d", NAME, "--opt", "size=1", "vplug")
    eng.run("volume", "create", "-d", "local", "vlocal")
    runs = {"vlocal": [], "vplug": []}
    for vol in runs:
        eng.run("run", "--rm", "--network", "none", "-v", f"{vol}:/data", IMAGE, "true")   # warm
    for _ in range(ARGS.runs):   # interleaved: what else the machine does falls on both alike
        for vol in runs:
            runs[vol].append(timed(lambda: eng.run("run", "--rm", "--network", "none", "-v", f"{vol}:/data", IMAGE, "true")))
    eng.run("volume", "rm", "vplug", "vlocal")
    disable = timed(lambda: eng.run("plugin", "disable", NAME))
    eng.run("plugin", "rm", NAME)
    return create, enable, disable, runs


if __name__ == "__main__":
    main()
