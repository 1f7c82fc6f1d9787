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
from conftest import binary, read, stop

GP2 = {"size": 1, "ebstype": "gp2"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        prometheus.wait('cloudstor_holds{node="a"}', lambda r: r and r[0][1] == 1)
        # a snapshots what it holds every 2 s: the snapshot-age alert's input.
        taken = prometheus.wait('time() - cloudstor_snapshot_last_success_timestamp_seconds{node="a",volume="metered"}', lambda r: len(r) == 1)
        assert 0 <= taken[0][1] < 600, taken
        a.unmount("metered", "a1")
        point, _ = c.mount_until_ready("metered", "c1", timeout=180)
        assert data_digest(point) == digest

        # The move: one, by snapshot, done, on c; none on a; none in flight.
        moves = prometheus.wait('cloudstor_moves_total{kind="zone"}', lambda r: len(r) >= 1)
        assert [(m["node"], m["outcome"], v) for m, v in moves] == [("c", "ok", 1.0)], moves
        assert prometheus.query('cloudstor_move_duration_seconds_count{kind="zone",node="c"}')[0][1] == 1
        prometheus.wait('cloudstor_moves_in_flight{node="c"} + cloudstor_move_oldest_seconds{node="c"}', lambda r: r and r[0][1] == 0)

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


def test_metrics_on_a_unix_socket_and_a_bad_address_refused(workdir):
    sock = os.path.join(workdir, "m.sock")
    daemon = subprocess.Popen([binary("cloudstord"), "--socket", os.path.join(workdir, "d.sock"), "--state-dir",
                               os.path.join(workdir, "st"), "--metrics-listen", sock],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(sock):
            assert daemon.poll() is None and time.monotonic() < deadline, daemon.stderr.read()
            time.sleep(0.05)
        out = subprocess.run(["curl", "-sS", "--unix-socket", sock, "http://localhost/metrics"], capture_output=True, text=True)
        assert out.returncode == 0 and "# TYPE process_start_time_seconds gauge" in out.stdout, out
        missing = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", sock, "http://localhost/other"],
                                 capture_output=True, text=True)
        assert missing.stdout == "404"
    finally:
        assert stop(daemon) == 0
    bad = subprocess.run([binary("cloudstord"), "--socket", os.path.join(workdir, "e.sock"), "--state-dir", os.path.join(workdir, "st2"),
                          "--metrics-listen", "localhost"], capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "--metrics-listen takes HOST:PORT or an absolute socket path, not localhost" in bad.stderr, bad.stderr
