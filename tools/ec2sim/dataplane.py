"""The EBS data plane, for real: sparse image files, loop devices and the
per-instance by-id symlinks a Nitro instance would see.

  <state>/volumes/vol-….img      one sparse file per volume, its size in GiB
  <state>/snapshots/snap-….img   a sparse copy taken when the snapshot starts
  <devroot>/<instance-id>/nvme-Amazon_Elastic_Block_Store_vol… -> /dev/loopN
"""
import json
import logging
import os
import shutil
import subprocess

log = logging.getLogger("ec2sim.data")
GIB = 1 << 30
LINK_PREFIX = "nvme-Amazon_Elastic_Block_Store_"


def link_name(volume_id):
    return LINK_PREFIX + volume_id.replace("-", "")


def run(*cmd):
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {res.stderr.strip() or res.returncode}")
    return res.stdout


def unescape_mount(path):
    # /proc/*/mountinfo escapes space, tab, newline and backslash as \ooo
    out, i = [], 0
    while i < len(path):
        if path[i] == "\\" and i + 3 < len(path) and path[i + 1:i + 4].isdigit():
            out.append(chr(int(path[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def mounts_of(device):
    """[(pid, mountpoint)] of every mount of `device`, in every mount namespace
    (Docker engines in tests run in their own)."""
    try:
        rdev = os.stat(device).st_rdev
    except OSError:
        return []
    majmin = f"{os.major(rdev)}:{os.minor(rdev)}"
    found, seen = [], set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            ns = os.readlink(f"/proc/{pid}/ns/mnt")
            if ns in seen:
                continue
            with open(f"/proc/{pid}/mountinfo") as f:
                lines = f.readlines()
        except OSError:
            continue
        seen.add(ns)
        for line in lines:
            fields = line.split(" ")
            if len(fields) > 4 and fields[2] == majmin:
                found.append((pid, unescape_mount(fields[4])))
    return found


class DataPlane:
    def __init__(self, state_dir, dev_root):
        self.state_dir = os.path.abspath(state_dir)
        self.vol_dir = os.path.join(self.state_dir, "volumes")
        self.snap_dir = os.path.join(self.state_dir, "snapshots")
        self.dev_root = os.path.abspath(dev_root)
        for d in (self.vol_dir, self.snap_dir, self.dev_root):
            os.makedirs(d, exist_ok=True)
        self.attached = {}      # volume id -> (instance id, link path, loop device)
        self.made_dirs = set()

    # ---- images ---------------------------------------------------------------

    def image(self, volume_id):
        return os.path.join(self.vol_dir, volume_id + ".img")

    def snapshot_image(self, snapshot_id):
        return os.path.join(self.snap_dir, snapshot_id + ".img")

    def create_volume(self, volume_id, size_gib, snapshot_id=None):
        path = self.image(volume_id)
        source = self.snapshot_image(snapshot_id) if snapshot_id else None
        if source and os.path.exists(source):
            run("cp", "--sparse=always", source, path)
        with open(path, "ab") as f:
            if f.tell() < size_gib * GIB:
                f.truncate(size_gib * GIB)
        log.info("image %s (%d GiB%s)", path, size_gib, f" from {snapshot_id}" if source else "")

    def ensure_volume(self, volume_id, size_gib):
        if not os.path.exists(self.image(volume_id)):
            self.create_volume(volume_id, size_gib)

    def resize_volume(self, volume_id, size_gib):
        """A modification's new size: the image grows, and an attached loop device
        shows it at once (as an instance sees an EBS volume grow)."""
        self.ensure_volume(volume_id, size_gib)
        with open(self.image(volume_id), "ab") as f:
            if f.tell() < size_gib * GIB:
                f.truncate(size_gib * GIB)
        loop = self.loop_of(volume_id)
        if loop:
            run("losetup", "-c", loop)
        log.info("image %s grown to %d GiB%s", volume_id, size_gib, f" ({loop})" if loop else "")

    def delete_volume(self, volume_id):
        _unlink(self.image(volume_id))

    def begin_snapshot(self, volume_id, snapshot_id):
        """Copy the volume now: a snapshot holds the data of the instant it starts."""
        src = self.image(volume_id)
        if os.path.exists(src):
            run("cp", "--sparse=always", src, self.snapshot_image(snapshot_id) + ".partial")

    def finish_snapshot(self, snapshot_id):
        partial = self.snapshot_image(snapshot_id) + ".partial"
        if os.path.exists(partial):
            os.rename(partial, self.snapshot_image(snapshot_id))

    def delete_snapshot(self, snapshot_id):
        _unlink(self.snapshot_image(snapshot_id) + ".partial")
        _unlink(self.snapshot_image(snapshot_id))

    # ---- attachments ------------------------------------------------------------

    def instance_dir(self, instance_id):
        path = os.path.join(self.dev_root, instance_id)
        if not os.path.isdir(path):
            os.makedirs(path)
            self.made_dirs.add(path)
        return path

    def attach(self, volume_id, instance_id, size_gib=1):
        self.ensure_volume(volume_id, size_gib)
        loop = run("losetup", "--find", "--show", self.image(volume_id)).strip()
        link = os.path.join(self.instance_dir(instance_id), link_name(volume_id))
        _unlink(link)
        os.symlink(loop, link)
        self.attached[volume_id] = (instance_id, link, loop)
        log.info("attached %s to %s: %s -> %s", volume_id, instance_id, link, loop)
        return loop

    def loop_of(self, volume_id):
        entry = self.attached.get(volume_id)
        return entry[2] if entry else None

    def busy(self, volume_id):
        loop = self.loop_of(volume_id)
        return bool(loop and mounts_of(loop))

    def detach(self, volume_id, force):
        """Release the volume's loop device. Without force, a mounted device stays
        (EC2 leaves such a detach `busy`); with force it is yanked: lazily
        unmounted wherever it is mounted, then released. True when released."""
        entry = self.attached.get(volume_id)
        if entry is None:
            return True
        instance_id, link, loop = entry
        mounts = mounts_of(loop)
        if mounts and not force:
            return False
        _unlink(link)
        for pid, point in sorted(mounts, key=lambda m: -len(m[1])):
            cmd = ["umount", "-l", point]
            try:
                if os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt"):
                    cmd = ["nsenter", "-t", pid, "-m"] + cmd
            except OSError:
                continue
            res = subprocess.run(cmd, capture_output=True, text=True)
            log.info("yanked %s from %s (pid %s ns): %s", loop, point, pid, res.returncode)
        res = subprocess.run(["losetup", "-d", loop], capture_output=True, text=True)
        if res.returncode != 0:
            log.warning("losetup -d %s: %s", loop, res.stderr.strip())
        del self.attached[volume_id]
        log.info("detached %s from %s (%s)", volume_id, instance_id, loop)
        return True

    def release_all(self):
        """Yank every attachment, release leftover loops on our images, remove the
        directories made. Used at reset and shutdown."""
        for volume_id in list(self.attached):
            try:
                self.detach(volume_id, force=True)
            except Exception as e:  # keep releasing the others
                log.warning("releasing %s: %s", volume_id, e)
        self.release_stale()
        for path in sorted(self.made_dirs, reverse=True):
            shutil.rmtree(path, ignore_errors=True)
        self.made_dirs.clear()

    def release_stale(self):
        """Detach loop devices backed by files under our state directory."""
        try:
            out = json.loads(run("losetup", "--json", "--list", "--output", "NAME,BACK-FILE") or "{}")
        except (RuntimeError, ValueError):
            return
        for dev in out.get("loopdevices", []):
            back = (dev.get("back-file") or "").replace(" (deleted)", "")
            if back.startswith(self.state_dir + os.sep):
                subprocess.run(["losetup", "-d", dev["name"]], capture_output=True)
                log.info("released stale %s (%s)", dev["name"], back)

    def wipe(self):
        """Remove every image (after release_all)."""
        for d in (self.vol_dir, self.snap_dir):
            for name in os.listdir(d):
                _unlink(os.path.join(d, name))


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
