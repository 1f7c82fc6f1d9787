"""Shared volumes on AWS (issue 9): EFS file systems found by the stack's tag or
given by id, against moto's EFS through the simulator; each simulated node
mounts "the EFS" at its shared root, here one local directory bind-mounted onto
itself, so every node sees the same files and the daemon finds a mount there."""
import contextlib
import json
import os
import subprocess

import pytest

from aws_fixtures import ec2sim, ec2sim_session  # noqa: F401  (fixtures)
from aws_nodes import CONFLICT, STACK, aws_nodes, stack_hash  # noqa: F401  (fixtures)


@contextlib.contextmanager
def mounted(*paths):
    """Each path made a mount point of its own (as an NFS mount would be), unmounted after."""
    done = []
    try:
        for path in paths:
            os.makedirs(path, exist_ok=True)
            subprocess.run(["mount", "--bind", path, path], check=True)
            done.append(path)
        yield paths
    finally:
        for path in reversed(done):
            subprocess.run(["umount", path], check=False)


def file_system(efs, token, mode="generalPurpose", stack=STACK):
    return efs.create_file_system(
        CreationToken=token, PerformanceMode=mode,
        Tags=[{"Key": "StackID", "Value": stack_hash(stack)}, {"Key": "Name", "Value": token}])["FileSystemId"]


def create(node, name, **options):
    args = ["volume", "create", name, "--json"]
    for key, value in sorted(options.items()):
        args += ["--opt", f"{key}={value}"]
    return json.loads(node.ctl(*args).stdout)


def mount(node, name, mount_id):
    return node.ctl("volume", "mount", name, "--id", mount_id).stdout.strip()


def unmount(node, name, mount_id):
    node.ctl("volume", "unmount", name, "--id", mount_id)


def efs_calls(sim, action):
    return sim.stats()["requests"].get(f"elasticfilesystem:{action}", 0)


def test_the_stacks_efs_is_found_by_tag_and_shared_is_the_default(ec2sim, aws_nodes, workdir):
    efs = ec2sim.client("efs")
    general = file_system(efs, "general")
    maxio = file_system(efs, "maxio", mode="maxIO")
    file_system(efs, "someone-elses", stack="another-stack")
    shared, fast = os.path.join(workdir, "efs"), os.path.join(workdir, "efs-maxio")
    with mounted(shared, fast):
        flags = ["--shared-root", shared, "--shared-maxio-root", fast]
        a = aws_nodes("us-east-1a", extra_args=flags)
        b = aws_nodes("us-east-1b", extra_args=flags)
        try:
            web = create(a, "web")  # no backing: shared, since the stack has an EFS
            assert web["backing"] == "BACKING_SHARED"
            assert web["status"]["cloud_id"] == f"{general}:/web"
            assert create(a, "fast", backing="shared", perfmode="maxio")["status"]["cloud_id"] == f"{maxio}:/fast"
            assert os.path.isdir(os.path.join(fast, "fast"))
            assert sorted(v["name"] for v in b.ls()) == ["fast", "web"]

            ec2sim.admin("DELETE", "stats")
            pa, pb_ = mount(a, "web", "ma"), mount(b, "web", "mb")
            assert pa == pb_ == os.path.join(shared, "web")
            with open(os.path.join(pa, "note"), "w") as f:
                f.write("from us-east-1a\n")
            with open(os.path.join(pb_, "note")) as f:
                assert f.read() == "from us-east-1a\n"
            holders = sorted([a.instance_id, b.instance_id])
            assert a.inspect("web")["status"]["holders"] == holders
            unmount(a, "web", "ma")
            assert f"in use: mounted 1 time(s) on {b.instance_id}" in a.fails(CONFLICT, "volume", "rm", "web")
            unmount(b, "web", "mb")
            # A shared volume costs no EC2 or EFS call to mount and unmount.
            assert {k: v for k, v in ec2sim.stats()["requests"].items() if v} == {}
            b.rm("web")
            b.rm("fast")
            assert a.names() == []
        finally:
            a.stop()
            b.stop()


def test_the_holds_of_a_stopped_instance_are_cleared_from_another_node(ec2sim, aws_nodes, workdir):
    file_system(ec2sim.client("efs"), "general")
    shared = os.path.join(workdir, "efs")
    with mounted(shared):
        a = aws_nodes("us-east-1a", extra_args=["--shared-root", shared])
        b = aws_nodes("us-east-1a", extra_args=["--shared-root", shared])
        try:
            create(a, "data")
            mount(a, "data", "m1")
            assert f"node {a.instance_id} is running" in b.fails(CONFLICT, "volume", "unmount", "--node", a.instance_id, "--all")
            # The instance dies with its daemon: its hold stays until someone clears it.
            a.kill()
            ec2sim.stop_instance(a.instance_id, force=True)
            assert f"in use: mounted 1 time(s) on {a.instance_id}" in b.fails(CONFLICT, "volume", "rm", "data")
            assert b.ctl("volume", "unmount", "--node", a.instance_id, "--all").stdout.split() == ["data"]
            b.rm("data")
        finally:
            b.stop()


def test_efs_given_by_id_is_mounted_by_the_daemon_and_a_failure_says_what_failed(ec2sim, aws_nodes, workdir):
    efs = ec2sim.client("efs")
    given = file_system(efs, "given")
    root = os.path.join(workdir, "efs")
    node = aws_nodes("us-east-1a", start=False, extra_args=["--efs-filesystem-id", given, "--shared-root", root])
    # Nothing is mounted at the root, and this machine cannot mount EFS over NFS.
    with pytest.raises(RuntimeError) as failed:
        node.start()
    message = str(failed.value)
    assert f"cannot mount EFS file system {given} at {root}" in message
    assert f"{given}.efs.us-east-1.amazonaws.com:/" in message
    assert "has no mount target in us-east-1a" in message  # moto's file system has none

    with mounted(root):
        ec2sim.admin("DELETE", "stats")
        node.start()
        try:
            assert create(node, "data")["status"]["cloud_id"] == f"{given}:/data"
            assert efs_calls(ec2sim, "DescribeFileSystems") == 0  # given, not looked for
            node.rm("data")
        finally:
            node.stop()


def test_without_an_efs_shared_volumes_are_refused_and_relocatable_is_the_default(ec2sim, aws_nodes, workdir):
    # A shared root is named (as the managed plugin always does), but no EFS exists:
    # the directory is not taken for one.
    root = os.path.join(workdir, "efs")
    os.makedirs(root)
    node = aws_nodes("us-east-1a", extra_args=["--shared-root", root])
    err = node.fails(CONFLICT, "volume", "create", "s", "-o", "backing=shared")
    assert "--efs-filesystem-id" in err
    made = create(node, "r", size="1")
    assert made["backing"] == "BACKING_RELOCATABLE"
    node.rm("r")
