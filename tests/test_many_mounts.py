"""A Docker host has many mounts (every container adds several): /proc/self/mountinfo
runs past one page there, and a reader that stops at the first page (as Foundation's
`String(contentsOfFile:)` does with /proc files) misses the mounts listed last, which
are the newest: the daemon's own. Here the host gets 150 extra mounts first."""
import os
import subprocess

import pytest

from conftest import Daemon, read


@pytest.fixture
def crowded(workdir):
    made = []
    try:
        for i in range(150):
            point = os.path.join(workdir, "crowd", str(i))
            os.makedirs(point)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "crowd", point], check=True)
            made.append(point)
        with open("/proc/self/mountinfo") as f:
            assert len(f.read()) > 8192, "the mount table is not past two pages"
        yield
    finally:
        for point in reversed(made):
            subprocess.run(["umount", point], check=False)


def test_mount_and_unmount_see_the_daemons_mounts_on_a_crowded_host(crowded, workdir):
    d = Daemon(workdir).start()
    try:
        d.ctl("volume", "create", "v", "-o", "size=1")
        for mount_id in ("a", "b"):
            point = d.ctl("volume", "mount", "v", "--id", mount_id).stdout.strip()
            assert os.path.ismount(point)
            with open(os.path.join(point, mount_id), "w") as f:
                f.write(mount_id)
            d.ctl("volume", "unmount", "v", "--id", mount_id)
            assert not os.path.ismount(point), f"Unmount left {point} mounted:\n{read(d.log)[-2000:]}"
        point = d.ctl("volume", "mount", "v", "--id", "c").stdout.strip()
        assert sorted(e for e in os.listdir(point) if e != "lost+found") == ["a", "b"]
        d.ctl("volume", "unmount", "v", "--id", "c")
        d.ctl("volume", "rm", "v")
    finally:
        rc = d.stop()
    assert rc == 0, read(d.log)
