"""cloudstord's flags and their environment variables, as an operator sets them."""
import json
import os
import signal
import subprocess

from conftest import Daemon, binary, read, wait_for_socket, stop


def run_daemon(workdir, args=(), env=None, log_name="d.log"):
    log = os.path.join(workdir, log_name)
    with open(log, "w") as logf:
        proc = subprocess.Popen([binary("cloudstord"), *args], env=dict(os.environ, **(env or {})),
                                stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return proc, log


def test_environment_variables_configure_the_daemon(workdir):
    socket_path = os.path.join(workdir, "env.sock")
    env = {
        "CLOUDSTOR_SOCKET": socket_path,
        "CLOUDSTOR_STATE_DIR": os.path.join(workdir, "st"),
        "CLOUDSTOR_MOUNT_ROOT": os.path.join(workdir, "mnt-root"),
        "CLOUDSTOR_SHARED_ROOT": os.path.join(workdir, "shared-root"),
        "CLOUDSTOR_DEFAULT_BACKING": "shared",
        "CLOUDSTOR_DEFAULT_EBSTYPE": "gp3",
        "CLOUDSTOR_NODE_ID": "env-node",
    }
    proc, log = run_daemon(workdir, env=env)
    try:
        wait_for_socket(socket_path, proc, log)
        ctl = lambda *a: subprocess.run([binary("cloudstorctl"), *a], env=dict(os.environ, CLOUDSTOR_SOCKET=socket_path),
                                        capture_output=True, text=True, check=True).stdout
        volume = json.loads(ctl("volume", "create", "s", "--json"))
        assert volume["backing"] == "BACKING_SHARED"
        assert volume["status"]["cloud_id"] == os.path.join(workdir, "shared-root", "s")
        ctl("volume", "create", "r", "-o", "backing=relocatable", "-o", "size=1")
        assert json.loads(ctl("volume", "inspect", "r"))["options"]["ebstype"] == "gp3"
        mountpoint = ctl("volume", "mount", "r", "--id", "x").strip()
        assert mountpoint == os.path.join(workdir, "mnt-root", "r")
        assert json.loads(ctl("volume", "inspect", "r"))["status"]["node"] == "env-node"
        ctl("volume", "unmount", "r", "--id", "x")
        assert os.path.exists(os.path.join(workdir, "st", "catalogue.sqlite"))
    finally:
        assert stop(proc) == 0, read(log)


def test_a_flag_wins_over_its_environment_variable(workdir):
    flag_socket = os.path.join(workdir, "flag.sock")
    proc, log = run_daemon(workdir, ["--socket", flag_socket, "--state-dir", os.path.join(workdir, "st")],
                           env={"CLOUDSTOR_SOCKET": os.path.join(workdir, "env.sock")})
    try:
        wait_for_socket(flag_socket, proc, log)
        assert not os.path.exists(os.path.join(workdir, "env.sock"))
    finally:
        assert stop(proc) == 0, read(log)


def test_json_logs_are_one_object_per_line(workdir):
    d = Daemon(workdir, ["--log-format", "json", "--log-level", "info"]).start()
    try:
        d.ctl("volume", "create", "j", "-o", "size=1")
    finally:
        assert d.stop() == 0
    lines = [line for line in read(d.log).splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    assert all({"time", "level", "label", "message"} <= set(r) for r in records)
    created = [r for r in records if r["message"] == "created volume"]
    assert created and created[0]["volume"] == "j" and created[0]["level"] == "info"


def test_bad_settings_are_refused_with_a_reason(workdir):
    for args, env, words in [
        (["--log-format", "xml"], {}, ["--log-format", "text, json", "xml"]),
        (["--log-level", "loud"], {}, ["--log-level", "loud"]),
        (["--default-backing", "nfs"], {}, ["--default-backing", "relocatable, shared"]),
        (["--default-ebstype", "gp9"], {}, ["--default-ebstype", "standard, gp2, gp3, io1, io2, st1, sc1", "gp9"]),
        ([], {"CLOUDSTOR_PROVIDER": "gcp"}, ["--provider", "local, aws"]),
        (["--budget-nodes", "0"], {}, ["--budget-nodes", "at least 1", "0"]),
        ([], {"CLOUDSTOR_BUDGET_NODES": "three"}, ["--budget-nodes", "whole number", "three"]),
    ]:
        result = subprocess.run([binary("cloudstord"), "--socket", os.path.join(workdir, "x.sock"),
                                 "--state-dir", os.path.join(workdir, "st"), *args],
                                env=dict(os.environ, **env), capture_output=True, text=True, timeout=30)
        assert result.returncode == 64, (args, result.stderr)
        for word in words:
            assert word in result.stderr, (args, result.stderr)
        assert not os.path.exists(os.path.join(workdir, "x.sock"))


def test_the_aws_provider_off_ec2_says_what_is_missing(workdir):
    """Off EC2, with no instance metadata reachable, the AWS provider does not start
    (and never falls back to local volumes): it says how to tell it who it is."""
    env = dict(os.environ, AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:9")
    result = subprocess.run([binary("cloudstord"), "--provider", "aws", "--socket", os.path.join(workdir, "a.sock"),
                             "--state-dir", os.path.join(workdir, "st")], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 1, result.stderr
    assert "cannot tell which EC2 instance this is" in result.stderr and "--instance-id" in result.stderr, result.stderr
    assert not os.path.exists(os.path.join(workdir, "a.sock"))


def test_one_daemon_per_state_directory(workdir):
    """Two daemons on one state directory would mount the same images twice: the
    second refuses, whatever its socket, and the first is untouched."""
    first = Daemon(workdir).start()
    try:
        first.ctl("volume", "create", "v", "-o", "size=1")
        result = subprocess.run([binary("cloudstord"), "--socket", os.path.join(workdir, "other.sock"),
                                 "--state-dir", first.state], capture_output=True, text=True, timeout=30)
        assert result.returncode != 0
        assert "already using the state directory " + first.state in result.stderr, result.stderr
        assert not os.path.exists(os.path.join(workdir, "other.sock"))
        assert first.ctl("volume", "ls").stdout.count("\nv ") == 1
    finally:
        assert first.stop() == 0


def test_an_idle_client_connection_cannot_stall_a_stop(workdir):
    """A client that holds an HTTP/2 connection open without reading (libcurl
    between calls does) must not keep SIGTERM from stopping the daemon."""
    import socket as sockets
    d = Daemon(workdir).start()
    idle = sockets.socket(sockets.AF_UNIX)
    try:
        idle.connect(d.socket)
        idle.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        d.proc.send_signal(signal.SIGTERM)
        # The daemon gives calls in flight 10 s; 30 s bounds the test, it is no timing claim.
        assert d.proc.wait(30) == 0, read(d.log)
        assert not os.path.exists(d.socket)
    finally:
        idle.close()
        d.stop()
