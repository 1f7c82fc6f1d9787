"""`make install` without the managed plugin (issue 28): the executables, the
systemd units and the environment file, checked as systemd would load them
(`systemd-analyze verify`). The test installs into a directory of its own
(scripts/install.sh, which `make install` runs after the release build) from the
binaries under test."""
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import BIN, ROOT


@pytest.fixture
def prefix():
    root = tempfile.mkdtemp(prefix="csinst-", dir="/tmp")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def install(root, env=None):
    r = subprocess.run([os.path.join(ROOT, "scripts", "install.sh"), BIN, f"{root}/usr", f"{root}/etc"],
                       capture_output=True, text=True, env=dict(os.environ, **(env or {})))
    assert r.returncode == 0, r.stderr
    return r


def verify(*units):
    return subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)


def test_units_load_as_systemd_reads_them_and_start_the_installed_commands(prefix):
    assert "systemctl enable --now cloudstord cloudstor-shim" in install(prefix).stdout
    units = f"{prefix}/usr/lib/systemd/system"
    r = verify(f"{units}/cloudstord.service", f"{units}/cloudstor-shim.service")
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    daemon = open(f"{units}/cloudstord.service").read()
    assert f"ExecStart={prefix}/usr/bin/cloudstord\n" in daemon
    assert f"EnvironmentFile=-{prefix}/etc/cloudstor/cloudstor.env" in daemon
    for line in ("Before=docker.service", "Restart=on-failure", "StateDirectory=cloudstor", "RuntimeDirectory=cloudstor"):
        assert line in daemon, line
    shim = open(f"{units}/cloudstor-shim.service").read()
    assert "Before=docker.service" in shim and "After=cloudstord.service" in shim
    # What ExecStart runs: the links choose the command.
    for name, says in (("cloudstord", "The Cloudstor daemon"), ("cloudstor-shim", "Docker volume plugin endpoint")):
        out = subprocess.run([f"{prefix}/usr/bin/{name}", "--help"], capture_output=True, text=True)
        assert out.returncode == 0 and says in out.stdout, out
    env = open(f"{prefix}/etc/cloudstor/cloudstor.env").read()
    assert "CLOUDSTOR_PROVIDER=local" in env and "#CLOUDSTOR_STACK_ID=" in env
    assert oct(os.stat(f"{prefix}/etc/cloudstor/cloudstor.env").st_mode & 0o777) == "0o600"


def test_verify_catches_a_unit_whose_command_is_missing(prefix):
    """The check above can fail: a unit whose ExecStart is not there is refused."""
    install(prefix)
    unit = f"{prefix}/usr/lib/systemd/system/cloudstord.service"
    os.remove(f"{prefix}/usr/bin/cloudstord")
    r = verify(unit)
    assert r.returncode != 0 and "cloudstord" in r.stderr, r


def test_an_operators_environment_file_is_kept(prefix):
    os.makedirs(f"{prefix}/etc/cloudstor")
    with open(f"{prefix}/etc/cloudstor/cloudstor.env", "w") as f:
        f.write("CLOUDSTOR_PROVIDER=aws\nCLOUDSTOR_STACK_ID=prod\n")
    install(prefix)
    assert open(f"{prefix}/etc/cloudstor/cloudstor.env").read() == "CLOUDSTOR_PROVIDER=aws\nCLOUDSTOR_STACK_ID=prod\n"


def test_destdir_stages_an_install_for_a_package(prefix):
    install(prefix + "/stage-unused", env={"DESTDIR": prefix})
    staged = f"{prefix}{prefix}/stage-unused"
    assert os.path.islink(f"{staged}/usr/bin/cloudstord")
    assert f"ExecStart={prefix}/stage-unused/usr/bin/cloudstord" in open(f"{staged}/usr/lib/systemd/system/cloudstord.service").read()
