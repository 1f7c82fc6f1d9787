"""Supervisors (systemd, Docker's plugin manager) stop daemons at any instant, often
right after they start. A SIGTERM at any moment of start-up (before, during and
after the bind, during reconcile) must be a graceful stop: exit 0, socket file
removed, no crash, never "cannot run". Death by the signal itself is allowed only
before the process has installed its handlers, when it has bound nothing."""
import os
import random
import signal
import subprocess
import time

from conftest import Daemon, PluginClient, Shim, binary, read, wait_for_socket

RUNS = 200


def time_to_serve(args, socket_path, log, samples=5):
    """Median seconds from exec until the socket accepts: the length of start-up."""
    times = []
    for _ in range(samples):
        started = time.monotonic()
        with open(log, "w") as logf:
            proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for_socket(socket_path, proc, log)
        times.append(time.monotonic() - started)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, read(log)
    return sorted(times)[len(times) // 2]


def stop_while_starting(args, socket_path, log, runs=RUNS):
    """SIGTERM at a random instant from exec to a little past serving: 0-50 ms, or
    longer where start-up itself takes longer (a debug build), so that stops land
    before, during and after the bind and reconcile alike."""
    window = max(0.050, 1.5 * time_to_serve(args, socket_path, log))
    outcomes = {"graceful": 0, "before handlers": 0}
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    for run in range(runs):
        delay = rng.uniform(0, window)
        with open(log, "w") as logf:
            proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"run {run} (SIGTERM after {delay * 1000:.1f} ms): no exit within 30 s:\n{read(log)}")
        out = read(log)
        where = f"run {run} (SIGTERM after {delay * 1000:.1f} ms)"
        assert rc in (0, -signal.SIGTERM), f"{where}: exited {rc}:\n{out}"
        assert "cannot run" not in out and "Assertion failed" not in out, f"{where}:\n{out}"
        assert not os.path.exists(socket_path), f"{where}: exit {rc} left the socket file {socket_path}"
        if rc == 0:
            outcomes["graceful"] += 1
        else:
            # Killed by the signal: only possible before the handlers, when nothing was logged as bound.
            assert "serving" not in out, f"{where}: died by SIGTERM after it served:\n{out}"
            outcomes["before handlers"] += 1
    print(f"{args[0]}: {runs} stops within {window * 1000:.0f} ms of exec: {outcomes}")
    # A run of only early deaths would not have tried the bind at all.
    assert outcomes["graceful"] > 0, outcomes


def test_daemon_stopped_at_any_instant_of_start_up(workdir):
    d = Daemon(workdir).start()
    try:
        # A held volume makes every start reconcile (re-mount it), so stops land there too.
        d.ctl("volume", "create", "held", "--opt", "size=1")
        d.ctl("volume", "mount", "held", "--id", "m1")
        assert d.stop() == 0, read(d.log)

        args = [binary("cloudstord"), "--socket", d.socket, "--state-dir", d.state, "--node-id", "test-node", "--log-level", "debug"]
        stop_while_starting(args, d.socket, os.path.join(workdir, "early.log"))

        d.start()
        assert d.ctl("volume", "inspect", "held").returncode == 0
        d.ctl("volume", "unmount", "held", "--id", "m1")
        d.ctl("volume", "rm", "held")
        assert d.stop() == 0, read(d.log)
        assert not os.path.exists(d.socket)
    finally:
        d.stop()


def test_shim_stopped_at_any_instant_of_start_up(workdir):
    d = Daemon(workdir).start()
    shim = Shim(workdir, d.socket)
    try:
        args = [binary("cloudstor-shim"), "--listen", shim.socket, "--service-socket", d.socket, "--log-level", "debug"]
        stop_while_starting(args, shim.socket, os.path.join(workdir, "early.log"))

        shim.start()
        plugin = PluginClient(shim.socket)
        status, body = plugin.call("VolumeDriver.Capabilities", {})
        plugin.close()
        assert (status, body) == (200, {"Capabilities": {"Scope": "local"}})
        assert shim.stop() == 0, read(shim.log)
        assert d.stop() == 0, read(d.log)
    finally:
        shim.stop()
        d.stop()
