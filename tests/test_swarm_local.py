"""Several machines without a cloud (issue 30): a real three-node Swarm whose
nodes run cloudstord on the local provider with one cluster root, the "NFS
export" every node mounts (one directory bound into every node's mount
namespace, as tests/swarm.py does for the EFS), with plain plugins and with the
managed plugin (its CLOUDSTOR_CLUSTER_ROOT setting naming the export mounted on
the host under /var/lib). A task's relocatable volume is
an image there and follows the task; a node that dies keeps its holds until an
operator declares it dead, and nothing else ever mounts the image meanwhile."""
import json
import os
import subprocess
import time

import pytest

from swarm import DRIVER, running_cluster
from test_swarm import (COUNTER, IMAGE, activate, assert_counter_continues, counter_lines, drain,  # noqa: F401
                        network, plugin_dir, registry, running_task, tasks, wait_lines)


@pytest.fixture(scope="module", params=["plain", "managed"])
def cluster(request, network, plugin_dir, registry):
    with running_cluster("csl-", network, None, request.param, "", IMAGE, plugin_dir, registry) as c:
        yield c


def image(cluster, name):
    return os.path.join(cluster.efs, ".cloudstor", "relocatable", "images", name)


def test_scope_is_global_and_the_volume_is_one_image_on_the_cluster_root(cluster):
    m = cluster.manager
    m.run("volume", "create", "-d", DRIVER, "--opt", "size=1", "probe")
    for node in cluster.nodes:
        [info] = json.loads(node.run("volume", "inspect", "probe").stdout)
        assert info["Scope"] == "global", info
    assert os.path.getsize(image(cluster, "probe")) == 1 << 30
    m.run("volume", "rm", "probe")
    assert not os.path.exists(image(cluster, "probe"))


def test_the_counter_follows_two_drains_then_waits_for_an_operator_when_its_node_dies(cluster):
    m = cluster.manager
    node2, node3 = cluster.node("node2"), cluster.node("node3")
    m.run("service", "create", "--detach", "--name", "counter", "--replicas", "1", "--stop-grace-period", "2s",
          "--constraint", "node.role==worker", "--env", "NODE={{.Node.Hostname}}",
          "--mount", f"type=volume,volume-driver={DRIVER},source={{{{.Service.Name}}}}-{{{{.Task.Slot}}}}-vol,"
                     "destination=/data,volume-opt=size=1",
          IMAGE, "sh", "-c", COUNTER)
    task, first, cid = running_task(cluster, "counter")
    wait_lines(first, cid, 3)
    other = node3 if first is node2 else node2
    hosts = [first.name]

    # Two drains: first → other → first, the same image each time.
    drain(cluster, first)
    task2, second, cid2 = running_task(cluster, "counter", besides=(task,))
    assert second is other
    hosts.append(second.name)
    lines = wait_lines(second, cid2, len(counter_lines(second, cid2)) + 3)
    assert_counter_continues(lines, hosts)
    activate(cluster, first)
    drain(cluster, second)
    task3, third, cid3 = running_task(cluster, "counter", besides=(task, task2))
    assert third is first
    hosts.append(third.name)
    lines = wait_lines(third, cid3, len(counter_lines(third, cid3)) + 3)
    assert_counter_continues(lines, hosts)
    activate(cluster, second)
    before = counter_lines(third, cid3)

    # The node running it dies whole. The new task on the other worker is refused,
    # naming the dead node, until an operator declares that node dead.
    third.crash()
    deadline = time.monotonic() + 240
    while True:
        errors = [t["Error"] for t in tasks(cluster, "counter") if t["Node"] == second.name and t["Error"]]
        if any(third.name in e and "cloudstorctl volume unmount" in e for e in errors):
            break
        assert time.monotonic() < deadline, f"no refused Mount naming {third.name}: {tasks(cluster, 'counter')}"
        time.sleep(1)
    assert not [t for t in tasks(cluster, "counter") if t["Node"] == second.name and t["CurrentState"].startswith("Running")]
    cleared = second.ctl("volume", "unmount", "--node", third.name, "--all").stdout.split()
    assert cleared == ["counter-1-vol"], cleared
    task4, fourth, cid4 = running_task(cluster, "counter", besides=(task, task2, task3), timeout=240)
    assert fourth is second
    hosts.append(fourth.name)
    lines = wait_lines(fourth, cid4, len(before) + 3)
    assert lines[:len(before)] == before, "lines written before the node died are gone"
    assert_counter_continues(lines, hosts)
    m.run("service", "rm", "counter")
    deadline = time.monotonic() + 60
    while second.run("ps", "-q").stdout.split():
        assert time.monotonic() < deadline
        time.sleep(0.2)
    r = subprocess.run(["e2fsck", "-f", "-n", image(cluster, "counter-1-vol")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
