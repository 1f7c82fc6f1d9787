"""cloudstorctl as an operator uses it, against a real cloudstord: human output,
JSON output, the generic `call`, exit codes per error class, and help."""
import json
import os
import subprocess

import pytest

from conftest import binary, loops_backed_by, mounts_under

INVALID, NOT_FOUND, CONFLICT, UNAVAILABLE, USAGE = 2, 3, 4, 5, 64


def ctl_env(*args, socket=None):
    """cloudstorctl with CLOUDSTOR_SOCKET set to socket (or unset)."""
    env = {k: v for k, v in os.environ.items() if k != "CLOUDSTOR_SOCKET"}
    if socket is not None:
        env["CLOUDSTOR_SOCKET"] = socket
    return subprocess.run([binary("cloudstorctl"), *args], env=env, capture_output=True, text=True, timeout=120)


def fails(daemon, code, *args):
    """Runs cloudstorctl expecting exit code; errors go to stderr only."""
    r = daemon.ctl(*args, check=False)
    assert r.returncode == code, f"cloudstorctl {' '.join(args)}: exit {r.returncode}, wanted {code}\n{r.stderr}"
    assert r.stderr.strip(), "an error without a message"
    if code != USAGE:
        assert r.stdout == "", "an error printed to stdout"
    return r.stderr


def table(text):
    lines = text.rstrip("\n").split("\n")
    header = lines[0].split()
    rows = {}
    for line in lines[1:]:
        cells = line.split()
        rows[cells[0]] = cells
    return header, rows


def test_volume_lifecycle(daemon, workdir):
    r = daemon.ctl("volume", "create", "v1", "-o", "size=1")
    assert r.stdout.strip() == "v1"
    daemon.ctl("volume", "create", "s1", "--opt", "backing=shared")
    assert daemon.ctl("volume", "create", "v1", "-o", "size=1").returncode == 0  # idempotent

    header, rows = table(daemon.ctl("volume", "ls").stdout)
    assert header == ["NAME", "BACKING", "STATE", "MOUNTS", "MOUNTPOINT"]
    assert rows["v1"] == ["v1", "relocatable", "created", "0"]
    assert rows["s1"] == ["s1", "shared", "created", "0"]

    vols = json.loads(daemon.ctl("volume", "ls", "--json").stdout)
    assert isinstance(vols, list)
    assert sorted(v["name"] for v in vols) == ["s1", "v1"]

    info = json.loads(daemon.ctl("volume", "inspect", "v1").stdout)
    assert info["name"] == "v1"
    assert info["backing"] == "BACKING_RELOCATABLE"
    assert info["options"] == {"backing": "relocatable", "size": "1", "ebstype": "standard"}
    assert info["status"]["state"] == "VOLUME_STATE_CREATED"
    assert info["created_at"]

    mp = daemon.ctl("volume", "mount", "v1", "--id", "X").stdout.strip()
    assert os.path.isabs(mp) and os.path.ismount(mp)
    assert daemon.ctl("volume", "mount", "v1", "--id", "X").stdout.strip() == mp
    assert daemon.ctl("volume", "path", "v1").stdout.strip() == mp
    header, rows = table(daemon.ctl("volume", "ls").stdout)
    assert rows["v1"] == ["v1", "relocatable", "mounted", "2", mp]
    info = json.loads(daemon.ctl("volume", "inspect", "v1").stdout)
    assert info["status"]["state"] == "VOLUME_STATE_MOUNTED"
    assert info["status"]["mount_count"] == 2
    assert info["status"]["mountpoint"] == mp
    assert info["status"]["node"] == "test-node"

    daemon.ctl("volume", "unmount", "v1", "--id", "X")
    assert os.path.ismount(mp)
    daemon.ctl("volume", "unmount", "v1", "--id", "X")
    assert not os.path.ismount(mp)
    assert daemon.ctl("volume", "path", "v1").stdout.strip() == ""
    assert loops_backed_by(workdir) == []

    assert daemon.ctl("volume", "rm", "v1").stdout.strip() == "v1"
    daemon.ctl("volume", "remove", "s1")
    assert json.loads(daemon.ctl("volume", "ls", "--json").stdout) == []
    header, rows = table(daemon.ctl("volume", "list").stdout)
    assert header == ["NAME", "BACKING", "STATE", "MOUNTS", "MOUNTPOINT"] and rows == {}


def test_create_json_and_mount_default_id(daemon):
    info = json.loads(daemon.ctl("volume", "create", "j1", "-o", "size=1", "--json").stdout)
    assert info["name"] == "j1" and info["options"]["ebstype"] == "standard"
    mp = daemon.ctl("volume", "mount", "j1").stdout.strip()  # the documented default id
    assert os.path.ismount(mp)
    assert json.loads(daemon.ctl("volume", "inspect", "j1").stdout)["status"]["mount_count"] == 1
    daemon.ctl("volume", "unmount", "j1", "--id", "cloudstorctl")
    assert not os.path.ismount(mp)


def test_health(daemon):
    lines = daemon.ctl("health").stdout.splitlines()
    # The local provider: one zone, "local"; loop devices have no attachment limit.
    assert lines[0] == "SERVING" and lines[1].startswith("node ") and lines[1].endswith(" in local") and len(lines) == 2, lines
    assert daemon.ctl("health", "--service", "cloudstor.v1.Volumes").stdout.strip() == "SERVING"
    assert "nope" in fails(daemon, NOT_FOUND, "health", "--service", "nope")


def test_call(daemon):
    daemon.ctl("volume", "create", "v", "-o", "size=1")
    got = json.loads(daemon.ctl("call", "Get", "--json", '{"name":"v"}').stdout)
    assert got["volume"]["name"] == "v"
    assert got["volume"]["options"]["size"] == "1"

    listed = json.loads(daemon.ctl("call", "cloudstor.v1.Volumes/List").stdout)
    assert [v["name"] for v in listed["volumes"]] == ["v"]
    assert json.loads(daemon.ctl("call", "cloudstor.v1.Volumes.Capabilities").stdout) == {"scope": "local"}
    assert json.loads(daemon.ctl("call", "grpc.health.v1.Health/Check").stdout) == {"status": "SERVING"}

    created = json.loads(daemon.ctl("call", "Create", "--json", '{"name":"s","options":{"backing":"shared"}}').stdout)
    assert created["volume"]["backing"] == "BACKING_SHARED"
    mounted = json.loads(daemon.ctl("call", "Mount", "--json", '{"name":"s","id":"q"}').stdout)
    assert os.path.isdir(mounted["mountpoint"])
    assert json.loads(daemon.ctl("call", "Unmount", "--json", '{"name":"s","id":"q"}').stdout) == {}
    assert json.loads(daemon.ctl("call", "Remove", "--json", '{"name":"s"}').stdout) == {}

    assert "zz" in fails(daemon, NOT_FOUND, "call", "Get", "--json", '{"name":"zz"}')
    assert "JSON" in fails(daemon, INVALID, "call", "Get", "--json", "{bad")
    assert "nom" in fails(daemon, INVALID, "call", "Get", "--json", '{"nom":"x"}')
    fails(daemon, INVALID, "call", "Get", "--json", "[]")
    assert "size" in fails(daemon, INVALID, "call", "Create", "--json", '{"name":"b","options":{"size":"0"}}')
    fails(daemon, USAGE, "call", "NoSuchMethod")


@pytest.mark.parametrize("opts, option", [
    (["-o", "ebstype=gp9", "-o", "size=1"], "ebstype"),
    (["-o", "size=0"], "size"),
    (["-o", "color=red", "-o", "size=1"], "color"),
    (["-o", "backing=shared", "-o", "size=1"], "size"),
    ([], "size"),
])
def test_invalid_option_exits_2(daemon, opts, option):
    assert option in fails(daemon, INVALID, "volume", "create", "bad", *opts)
    assert json.loads(daemon.ctl("volume", "ls", "--json").stdout) == []


def test_invalid_name_exits_2(daemon):
    for name in ["a/b", "../x", "-x", "x" * 256]:
        assert "name" in fails(daemon, INVALID, "volume", "create", "-o", "size=1", "--", name)
    daemon.ctl("volume", "create", "ok", "-o", "size=1")
    assert "id" in fails(daemon, INVALID, "volume", "mount", "ok", "--id", "")
    assert json.loads(daemon.ctl("volume", "ls", "--json").stdout)[0]["name"] == "ok"


def test_not_found_exits_3(daemon):
    for args in [("volume", "inspect", "nope"), ("volume", "rm", "nope"), ("volume", "mount", "nope", "--id", "a"),
                 ("volume", "unmount", "nope", "--id", "a"), ("volume", "path", "nope")]:
        assert "nope" in fails(daemon, NOT_FOUND, *args)


def test_conflicts_exit_4(daemon, workdir):
    daemon.ctl("volume", "create", "c1", "-o", "size=1")
    assert "size" in fails(daemon, CONFLICT, "volume", "create", "c1", "-o", "size=2")
    daemon.ctl("volume", "mount", "c1", "--id", "a")
    assert "c1" in fails(daemon, CONFLICT, "volume", "rm", "c1")
    daemon.ctl("volume", "unmount", "c1", "--id", "a")
    daemon.ctl("volume", "rm", "c1")
    assert mounts_under(workdir) == []


def test_the_local_provider_has_no_snapshots_nor_encryption(daemon):
    """Restores, backups and encryption need a provider that has them: refused clearly, nothing made."""
    err = fails(daemon, INVALID, "volume", "create", "r", "-o", "snapshot=snap-0123456789abcdef0")
    assert "needs a provider with snapshots" in err, err
    err = fails(daemon, INVALID, "volume", "create", "r", "-o", "size=1", "-o", "encrypted=true")
    assert "needs a provider that encrypts volumes" in err, err
    daemon.ctl("volume", "create", "b", "-o", "size=1")
    for args in (("snapshot", "create", "b"), ("snapshot", "ls"), ("snapshot", "rm", "snap-0123456789abcdef0")):
        assert "has no snapshots" in fails(daemon, CONFLICT, *args)
    assert [v["name"] for v in json.loads(daemon.ctl("volume", "ls", "--json").stdout)] == ["b"]
    daemon.ctl("volume", "rm", "b")


def test_modify_grows_a_local_image_and_its_filesystem_at_the_next_mount(daemon):
    """A local volume's image grows at once; a loop device keeps the size it was
    attached with, so its filesystem grows at the next mount. Never smaller; only
    size, ebstype, iops and throughput; never a shared volume."""
    daemon.ctl("volume", "create", "g", "-o", "size=1")
    point = daemon.ctl("volume", "mount", "g", "--id", "a").stdout.strip()
    with open(os.path.join(point, "kept"), "w") as f:
        f.write("kept")
    out = daemon.ctl("volume", "modify", "g", "--size", "2").stdout
    assert out.startswith("g ") and "size=2" in out and "completed" in out, out
    info = json.loads(daemon.ctl("volume", "inspect", "g").stdout)
    assert info["options"]["size"] == "2"
    assert os.path.getsize(info["status"]["cloud_id"]) == 2 << 30
    assert os.statvfs(point).f_blocks * os.statvfs(point).f_frsize < 1.1 * (1 << 30)
    daemon.ctl("volume", "unmount", "g", "--id", "a")
    point = daemon.ctl("volume", "mount", "g", "--id", "a").stdout.strip()
    fs = os.statvfs(point)
    assert fs.f_blocks * fs.f_frsize > 1.8 * (1 << 30), fs
    assert open(os.path.join(point, "kept")).read() == "kept"
    assert json.loads(daemon.ctl("volume", "inspect", "g").stdout)["status"]["modification"] == "completed; filesystem grown"
    assert "never shrinks" in fails(daemon, INVALID, "volume", "modify", "g", "--size", "1")
    assert "does not apply" in fails(daemon, INVALID, "volume", "modify", "g", "--iops", "3000")
    assert "too high for size=2" in fails(daemon, INVALID, "volume", "modify", "g", "--ebstype", "gp3", "--iops", "4000")
    assert "ebstype=gp3" in daemon.ctl("volume", "modify", "g", "--ebstype", "gp3", "--throughput", "500").stdout
    assert "modify changes size, ebstype, iops, throughput" in fails(
        daemon, INVALID, "call", "Modify", "--json", '{"name": "g", "options": {"backing": "shared"}}')
    assert "nothing to modify" in fails(daemon, USAGE, "volume", "modify", "g")
    daemon.ctl("volume", "create", "sh", "-o", "backing=shared")
    assert "is shared" in fails(daemon, CONFLICT, "volume", "modify", "sh", "--size", "2")
    daemon.ctl("volume", "unmount", "g", "--id", "a")
    for name in ("g", "sh"):
        daemon.ctl("volume", "rm", name)


def test_daemon_unreachable_exits_5(daemon, workdir):
    daemon.ctl("health")  # serving (so SIGTERM is handled; see test_grpc's right-after-start test)
    assert daemon.stop() == 0
    for args in [("volume", "ls"), ("volume", "create", "v", "-o", "size=1"), ("health",), ("call", "List")]:
        assert daemon.socket in fails(daemon, UNAVAILABLE, *args)
    missing = os.path.join(workdir, "no", "such.sock")
    r = ctl_env("volume", "ls", "--socket", missing)
    assert r.returncode == UNAVAILABLE and missing in r.stderr


def test_socket_flag_overrides_environment(daemon, workdir):
    bogus = os.path.join(workdir, "bogus.sock")
    r = ctl_env("health", "--socket", daemon.socket, socket=bogus)
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "SERVING", r.stderr
    r = ctl_env("volume", "ls", "--socket", daemon.socket, socket=bogus)
    assert r.returncode == 0, r.stderr


def test_socket_flag_before_the_subcommand(daemon, workdir):
    """The issue's synopsis: cloudstorctl [--socket P] volume create NAME ..."""
    r = ctl_env("--socket", daemon.socket, "volume", "ls", socket=os.path.join(workdir, "bogus.sock"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[0].split() == ["NAME", "BACKING", "STATE", "MOUNTS", "MOUNTPOINT"]


@pytest.mark.parametrize("args", [
    ("bogus",),
    ("volume", "bogus"),
    ("volume", "create"),
    ("volume", "inspect"),
    ("volume", "rm"),
    ("volume", "mount"),
    ("volume", "unmount", "v"),  # --id is required
    ("volume", "path"),
    ("volume", "create", "v", "-o", "size"),  # not key=value
    ("volume", "ls", "--bogus"),
    ("call",),
    ("health", "extra"),
])
def test_usage_errors_exit_64(daemon, args):
    fails(daemon, USAGE, *args)
    assert json.loads(daemon.ctl("volume", "ls", "--json").stdout) == []


@pytest.mark.parametrize("args", [
    (), ("volume",), ("volume", "create"), ("volume", "ls"), ("volume", "inspect"), ("volume", "rm"),
    ("volume", "mount"), ("volume", "unmount"), ("volume", "path"), ("volume", "modify"), ("health",), ("call",),
])
def test_help(args):
    r = ctl_env(*args, "--help")
    assert r.returncode == 0, r.stderr
    assert "USAGE: cloudstorctl" in r.stdout
    if args:
        assert f"USAGE: cloudstorctl {' '.join(args)}" in r.stdout
    r2 = ctl_env("help", *args)
    assert r2.returncode == 0 and r2.stdout == r.stdout
