"""Prometheus metrics (issue 28): `cloudstord --metrics-listen` scraped by a real
Prometheus server (Debian's `prometheus`) through a cross-zone move of two AWS
daemons on the simulator; the assertions are PromQL answers from its HTTP API,
as an operator's dashboard and alerts would ask. Also: the unix-socket form, and
a bad address refused."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import pytest

from aws_fixtures import ec2sim, ec2sim_session  # noqa: F401  (fixtures)
from aws_nodes import aws_nodes, data_digest, write_data  # noqa: F401  (fixtures)
from conftest import Daemon, binary, free_port, read, stop, wait_for_socket

GP2 = {"size": 1, "ebstype": "gp2"}



class Prometheus:
    """A Prometheus server scraping `targets` (node name → HOST:PORT) every second."""

    def __init__(self, root, targets):
        self.root = root
        self.port = free_port()
        config = os.path.join(root, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: cloudstor\n    static_configs:\n")
            for node, address in targets.items():
                f.write(f"      - targets: ['{address}']\n        labels: {{node: '{node}'}}\n")
        self.log = os.path.join(root, "prometheus.log")
        with open(self.log, "w") as logf:
            self.proc = subprocess.Popen(
                ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={root}/data",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"prometheus did not start:\n{read(self.log)[-3000:]}")
            time.sleep(0.2)

    def _ready(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def query(self, promql):
        """The instant vector of `promql`: [(labels, value)]."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as r:
            answer = json.load(r)
        assert answer["status"] == "success", answer
        return [(sample["metric"], float(sample["value"][1])) for sample in answer["data"]["result"]]

    def wait(self, promql, accept, timeout=90):
        """Polls until `accept(result)`: scrapes come every second, the bound is for hangs."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if accept(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{promql}: {result}")
            time.sleep(0.5)

    def stop(self):
        return stop(self.proc)


@pytest.fixture
def promroot():
    root = tempfile.mkdtemp(prefix="csprom-", dir="/tmp")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_prometheus_sees_a_cross_zone_move_and_its_ec2_calls(aws_nodes, promroot):
    ports = {"a": free_port(), "c": free_port()}
    a = aws_nodes("us-east-1a", snapshot_interval=2, extra_args=("--metrics-listen", f"127.0.0.1:{ports['a']}"))
    c = aws_nodes("us-east-1b", extra_args=("--metrics-listen", f"127.0.0.1:{ports['c']}"))
    prometheus = Prometheus(promroot, {name: f"127.0.0.1:{port}" for name, port in ports.items()})
    try:
        prometheus.wait('up{job="cloudstor"} == 1', lambda r: len(r) == 2)
        a.create("metered", **GP2)
        digest = write_data(a.mount("metered", "a1"), os.urandom(64 << 10))
        prometheus.wait('cloudstor_holds{node="a",backing="relocatable"}', lambda r: r and r[0][1] == 1)
        assert prometheus.query('cloudstor_volumes{node="a",backing="relocatable",state="mounted"}')[0][1] == 1
        # a snapshots what it holds every 2 s: the snapshot-age alert's input.
        taken = prometheus.wait('time() - cloudstor_snapshot_last_success_timestamp_seconds{node="a",volume="metered"}', lambda r: len(r) == 1)
        assert 0 <= taken[0][1] < 600, taken
        a.unmount("metered", "a1")
        point, _ = c.mount_until_ready("metered", "c1", timeout=180)
        assert data_digest(point) == digest
        # a no longer holds it: its series goes, or the snapshot-age alert would fire for it.
        prometheus.wait('cloudstor_snapshot_last_success_timestamp_seconds{node="a",volume="metered"}', lambda r: r == [])

        # The move: one, by snapshot, done, on c; none on a; none in flight.
        moves = prometheus.wait('cloudstor_moves_total{kind="zone"}', lambda r: len(r) >= 1)
        assert [(m["node"], m["outcome"], v) for m, v in moves] == [("c", "ok", 1.0)], moves
        assert prometheus.query('cloudstor_move_duration_seconds_count{kind="zone",node="c"}')[0][1] == 1
        prometheus.wait('sum(cloudstor_moves_in_flight{node="c"}) + sum(cloudstor_move_oldest_seconds{node="c"})', lambda r: r and r[0][1] == 0)

        # EC2 calls by action, as an operator's dashboard shows them.
        calls = prometheus.wait('sum by (node, action) (cloudstor_aws_requests_total{service="ec2",outcome="ok"})',
                                lambda r: {"CreateSnapshot", "CreateVolume", "AttachVolume"} <= {m["action"] for m, _ in r if m["node"] == "c"})
        by_node = {}
        for m, v in calls:
            by_node.setdefault(m["node"], {})[m["action"]] = v
        assert by_node["a"].get("CreateVolume") == 1 and by_node["a"].get("CreateSnapshot", 0) >= 1, by_node["a"]
        assert by_node["c"]["CreateSnapshot"] == 1 and by_node["c"]["CreateVolume"] == 1, by_node["c"]

        # RPCs by method and code, and their latency.
        prometheus.wait('sum by (code) (cloudstor_rpc_requests_total{node="c",method="cloudstor.v1.Volumes/Mount"})',
                        lambda r: dict((m["code"], v) for m, v in r).get("OK") == 1)
        prometheus.wait('histogram_quantile(0.5, sum by (le) (rate(cloudstor_rpc_duration_seconds_bucket{node="a"}[1m])))',
                        lambda r: len(r) == 1)
        c.unmount("metered", "c1")
    finally:
        rc = prometheus.stop()
    assert rc == 0, read(prometheus.log)[-2000:]


def scrape(sock):
    """The daemon's /metrics over its unix socket, as {(name, ((label, value), ...)): value}."""
    out = subprocess.run(["curl", "-sS", "--unix-socket", sock, "http://localhost/metrics"], capture_output=True, text=True)
    assert out.returncode == 0, out
    samples = {}
    for line in out.stdout.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        name, _, labels = series.partition("{")
        pairs = tuple(sorted(tuple(pair.split("=", 1)) for pair in labels.rstrip("}").split(",") if pair))
        samples[(name, tuple((k, v.strip('"')) for k, v in pairs))] = float(value)
    return samples


def by(samples, name, label, **labels):
    """The samples of `name` carrying `labels`, keyed by their value of `label`."""
    return {dict(key[1])[label]: v for key, v in samples.items() if key[0] == name and labels.items() <= dict(key[1]).items()}


def test_volumes_by_backing_and_state_holds_steps_and_build_info_on_a_unix_socket(workdir):
    """Local provider, metrics on a unix socket: what a scrape counts follows
    creates, mounts and unmounts of both backings, with no other call."""
    shared = os.path.join(workdir, "shared")
    os.makedirs(shared)
    sock = os.path.join(workdir, "m.sock")
    daemon = Daemon(workdir, ["--shared-root", shared, "--metrics-listen", sock]).start()
    try:
        wait_for_socket(sock, daemon.proc, daemon.log)
        for name in ("r1", "r2"):
            daemon.ctl("volume", "create", name, "-o", "size=1")
        daemon.ctl("volume", "create", "s1", "-o", "backing=shared")
        for name, holder in (("r1", "m1"), ("r1", "m2"), ("s1", "m3")):
            daemon.ctl("volume", "mount", name, "--id", holder)
        assert daemon.ctl("volume", "mount", "nosuch", "--id", "m4", check=False).returncode != 0
        samples = scrape(sock)
        assert by(samples, "cloudstor_rpc_requests_total", "code", method="cloudstor.v1.Volumes/Create") == {"OK": 3}, samples
        assert by(samples, "cloudstor_rpc_requests_total", "code", method="cloudstor.v1.Volumes/Mount") == {"OK": 3, "NOT_FOUND": 1}
        assert samples[("cloudstor_rpc_duration_seconds_count", (("method", "cloudstor.v1.Volumes/Mount"),))] == 4
        assert by(samples, "cloudstor_volumes", "state", backing="relocatable") == {"created": 1, "mounted": 1, "moving": 0}, samples
        assert by(samples, "cloudstor_volumes", "state", backing="shared") == {"mounted": 1}
        assert by(samples, "cloudstor_holds", "backing") == {"relocatable": 2, "shared": 1}
        steps = by(samples, "cloudstor_moves_in_flight", "step")
        assert set(steps) >= {"starting", "snapshot", "waiting_for_unmount", "switching"} and sum(steps.values()) == 0, steps
        version = subprocess.run([binary("cloudstord"), "--version"], capture_output=True, text=True).stdout.strip()
        assert version and [dict(k[1]) for k in samples if k[0] == "cloudstor_build_info"] == [{"version": version}]
        assert samples[("process_start_time_seconds", ())] > time.time() - 3600

        for name, holder in (("r1", "m1"), ("r1", "m2"), ("s1", "m3")):
            daemon.ctl("volume", "unmount", name, "--id", holder)
        samples = scrape(sock)
        assert by(samples, "cloudstor_volumes", "state", backing="relocatable") == {"created": 2, "mounted": 0, "moving": 0}
        assert by(samples, "cloudstor_volumes", "state", backing="shared") == {"mounted": 0}
        assert by(samples, "cloudstor_holds", "backing") == {"relocatable": 0, "shared": 0}
        missing = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", sock, "http://localhost/other"],
                                 capture_output=True, text=True)
        assert missing.stdout == "404"
        for name in ("r1", "r2", "s1"):
            daemon.ctl("volume", "rm", name)

        # Prometheus keeps its connection open between scrapes: a stop closes it
        # rather than wait for it (ServiceLifecycle would give up after 7 s, and
        # the gRPC calls in flight would be cancelled, not drained).
        with socket.socket(socket.AF_UNIX) as scraper:
            scraper.connect(sock)
            scraper.sendall(b"GET /metrics HTTP/1.1\r\nHost: cloudstor\r\n\r\n")
            reply = b""
            while b"cloudstor_build_info" not in reply:
                chunk = scraper.recv(65536)
                assert chunk, reply
                reply += chunk
            assert reply.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" not in reply
            assert daemon.stop() == 0, read(daemon.log)[-3000:]
            scraper.settimeout(30)
            while scraper.recv(65536):
                pass   # the rest of the reply, then the daemon's close
        assert "took longer than allowed" not in read(daemon.log)
    finally:
        if daemon.proc.poll() is None:
            assert daemon.stop() == 0, read(daemon.log)[-3000:]


def test_a_bad_metrics_address_is_refused(workdir):
    bad = subprocess.run([binary("cloudstord"), "--socket", os.path.join(workdir, "e.sock"), "--state-dir", os.path.join(workdir, "st2"),
                          "--metrics-listen", "localhost"], capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "--metrics-listen takes HOST:PORT or an absolute socket path, not localhost" in bad.stderr, bad.stderr
