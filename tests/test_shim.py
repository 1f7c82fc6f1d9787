"""cloudstor-shim over its real unix socket, spoken to exactly as the Docker engine
does (raw HTTP/1.1: POST, the plugin Accept header, no Content-Type, keep-alive),
with a real cloudstord (local provider) behind it.

What Docker relies on (DESIGN.md, "Docker facts"): every reply is
application/vnd.docker.plugins.v1.2+json; only 200 is success; user-facing failures
are a 200 with a non-empty Err (shown verbatim); protocol misuse is a 4xx with Err;
an empty body is never a volume named ""; Mount never answers an empty or missing
Mountpoint; repeated mount IDs are counted.
"""
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from types import SimpleNamespace

import pytest

from conftest import Daemon, PluginClient, Shim, UnixHTTPConnection, cleanup_host, mounts_under, read

CT = "application/vnd.docker.plugins.v1.2+json"
NAMED_CALLS = ["Create", "Remove", "Get", "Path", "Mount", "Unmount"]
SHARED = {"backing": "shared"}


# --------------------------------------------------------------------------- helpers

def reply(plugin, endpoint, body, method="POST"):
    """One call; returns (status, decoded JSON). Every reply must carry the plugin
    content type and a JSON object, whatever the status."""
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    status, ctype, data = plugin.raw(endpoint, body, method=method)
    assert ctype == CT, f"{endpoint}: Content-Type {ctype!r} (status {status}, body {data[:200]!r})"
    try:
        obj = json.loads(data)
    except ValueError:
        pytest.fail(f"{endpoint}: reply is not JSON: {data[:200]!r}")
    assert isinstance(obj, dict), f"{endpoint}: reply is not a JSON object: {obj!r}"
    return status, obj


def ok(plugin, call, payload):
    status, obj = reply(plugin, "/VolumeDriver." + call, payload)
    assert status == 200, f"{call} {payload!r}: HTTP {status} {obj!r}"
    assert obj.get("Err") == "", f"{call} {payload!r} failed: {obj!r}"
    return obj


def err(plugin, call, payload):
    """A user-facing failure: HTTP 200 with a non-empty Err (Docker shows it verbatim)."""
    status, obj = reply(plugin, "/VolumeDriver." + call, payload)
    assert status == 200, f"{call} {payload!r}: expected 200 with Err, got HTTP {status} {obj!r}"
    assert isinstance(obj.get("Err"), str) and obj["Err"], f"{call} {payload!r} should have failed: {obj!r}"
    assert "Mountpoint" not in obj or call != "Mount", f"failed Mount must not offer a Mountpoint: {obj!r}"
    return obj["Err"]


def refused(plugin, endpoint, body, statuses=range(400, 500), method="POST"):
    """Protocol misuse: a 4xx with a non-empty Err."""
    status, obj = reply(plugin, endpoint, body, method=method)
    assert status in statuses, f"{endpoint} {body!r:.100}: expected 4xx, got HTTP {status} {obj!r}"
    assert isinstance(obj.get("Err"), str) and obj["Err"], f"{endpoint}: 4xx without Err: {obj!r}"
    return status, obj["Err"]


def alive(shim):
    assert shim.proc.poll() is None, f"cloudstor-shim died (rc {shim.proc.returncode}):\n{read(shim.log)[-3000:]}"


def is_mountpoint(path):
    return os.path.realpath(path) in mounts_under(os.path.realpath(path))


def names(plugin):
    vols = ok(plugin, "List", {})["Volumes"]
    assert isinstance(vols, list)
    return [v["Name"] for v in vols]


def volume(plugin, name):
    return ok(plugin, "Get", {"Name": name})["Volume"]


def state_entries(daemon):
    """Every path under the daemon's state directory (to prove hostile names reach no file)."""
    found = set()
    for root, dirs, files in os.walk(daemon.state):
        for n in dirs + files:
            if not n.startswith("catalogue.sqlite"):   # the catalogue's own journal/WAL files come and go
                found.add(os.path.relpath(os.path.join(root, n), daemon.state))
    return found


def raw_exchange(path, data, half_close=False, timeout=10):
    """Sends bytes on a fresh connection and returns everything the shim answers
    until it closes the connection (callers make sure it will: Connection: close,
    bytes the shim must reject, or half_close)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    out = b""
    try:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
    except (ConnectionResetError, BrokenPipeError):
        return out
    finally:
        s.close()


def http_request(endpoint, body=b"", close=False):
    if isinstance(body, str):
        body = body.encode()
    return (f"POST {endpoint} HTTP/1.1\r\nHost: plugin\r\nAccept: {CT}\r\n"
            + ("Connection: close\r\n" if close else "")
            + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


# --------------------------------------------------------------------------- a shared stack

@pytest.fixture(scope="module")
def stack():
    """One daemon + shim for the many stateless hostile-input cases (starting a pair
    per case would dominate the module's runtime). Each case leaves it as it found it."""
    wd = tempfile.mkdtemp(prefix="cs-", dir="/tmp")
    d = Daemon(wd)
    s = Shim(wd, d.socket)
    try:
        d.start()
        s.start()
        yield SimpleNamespace(workdir=wd, daemon=d, shim=s)
    finally:
        rc_shim, rc_daemon = s.stop(), d.stop()
        logs = read(s.log)[-2000:] + read(d.log)[-2000:]
        leaked, loops = cleanup_host(wd)
        shutil.rmtree(wd, ignore_errors=True)
        assert rc_shim == 0 and rc_daemon == 0, f"exit codes shim {rc_shim}, daemon {rc_daemon}:\n{logs}"
        assert not leaked and not loops, f"left behind: {leaked} {loops}"


@pytest.fixture
def hostile(stack):
    """A fresh Docker-like connection to the shared stack; afterwards the shim must
    be alive and no volume may exist."""
    c = PluginClient(stack.shim.socket)
    stack.plugin = c
    yield stack
    c.close()
    alive(stack.shim)
    c = PluginClient(stack.shim.socket)
    try:
        assert names(c) == [], "a hostile call left a volume behind"
    finally:
        c.close()


# --------------------------------------------------------------------------- handshake

def test_activate(plugin, shim):
    status, obj = reply(plugin, "/Plugin.Activate", b"")
    assert status == 200
    assert obj["Implements"] == ["VolumeDriver"]
    # Docker may send an empty JSON object or null as Activate's body as well.
    for body in (b"{}", b"null"):
        status, obj = reply(plugin, "/Plugin.Activate", body)
        assert (status, obj["Implements"]) == (200, ["VolumeDriver"])
    alive(shim)


def test_capabilities_scope_local_without_a_cluster_root(plugin):
    for body in (b"", b"{}"):
        status, obj = reply(plugin, "/VolumeDriver.Capabilities", body)
        assert status == 200
        assert obj["Capabilities"] == {"Scope": "local"}
        assert not obj.get("Err")


def test_success_is_200_and_failures_carry_err(plugin):
    """Only 200 is success; each kind of answer has the plugin content type (checked in reply())."""
    assert reply(plugin, "/VolumeDriver.List", b"{}")[0] == 200
    assert reply(plugin, "/VolumeDriver.Create", {"Name": "ct", "Opts": SHARED})[0] == 200
    assert reply(plugin, "/VolumeDriver.Get", {"Name": "ct"})[0] == 200
    assert reply(plugin, "/VolumeDriver.Get", {"Name": "nope"})[0] == 200        # user-facing: 200 + Err
    assert reply(plugin, "/VolumeDriver.Get", b"")[0] == 400                       # empty body
    assert reply(plugin, "/VolumeDriver.Get", b"{")[0] == 400                      # malformed
    assert reply(plugin, "/VolumeDriver.Nope", b"{}")[0] == 404
    assert reply(plugin, "/VolumeDriver.List", b"", method="GET")[0] == 405
    ok(plugin, "Remove", {"Name": "ct"})


# --------------------------------------------------------------------------- Create

def test_create_opts_null_relocatable_default_needs_size(plugin):
    # No --opt at all: Docker sends "Opts": null. The local provider defaults to
    # relocatable, which needs a size: a clear error naming the option, nothing created.
    message = err(plugin, "Create", {"Name": "nul", "Opts": None})
    assert "size" in message
    message = err(plugin, "Create", {"Name": "nul", "Opts": {}})
    assert "size" in message
    assert "nul" not in names(plugin)
    assert err(plugin, "Get", {"Name": "nul"})


def test_create_opts_null_uses_default_backing(workdir):
    """With --default-backing shared, Opts null and {} create a usable shared volume."""
    d = Daemon(os.path.join(workdir, "b"), ["--default-backing", "shared"])
    os.makedirs(d.dir)
    d.start()
    s = Shim(d.dir, d.socket).start()
    p = PluginClient(s.socket)
    try:
        ok(p, "Create", {"Name": "dflt", "Opts": None})
        ok(p, "Create", {"Name": "dflt", "Opts": None})   # idempotent
        ok(p, "Create", {"Name": "dflt2", "Opts": {}})
        v = volume(p, "dflt")
        assert v["Status"]["Backing"] == "shared"
        mp = ok(p, "Mount", {"Name": "dflt", "ID": "m1"})["Mountpoint"]
        assert mp and os.path.isdir(mp)
        ok(p, "Unmount", {"Name": "dflt", "ID": "m1"})
        ok(p, "Remove", {"Name": "dflt"})
        ok(p, "Remove", {"Name": "dflt2"})
    finally:
        p.close()
        assert s.stop() == 0
        assert d.stop() == 0


def test_create_shared_minimal(plugin):
    ok(plugin, "Create", {"Name": "sh", "Opts": SHARED})
    v = volume(plugin, "sh")
    assert v["Name"] == "sh"
    assert v["Status"]["Backing"] == "shared"
    assert "sh" in names(plugin)
    ok(plugin, "Remove", {"Name": "sh"})


@pytest.mark.parametrize("opts,backing", [
    ({"size": "1"}, "relocatable"),
    ({"backing": "relocatable", "size": "2", "ebstype": "gp2"}, "relocatable"),
    ({"backing": "local", "size": "1", "ebstype": "gp3", "iops": "3000"}, "relocatable"),
    ({"size": "4", "ebstype": "io1", "iops": "200"}, "relocatable"),
    ({"backing": "shared", "uid": "1000", "mode": "0750"}, "shared"),
])
def test_create_with_options(plugin, opts, backing):
    ok(plugin, "Create", {"Name": "opt", "Opts": opts})
    v = volume(plugin, "opt")
    assert v["Status"]["Backing"] == backing
    for key, value in opts.items():
        if key != "backing":
            assert v["Status"]["Options"].get(key) == value, v
    ok(plugin, "Remove", {"Name": "opt"})


def test_create_is_idempotent(plugin):
    ok(plugin, "Create", {"Name": "idem", "Opts": {"size": "1"}})
    ok(plugin, "Create", {"Name": "idem", "Opts": {"size": "1"}})
    # Defaults spelled out and the backing alias are the same request.
    ok(plugin, "Create", {"Name": "idem", "Opts": {"size": "1", "backing": "local", "ebstype": "standard"}})
    assert names(plugin).count("idem") == 1
    message = err(plugin, "Create", {"Name": "idem", "Opts": {"size": "2"}})
    assert "idem" in message and "size" in message
    message = err(plugin, "Create", {"Name": "idem", "Opts": SHARED})
    assert "idem" in message
    # The failed re-creates changed nothing.
    assert volume(plugin, "idem")["Status"]["Options"]["size"] == "1"

    ok(plugin, "Create", {"Name": "idem-sh", "Opts": SHARED})
    ok(plugin, "Create", {"Name": "idem-sh", "Opts": SHARED})
    message = err(plugin, "Create", {"Name": "idem-sh", "Opts": {"backing": "shared", "perfmode": "maxio"}})
    assert "idem-sh" in message and "perfmode" in message
    ok(plugin, "Remove", {"Name": "idem"})
    ok(plugin, "Remove", {"Name": "idem-sh"})


def test_concurrent_creates_of_one_name_all_succeed(shim):
    """Global services: several nodes create the same name at the same instant."""
    import threading
    results = []

    def create(opts):
        c = PluginClient(shim.socket)
        try:
            results.append(reply(c, "/VolumeDriver.Create", {"Name": "race", "Opts": opts}))
        finally:
            c.close()

    threads = [threading.Thread(target=create, args=({"size": "1"},)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r for r in results if r != (200, {"Err": ""})] == []
    assert len(results) == 6
    c = PluginClient(shim.socket)
    try:
        assert names(c).count("race") == 1
        ok(c, "Remove", {"Name": "race"})
    finally:
        c.close()


@pytest.mark.parametrize("opts,option", [
    ({"size": "1", "color": "red"}, "color"),
    ({"size": "1", "ebstype": "gp9"}, "ebstype"),
    ({"size": "0"}, "size"),
    ({"size": "abc"}, "size"),
    ({"size": "-1"}, "size"),
    ({"size": "1.5"}, "size"),
    ({"size": "99999"}, "size"),
    ({"size": "1", "ebstype": "gp2", "iops": "100"}, "iops"),
    ({"size": "4", "ebstype": "io1"}, "iops"),
    ({"size": "4", "ebstype": "io1", "iops": "100000"}, "iops"),
    ({"size": "1", "perfmode": "maxio"}, "perfmode"),
    ({"backing": "shared", "size": "1"}, "size"),
    ({"backing": "shared", "perfmode": "fast"}, "perfmode"),
    ({"backing": "nfs"}, "backing"),
    ({"Size": "1"}, "Size"),
])
def test_bad_options_are_refused_naming_the_option(hostile, opts, option):
    plugin, shim, daemon, workdir = hostile.plugin, hostile.shim, hostile.daemon, hostile.workdir
    message = err(plugin, "Create", {"Name": "bad", "Opts": opts})
    assert option in message, f"Err does not name {option}: {message!r}"
    assert "bad" not in names(plugin)
    assert err(plugin, "Get", {"Name": "bad"})
    alive(shim)


# --------------------------------------------------------------------------- Get / List

def test_get_and_list(plugin):
    ok(plugin, "Create", {"Name": "g1", "Opts": {"size": "1"}})
    ok(plugin, "Create", {"Name": "g2", "Opts": SHARED})
    for name in ("g1", "g2"):
        v = volume(plugin, name)
        assert v["Name"] == name
        assert v["Mountpoint"] == ""          # not mounted yet
        created = datetime.datetime.fromisoformat(v["CreatedAt"].replace("Z", "+00:00"))
        assert created.tzinfo is not None
        assert abs((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds()) < 3600
        assert isinstance(v["Status"], dict) and v["Status"]
    listed = ok(plugin, "List", {})["Volumes"]
    by_name = {v["Name"]: v for v in listed}
    assert set(by_name) == {"g1", "g2"}
    assert all(v["Mountpoint"] == "" for v in listed)

    message = err(plugin, "Get", {"Name": "unknown"})
    assert "unknown" in message
    ok(plugin, "Remove", {"Name": "g1"})
    assert names(plugin) == ["g2"]
    assert err(plugin, "Get", {"Name": "g1"})
    ok(plugin, "Remove", {"Name": "g2"})
    assert names(plugin) == []


def test_list_accepts_null_and_empty_bodies(plugin):
    ok(plugin, "Create", {"Name": "l1", "Opts": SHARED})
    for body in (b"{}", b"null", b""):
        status, obj = reply(plugin, "/VolumeDriver.List", body)
        assert status == 200 and obj["Err"] == ""
        assert [v["Name"] for v in obj["Volumes"]] == ["l1"]
    ok(plugin, "Remove", {"Name": "l1"})


def test_unknown_volume_errors_name_it(plugin):
    for call, payload in [("Get", {"Name": "ghost"}), ("Path", {"Name": "ghost"}),
                          ("Mount", {"Name": "ghost", "ID": "m"}), ("Remove", {"Name": "ghost"})]:
        assert "ghost" in err(plugin, call, payload)


# --------------------------------------------------------------------------- Mount / Unmount / Path / Remove

def test_mount_relocatable_same_id_twice(plugin, daemon):
    ok(plugin, "Create", {"Name": "m", "Opts": {"size": "1"}})
    assert ok(plugin, "Path", {"Name": "m"})["Mountpoint"] == ""
    mp = ok(plugin, "Mount", {"Name": "m", "ID": "c1"})["Mountpoint"]
    try:
        assert mp and os.path.isabs(mp) and os.path.isdir(mp)
        assert is_mountpoint(mp), f"{mp} is not a mount point"
        assert ok(plugin, "Path", {"Name": "m"})["Mountpoint"] == mp
        v = volume(plugin, "m")
        assert v["Mountpoint"] == mp
        assert [x["Mountpoint"] for x in ok(plugin, "List", {})["Volumes"] if x["Name"] == "m"] == [mp]

        # docker cp: a second Mount with the SAME ID needs its own Unmount.
        assert ok(plugin, "Mount", {"Name": "m", "ID": "c1"})["Mountpoint"] == mp
        ok(plugin, "Unmount", {"Name": "m", "ID": "c1"})
        assert is_mountpoint(mp), "first of two Unmounts of one ID unmounted the volume"
        assert ok(plugin, "Path", {"Name": "m"})["Mountpoint"] == mp
        # An ID that holds nothing is harmless and releases nothing.
        ok(plugin, "Unmount", {"Name": "m", "ID": "never-mounted"})
        assert is_mountpoint(mp)
        ok(plugin, "Unmount", {"Name": "m", "ID": "c1"})
        assert not is_mountpoint(mp)
        assert ok(plugin, "Path", {"Name": "m"})["Mountpoint"] == ""
        assert volume(plugin, "m")["Mountpoint"] == ""
        # Unmount again after the last holder left: harmless.
        ok(plugin, "Unmount", {"Name": "m", "ID": "c1"})
    finally:
        for _ in range(2):
            reply(plugin, "/VolumeDriver.Unmount", {"Name": "m", "ID": "c1"})
    ok(plugin, "Remove", {"Name": "m"})


def test_mount_two_ids(plugin):
    ok(plugin, "Create", {"Name": "two", "Opts": {"size": "1"}})
    mp = ok(plugin, "Mount", {"Name": "two", "ID": "a"})["Mountpoint"]
    try:
        assert ok(plugin, "Mount", {"Name": "two", "ID": "b"})["Mountpoint"] == mp
        assert is_mountpoint(mp)
        ok(plugin, "Unmount", {"Name": "two", "ID": "a"})
        assert is_mountpoint(mp), "volume unmounted while ID b still holds it"
        ok(plugin, "Unmount", {"Name": "two", "ID": "b"})
        assert not is_mountpoint(mp)
    finally:
        reply(plugin, "/VolumeDriver.Unmount", {"Name": "two", "ID": "a"})
        reply(plugin, "/VolumeDriver.Unmount", {"Name": "two", "ID": "b"})
    ok(plugin, "Remove", {"Name": "two"})


def test_mount_shared(plugin):
    ok(plugin, "Create", {"Name": "shm", "Opts": SHARED})
    mp = ok(plugin, "Mount", {"Name": "shm", "ID": "x"})["Mountpoint"]
    try:
        assert mp and os.path.isabs(mp) and os.path.isdir(mp)
        assert ok(plugin, "Path", {"Name": "shm"})["Mountpoint"] == mp
        assert ok(plugin, "Mount", {"Name": "shm", "ID": "y"})["Mountpoint"] == mp
        ok(plugin, "Unmount", {"Name": "shm", "ID": "x"})
        assert ok(plugin, "Path", {"Name": "shm"})["Mountpoint"] == mp
        ok(plugin, "Unmount", {"Name": "shm", "ID": "y"})
        assert ok(plugin, "Path", {"Name": "shm"})["Mountpoint"] == ""
    finally:
        reply(plugin, "/VolumeDriver.Unmount", {"Name": "shm", "ID": "x"})
        reply(plugin, "/VolumeDriver.Unmount", {"Name": "shm", "ID": "y"})
    ok(plugin, "Remove", {"Name": "shm"})


def test_remove_in_use_refused_then_removes_data(plugin):
    ok(plugin, "Create", {"Name": "rel", "Opts": {"size": "1"}})
    ok(plugin, "Create", {"Name": "shr", "Opts": SHARED})
    image = volume(plugin, "rel")["Status"].get("CloudID")
    mps = {}
    try:
        for name in ("rel", "shr"):
            mps[name] = ok(plugin, "Mount", {"Name": name, "ID": "busy"})["Mountpoint"]
            with open(os.path.join(mps[name], "f"), "w") as f:
                f.write("x")
            message = err(plugin, "Remove", {"Name": name})
            assert "in use" in message and name in message
            assert name in names(plugin)
            assert os.path.exists(os.path.join(mps[name], "f"))
            ok(plugin, "Unmount", {"Name": name, "ID": "busy"})
    finally:
        for name in ("rel", "shr"):
            reply(plugin, "/VolumeDriver.Unmount", {"Name": name, "ID": "busy"})
    assert image and os.path.isfile(image), f"relocatable CloudID {image!r} is not the image file"
    ok(plugin, "Remove", {"Name": "rel"})
    ok(plugin, "Remove", {"Name": "shr"})
    assert not os.path.exists(image), "image file left after Remove"
    assert not os.path.exists(mps["shr"]), "shared data directory left after Remove"
    assert not is_mountpoint(mps["rel"])
    assert names(plugin) == []
    assert err(plugin, "Get", {"Name": "rel"})


def test_data_survives_unmount_and_remount(plugin):
    ok(plugin, "Create", {"Name": "data", "Opts": {"size": "1"}})
    payload = os.urandom(256 * 1024)
    mp = ok(plugin, "Mount", {"Name": "data", "ID": "writer"})["Mountpoint"]
    try:
        with open(os.path.join(mp, "blob"), "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
    finally:
        ok(plugin, "Unmount", {"Name": "data", "ID": "writer"})
    assert not is_mountpoint(mp)
    assert not os.path.exists(os.path.join(mp, "blob")), "file visible with the volume unmounted"
    mp2 = ok(plugin, "Mount", {"Name": "data", "ID": "reader"})["Mountpoint"]
    try:
        assert is_mountpoint(mp2)
        with open(os.path.join(mp2, "blob"), "rb") as f:
            assert f.read() == payload
    finally:
        ok(plugin, "Unmount", {"Name": "data", "ID": "reader"})
    ok(plugin, "Remove", {"Name": "data"})


def test_longest_valid_name_works_for_both_backings(plugin):
    """Docker's rule allows 255 characters; such a volume must be fully usable."""
    for opts in (SHARED, {"size": "1"}):
        name = ("s" if opts is SHARED else "r") * 255
        ok(plugin, "Create", {"Name": name, "Opts": opts})
        mp = ok(plugin, "Mount", {"Name": name, "ID": "long"})["Mountpoint"]
        try:
            assert os.path.isdir(mp)
        finally:
            ok(plugin, "Unmount", {"Name": name, "ID": "long"})
        ok(plugin, "Remove", {"Name": name})


# --------------------------------------------------------------------------- hostile input

@pytest.mark.parametrize("call", NAMED_CALLS)
@pytest.mark.parametrize("body", [b"", b"   \n\t  \r\n", b"null"], ids=["empty", "whitespace", "null"])
def test_empty_or_null_body_is_refused(hostile, call, body):
    plugin, shim, daemon, workdir = hostile.plugin, hostile.shim, hostile.daemon, hostile.workdir
    status, message = refused(plugin, "/VolumeDriver." + call, body)
    assert status == 400
    alive(shim)
    assert "" not in names(plugin)


def test_empty_body_never_acts_on_a_volume(plugin, shim, daemon):
    """The managed-plugin retry sends an empty body: it must not unmount or remove anything."""
    ok(plugin, "Create", {"Name": "keep", "Opts": {"size": "1"}})
    mp = ok(plugin, "Mount", {"Name": "keep", "ID": "hold"})["Mountpoint"]
    try:
        before = state_entries(daemon)
        for call in ("Unmount", "Remove", "Mount", "Create"):
            refused(plugin, "/VolumeDriver." + call, b"")
        assert is_mountpoint(mp)
        assert volume(plugin, "keep")["Mountpoint"] == mp
        assert names(plugin) == ["keep"]
        assert state_entries(daemon) == before
    finally:
        ok(plugin, "Unmount", {"Name": "keep", "ID": "hold"})
    assert not is_mountpoint(mp), "refused empty-body Mount took a mount reference"
    ok(plugin, "Remove", {"Name": "keep"})
    alive(shim)


@pytest.mark.parametrize("call,body,needle", [
    ("Create", b"{", None),
    ("Create", b'{"Name": "v", "Opts": {"size": "1"}', None),
    ("Create", b"not json at all", None),
    ("Create", b'{"Name":"v","Opts":{"size":"1"}} trailing', None),
    ("Create", b"\xff\xfe\x00garbage", None),
    ("Create", b"[]", None),
    ("Create", b'"v"', None),
    ("Create", b"5", None),
    ("Create", b'{"Name": 5}', "Name"),
    ("Create", b'{"Name": null, "Opts": null}', "Name"),
    ("Create", b'{"Name": "v", "Opts": "x"}', "Opts"),
    ("Create", b'{"Name": "v", "Opts": ["size=1"]}', "Opts"),
    ("Create", b'{"Name": "v", "Opts": {"size": 1}}', "size"),
    ("Create", b'{"Name": "v", "Opts": {"size": null}}', "size"),
    ("Create", b'{"Opts": {"size": "1"}}', "Name"),
    ("Get", b"{}", "Name"),
    ("Get", b'{"Name": ["v"]}', "Name"),
    ("Remove", b'{"name": "v"}', "Name"),
    ("Path", b'{"Name": true}', "Name"),
    ("Mount", b'{"Name": "v"}', "ID"),
    ("Mount", b'{"ID": "x"}', "Name"),
    ("Mount", b'{"Name": "v", "ID": 7}', "ID"),
    ("Unmount", b'{"Name": "v"}', "ID"),
    ("Unmount", b'{"Name": {}, "ID": "x"}', "Name"),
])
def test_malformed_requests_are_refused(hostile, call, body, needle):
    plugin, shim, daemon, workdir = hostile.plugin, hostile.shim, hostile.daemon, hostile.workdir
    status, message = refused(plugin, "/VolumeDriver." + call, body)
    assert status == 400
    if needle:
        assert needle in message, f"Err should name {needle}: {message!r}"
    alive(shim)
    assert names(plugin) == [], "a malformed request created a volume"


@pytest.mark.parametrize("name", [
    "../x", "a/b", "/abs", "..", ".", "", "x" * 300, "-lead", "_lead", ".hidden",
    "a\x00b", "a\nb", "tab\there", "\x1b[31mred", "vé", "卷", "a b", "a\\b", "$(id)",
], ids=lambda n: repr(n)[:30])
def test_hostile_names_are_refused(hostile, name):
    plugin, shim, daemon, workdir = hostile.plugin, hostile.shim, hostile.daemon, hostile.workdir
    before = state_entries(daemon)
    top = set(os.listdir(workdir))
    for opts in (SHARED, {"size": "1"}):
        err(plugin, "Create", {"Name": name, "Opts": opts})
    for call, payload in [("Get", {"Name": name}), ("Path", {"Name": name}), ("Remove", {"Name": name}),
                          ("Mount", {"Name": name, "ID": "h"}), ("Unmount", {"Name": name, "ID": "h"})]:
        status, obj = reply(plugin, "/VolumeDriver." + call, payload)
        assert status == 200 and obj.get("Err"), f"{call} of {name!r} should fail: {obj!r}"
    assert names(plugin) == []
    assert state_entries(daemon) == before, "a hostile name reached the filesystem"
    assert set(os.listdir(workdir)) == top
    alive(shim)


def test_huge_body_is_413_and_shim_keeps_serving(plugin, shim):
    huge = b'{"Name":"' + b"a" * (2 << 20) + b'","Opts":null}'
    status, message = refused(plugin, "/VolumeDriver.Create", huge)
    assert status == 413
    alive(shim)
    # Just under and exactly at the limit is still served.
    pad = (1 << 20) - len(b'{"Name":"nope","x":""}')
    status, obj = reply(plugin, "/VolumeDriver.Get", b'{"Name":"nope","x":"' + b"a" * pad + b'"}')
    assert status == 200 and "nope" in obj["Err"]
    ok(plugin, "Create", {"Name": "after413", "Opts": SHARED})
    assert names(plugin) == ["after413"]
    ok(plugin, "Remove", {"Name": "after413"})
    alive(shim)


@pytest.mark.parametrize("endpoint", ["/VolumeDriver.Nope", "/Plugin.Nope", "/", "/VolumeDriver.create",
                                      "/VolumeDriver.Create/../Remove", "/" + "x" * 5000])
def test_unknown_endpoint_is_404(hostile, endpoint):
    plugin, shim, daemon, workdir = hostile.plugin, hostile.shim, hostile.daemon, hostile.workdir
    status, _ = refused(plugin, endpoint, b'{"Name":"v"}')
    assert status == 404
    alive(shim)
    assert names(plugin) == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_non_post_is_405(hostile, method):
    plugin, shim, daemon, workdir = hostile.plugin, hostile.shim, hostile.daemon, hostile.workdir
    for endpoint in ("/VolumeDriver.List", "/VolumeDriver.Remove", "/Plugin.Activate"):
        body = b'{"Name":"v"}' if method != "GET" else b""
        status, _ = refused(plugin, endpoint, body, method=method)
        assert status == 405
    alive(shim)


def test_many_calls_on_one_keepalive_connection(plugin, shim):
    ok(plugin, "Create", {"Name": "ka", "Opts": SHARED})
    sock = plugin.conn.sock
    assert sock is not None
    for i in range(150):
        assert volume(plugin, "ka")["Name"] == "ka"
        if i % 10 == 0:
            # Refused calls do not cost Docker its connection either.
            refused(plugin, "/VolumeDriver.Get", b"")
            refused(plugin, "/VolumeDriver.Get", b"{")
            refused(plugin, "/VolumeDriver.Nope", b"{}")
            mp = ok(plugin, "Mount", {"Name": "ka", "ID": f"k{i}"})["Mountpoint"]
            assert mp
            ok(plugin, "Unmount", {"Name": "ka", "ID": f"k{i}"})
        assert plugin.conn.sock is sock, f"the shim closed the keep-alive connection after {i} calls"
    ok(plugin, "Remove", {"Name": "ka"})
    alive(shim)


def test_pipelined_requests_answered_in_order(shim):
    data = raw_exchange(shim.socket, http_request("/VolumeDriver.Capabilities")
                        + http_request("/VolumeDriver.Get", '{"Name":"nope"}')
                        + http_request("/Plugin.Activate", close=True))
    assert data.count(b"HTTP/1.1 200") == 3, data
    assert data.index(b'"Scope":"local"') < data.index(b"nope") < data.index(b"VolumeDriver\"]")
    alive(shim)


@pytest.mark.parametrize("garbage", [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),   # a TLS ClientHello
    b"\x00" * 4096,
    bytes(range(256)) * 64,
    b"\r\n" * 2000,
    b"GET\r\n\r\n",
    b"POST /VolumeDriver.List HTTP/9.9\r\n\r\n",
    b"POST /VolumeDriver.List HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
    b"POST /VolumeDriver.List HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    b"POST /VolumeDriver.List HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /VolumeDriver.List HTTP/1.1\r\n" + b"X-Big: " + b"h" * 200000 + b"\r\n\r\n",
    b"POST /VolumeDriver.Create HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"Name\":",    # truncated body
    http_request("/VolumeDriver.List", "{}") + b"\x00\xffnot http at all\r\n\r\n",
], ids=["tls", "nuls", "bytes", "crlf", "bare-get", "http99", "neg-length", "huge-length", "bad-chunk",
        "huge-header", "truncated", "valid-then-garbage"])
def test_garbage_bytes_do_not_crash_the_shim(hostile, garbage):
    plugin, shim, daemon, workdir = hostile.plugin, hostile.shim, hostile.daemon, hostile.workdir
    valid_first = garbage.startswith(b"POST /VolumeDriver.List HTTP/1.1\r\nHost")
    # Half-close so that the shim also meets EOF in the middle of whatever it parses;
    # a valid request followed by garbage is sent without it: the garbage ends it.
    data = raw_exchange(shim.socket, garbage, half_close=not valid_first)
    if valid_first:
        assert data.startswith(b"HTTP/1.1 200"), data[:200]
        assert b'"Volumes":[]' in data
    alive(shim)
    # Connections that vanish mid-request are harmless too.
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(shim.socket)
        s.sendall(garbage[: len(garbage) // 2])
    except OSError:
        pass   # the shim may already have answered 400 and closed
    finally:
        s.close()
    alive(shim)
    status, obj = reply(plugin, "/VolumeDriver.List", b"{}")
    assert status == 200 and obj["Err"] == ""


def test_chunked_request_body_is_understood(shim):
    body = b'{"Name":"nope"}'
    req = (b"POST /VolumeDriver.Get HTTP/1.1\r\nHost: p\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
           + b"%x\r\n" % 5 + body[:5] + b"\r\n" + b"%x\r\n" % (len(body) - 5) + body[5:] + b"\r\n0\r\n\r\n")
    data = raw_exchange(shim.socket, req)
    assert data.startswith(b"HTTP/1.1 200"), data[:300]
    assert b"nope" in data.split(b"\r\n\r\n", 1)[1]
    alive(shim)


@pytest.mark.parametrize("version", ["1.1", "1.0"])
def test_request_then_half_close_is_answered(shim, version):
    """A client may send a complete request and then shut down its sending side
    (nc -N, socat, scripts): the request must still be answered."""
    req = (f"POST /VolumeDriver.Capabilities HTTP/{version}\r\nHost: p\r\nContent-Length: 0\r\n\r\n").encode()
    data = raw_exchange(shim.socket, req, half_close=True)
    assert data.startswith(f"HTTP/{version} 200".encode()), f"no answer to a request followed by half-close: {data!r}"
    assert b'"Scope":"local"' in data
    alive(shim)


# --------------------------------------------------------------------------- daemon down / restart

def test_daemon_down_answers_quickly_then_recovers(shim, daemon):
    c = PluginClient(shim.socket)
    c.conn = UnixHTTPConnection(shim.socket, timeout=10)   # a hang fails the test instead of blocking it
    try:
        ok(c, "Create", {"Name": "dd", "Opts": SHARED})
        assert daemon.stop() == 0
        for call, payload in [("Get", {"Name": "dd"}), ("List", {}), ("Create", {"Name": "dd2", "Opts": SHARED}),
                              ("Mount", {"Name": "dd", "ID": "x"}), ("Path", {"Name": "dd"})]:
            message = err(c, call, payload)
            assert daemon.socket in message, f"{call} Err does not name the daemon socket: {message!r}"
        status, obj = reply(c, "/VolumeDriver.Capabilities", b"")
        assert status == 200 and obj["Capabilities"] == {"Scope": "local"}
        alive(shim)

        daemon.start()
        for _ in range(100):
            status, obj = reply(c, "/VolumeDriver.Get", {"Name": "dd"})
            if status == 200 and obj.get("Err") == "":
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"the shim did not recover after the daemon restarted: {obj!r}")
        assert obj["Volume"]["Name"] == "dd"
        assert names(c) == ["dd"]            # the refused Create during the outage created nothing
        ok(c, "Remove", {"Name": "dd"})
    finally:
        c.close()
    alive(shim)


# --------------------------------------------------------------------------- shutdown

def test_sigterm_exits_zero_and_removes_socket(shim):
    c = PluginClient(shim.socket)
    assert reply(c, "/VolumeDriver.List", b"{}")[0] == 200
    c.close()
    assert os.path.exists(shim.socket)
    assert shim.stop(signal.SIGTERM) == 0
    assert not os.path.exists(shim.socket), "cloudstor-shim left its socket file behind"


def test_sigterm_with_idle_keepalive_connection(shim):
    """Docker keeps idle keep-alive connections to the plugin open; SIGTERM must
    still end the shim (a managed plugin is SIGKILLed if it lingers)."""
    c = PluginClient(shim.socket)
    try:
        assert reply(c, "/VolumeDriver.List", b"{}")[0] == 200
        shim.proc.send_signal(signal.SIGTERM)
        try:
            rc = shim.proc.wait(10)   # hang guard: Docker SIGKILLs a plugin after 10 s
        except subprocess.TimeoutExpired:
            pytest.fail("cloudstor-shim did not exit on SIGTERM while a client held an idle keep-alive connection")
        assert rc == 0
        assert not os.path.exists(shim.socket)
    finally:
        c.close()
