"""A Docker Swarm of three engines on one machine, for tests/test_swarm.py.

Each node has its own network namespace (a veth into a bridge in a namespace of
its own, address 198.18.X.N/24), its own mount and UTS namespace (host name
nodeN, a private /run so each engine has its own /run/docker/plugins, a private
/var/lib, empty as on a host where Cloudstor never ran), its own
cgroups (so a node can die whole: everything it started, containers too), its
own dockerd, and its own Cloudstor playing one simulated EC2 instance: either a
plain plugin (cloudstord + cloudstor-shim started in the engine's mount
namespace, serving `/run/docker/plugins/cloudstor:aws.sock`) or the managed
plugin `cloudstor:aws` (`docker plugin create/set/enable`). The root namespace
reaches the bridge at 198.18.X.254, where the simulator and its instance
metadata listen: a managed plugin's host network is the node's, so it could not
reach the root namespace's loopback.

Everything is stopped by pid (engines, daemons) or by the node's cgroup (what a
dead engine leaves), and the namespaces, links and cgroups are removed."""
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from conftest import binary, cleanup_host, read, stop, wait_for_socket
from test_docker import Engine, build_image_tar, etc_docker_kept

DRIVER = "cloudstor:aws"
CGROUP_ROOT = "/sys/fs/cgroup"
CONTROLLERS = ("pids", "freezer")   # pids: who belongs to the node; freezer: stop them all at once
MS = re.compile(r"\bms=(\d+)")
WAITED = re.compile(r"\bwaited_ms=(\d+)")


def ip(*args, check=True):
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


class Network:
    """The nodes' switch: a bridge in a namespace of its own, with a port for the
    root namespace at `host_address` (.254 of a /24 of 198.18.0.0/15, the
    benchmarking range, picked by `tag`, so two test runs on one machine do not
    meet). `tag` (hex) keeps interface names unique (≤ 15 chars)."""

    def __init__(self, tag):
        self.tag = tag
        self.subnet = f"198.18.{int(tag, 16) % 254 + 1}"
        self.host_address = f"{self.subnet}.254"
        self.ns = f"cssw-{tag}"
        self.root_link = f"csr{tag}"

    def start(self):
        ip("netns", "add", self.ns)
        ip("-n", self.ns, "link", "set", "lo", "up")
        ip("-n", self.ns, "link", "add", "br0", "type", "bridge")
        ip("-n", self.ns, "link", "set", "br0", "up")
        ip("link", "add", self.root_link, "type", "veth", "peer", "name", "up0", "netns", self.ns)
        ip("-n", self.ns, "link", "set", "up0", "master", "br0", "up")
        ip("addr", "add", f"{self.host_address}/24", "dev", self.root_link)
        ip("link", "set", self.root_link, "up")
        return self

    def plug(self, node_ns, index):
        """A port for the node namespace `node_ns`, its eth0 at .index of the subnet."""
        port = f"p{index}"
        ip("-n", self.ns, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", node_ns)
        ip("-n", self.ns, "link", "set", port, "master", "br0", "up")
        ip("-n", node_ns, "addr", "add", f"{self.subnet}.{index}/24", "dev", "eth0")
        ip("-n", node_ns, "link", "set", "eth0", "up")
        ip("-n", node_ns, "link", "set", "lo", "up")

    def stop(self):
        ip("link", "del", self.root_link, check=False)
        ip("netns", "del", self.ns, check=False)


class Cgroup:
    """One node's cgroup in the pids and freezer hierarchies (cgroup v1). The
    engine is started with `--cgroup-parent` = this group, so its containers and
    plugins land below it too."""

    def __init__(self, name):
        self.name = name
        self.paths = [os.path.join(CGROUP_ROOT, c, name) for c in CONTROLLERS]

    def create(self):
        for path in self.paths:
            os.makedirs(path, exist_ok=True)
        return self

    def join(self):
        """Moves the calling process in (a preexec_fn: the child joins before exec)."""
        for path in self.paths:
            with open(os.path.join(path, "cgroup.procs"), "w") as f:
                f.write("0")

    def pids(self):
        found = set()
        for directory, _, files in os.walk(self.paths[0]):
            if "cgroup.procs" in files:
                for line in read(os.path.join(directory, "cgroup.procs")).split():
                    found.add(int(line))
        return found

    def _freeze(self, state):
        path = os.path.join(self.paths[1], "freezer.state")
        with open(path, "w") as f:
            f.write(state)
        deadline = time.monotonic() + 10
        while read(path).strip() != state and time.monotonic() < deadline:
            time.sleep(0.01)

    def kill(self):
        """Every process of the node, at once: frozen, SIGKILLed, thawed; waits until none is left."""
        self._freeze("FROZEN")
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._freeze("THAWED")
        deadline = time.monotonic() + 30
        while self.pids():
            if time.monotonic() > deadline:
                raise AssertionError(f"cgroup {self.name} still has processes {sorted(self.pids())}")
            time.sleep(0.05)

    def remove(self):
        for path in self.paths:
            for directory, _, _ in sorted(os.walk(path), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(directory)
                except OSError:
                    pass


INNER = """set -e
hostname {name}
mkdir -p {root}/cg
mount --rbind /sys/fs/cgroup {root}/cg
mount -t sysfs sysfs /sys
mount --rbind {root}/cg /sys/fs/cgroup
umount -l {root}/cg
rmdir {root}/cg
mount --bind {root}/run /run
mount --bind {root}/var-lib /var/lib
exec {dockerd} "$@"
"""


class SwarmNode(Engine):
    """One node: a simulated instance in `zone`, an engine in its own namespaces,
    and its Cloudstor (`plugin`: "plain" or "managed")."""

    def __init__(self, cluster, index, zone):
        super().__init__(os.path.join(cluster.root, f"n{index}"))
        os.makedirs(self.root, exist_ok=True)
        self.cluster = cluster
        self.index = index
        self.name = f"node{index}"
        self.address = f"{cluster.network.subnet}.{index}"
        self.zone = zone
        self.netns = f"csn{cluster.tag}{index}"
        self.cgroup = Cgroup(f"cstest-{cluster.tag}-{index}")
        # Without a cloud (cluster.sim None) a node is only its engine and Cloudstor.
        self.sim_node = cluster.sim.add_node(zone) if cluster.sim else None
        self.instance_id = self.sim_node["instance_id"] if self.sim_node else None
        self.var_lib = os.path.join(self.root, "var-lib")   # the node's /var/lib
        self.state = os.path.join(self.var_lib, "cloudstor")   # the daemon's state directory, made by the daemon
        self.socket = os.path.join(self.state, "cloudstor.sock")
        self.daemon_log = os.path.join(self.root, "cloudstord.log")
        self.shim_log = os.path.join(self.root, "shim.log")
        self.plugin_procs = []
        self.efs_points = []   # the "EFS" mounts in a managed plugin's propagated mount
        self.dead = False

    # ---- the engine --------------------------------------------------------------------

    def start(self):
        for d in ("run", "var-lib", "run/docker/plugins"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        ip("netns", "add", self.netns)
        self.cluster.network.plug(self.netns, self.index)
        self.cgroup.create()
        config = os.path.join(self.root, "daemon.json")
        with open(config, "w") as f:
            f.write("{}\n")
        inner = INNER.format(name=self.name, root=self.root, dockerd="/usr/sbin/dockerd")
        args = ["unshare", "-m", "-u", "--propagation", "private", "--",
                "nsenter", f"--net=/run/netns/{self.netns}", "--",
                "sh", "-c", inner, "dockerd",
                "--config-file", config, "--data-root", self.data_root, "--exec-root", self.exec_root,
                "--pidfile", self.pidfile, "-H", "unix://" + self.sock, "--storage-driver", "vfs",
                "--bridge", "none", "--iptables=false", "--ip-masq=false",
                "--cgroup-parent", "/" + self.cgroup.name]
        if self.cluster.registry is not None:
            args += ["--insecure-registry", self.cluster.registry.address]
        env = dict(os.environ, DOCKER_SERVICE_PREFER_OFFLINE_IMAGE="1")
        with open(self.log, "a") as logf:
            self.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, preexec_fn=self.cgroup.join, start_new_session=True)
        deadline = time.monotonic() + 60
        while not self.ping():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: dockerd did not start ({self.proc.poll()}):\n{read(self.log)[-4000:]}")
            time.sleep(0.1)
        return self

    def in_namespace(self, *args, check=True):
        """Runs a command in the engine's mount namespace (root network namespace)."""
        r = subprocess.run(["nsenter", "-t", str(self.proc.pid), "-m", "--", *args], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise AssertionError(f"{self.name}: {' '.join(args)}: {r.returncode} {r.stderr.strip()}")
        return r

    def mounts(self, prefix):
        """Mount points under prefix in the node's mount namespace."""
        with open(f"/proc/{self.proc.pid}/mountinfo") as f:
            return [line.split(" ")[4] for line in f if line.split(" ")[4].startswith(prefix)]

    # ---- Cloudstor ------------------------------------------------------------------------

    def cloudstor_env(self):
        """What a node's Cloudstor is configured with, the same for both kinds of plugin:
        without a cloud, the local provider with the "NFS export" as its cluster root."""
        sim = self.cluster.sim
        if sim is None:
            return {"CLOUDSTOR_PROVIDER": "local", "CLOUDSTOR_NODE_ID": self.name, "CLOUDSTOR_CLUSTER_ROOT": self.cluster.efs,
                    "CLOUDSTOR_LOG_LEVEL": "debug"}
        return {"CLOUDSTOR_PROVIDER": "aws", "CLOUDSTOR_STACK_ID": self.cluster.stack,
                "AWS_REGION": self.sim_node["region"], "AWS_ENDPOINT_URL": sim.url,
                "AWS_EC2_METADATA_SERVICE_ENDPOINT": self.sim_node["imds_url"],
                "CLOUDSTOR_LOG_LEVEL": "debug", "CLOUDSTOR_SNAPSHOT_INTERVAL": "0"}

    def start_plain_plugin(self):
        """cloudstord and cloudstor-shim in the engine's mount namespace and the node's cgroup."""
        env = dict(os.environ, **self.cloudstor_env(),
                   CLOUDSTOR_STATE_DIR=self.state, CLOUDSTOR_SOCKET=self.socket,
                   CLOUDSTOR_SHARED_ROOT=self.cluster.efs, CLOUDSTOR_SHARED_MAXIO_ROOT=self.cluster.efs_maxio,
                   **({"CLOUDSTOR_DEVICE_DIR": self.sim_node["device_dir"]} if self.sim_node else {}),
                   CLOUDSTOR_MOUNT_WAIT="20s", CLOUDSTOR_TAKEOVER_WAIT="20s",
                   CLOUDSTOR_SHIM_LISTEN=f"/run/docker/plugins/{DRIVER}.sock")
        for exe, log in (("cloudstord", self.daemon_log), ("cloudstor-shim", self.shim_log)):
            with open(log, "a") as logf:
                proc = subprocess.Popen(["nsenter", "-t", str(self.proc.pid), "-m", "--", binary(exe)], env=env,
                                        stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        preexec_fn=self.cgroup.join)
            self.plugin_procs.append(proc)
            if exe == "cloudstord":
                wait_for_socket(self.socket, proc, log, timeout=60)
        wait_for_socket(os.path.join(self.root, "run", "docker", "plugins", f"{DRIVER}.sock"),
                        self.plugin_procs[-1], self.shim_log)

    def install_managed_plugin(self, ref):
        """`docker plugin install` from the registry, as the README says, on a node
        whose /var/lib has no Cloudstor state. Installed disabled, only because the
        "EFS" roots must be mounted in its propagated mount before it starts (as an
        NFS mount of the daemon's would be); its settings are given to install. The
        simulated instance's by-id links are bound at /var/lib/ec2sim-by-id (as
        /dev/disk/by-id is a mount of its own on EC2)."""
        assert not os.path.exists(self.state), f"{self.state} exists before the plugin's first start"
        if self.sim_node:
            os.makedirs(os.path.join(self.var_lib, "ec2sim-by-id"), exist_ok=True)
            # On the node's /var/lib (a mount of its own): what the engine gives the plugin.
            self.in_namespace("mount", "--bind", self.sim_node["device_dir"], "/var/lib/ec2sim-by-id")
            settings = dict(self.cloudstor_env(), CLOUDSTOR_DEVICE_DIR="/host/var/lib/ec2sim-by-id")
        else:
            # Without a cloud the operator mounts the NFS export on the host, under
            # /var/lib, which the plugin sees under /host/var/lib.
            os.makedirs(os.path.join(self.var_lib, "cloudstor-cluster"), exist_ok=True)
            self.in_namespace("mount", "--bind", self.cluster.efs, "/var/lib/cloudstor-cluster")
            settings = dict(self.cloudstor_env(), CLOUDSTOR_CLUSTER_ROOT="/host/var/lib/cloudstor-cluster")
        started = time.monotonic()
        self.run("plugin", "install", "--grant-all-permissions", "--disable", "--alias", DRIVER, ref,
                 *[f"{k}={v}" for k, v in sorted(settings.items())], timeout=300)
        self.install_seconds = time.monotonic() - started
        self.plugin_id = self.run("plugin", "inspect", "--format", "{{.Id}}", DRIVER).stdout.strip()
        self.mount_efs_for_plugin()
        enabled = self.run("plugin", "enable", DRIVER, timeout=120, check=False)
        assert enabled.returncode == 0, (f"{self.name}: docker plugin enable: {enabled.stderr.strip()}\n"
                                         f"--- the plugin's log ---\n{self.cloudstor_log()[-4000:]}")
        wait_for_socket(self.socket, self.proc, self.log, timeout=60)
        listed = self.run("plugin", "ls", "--format", "{{.Name}}|{{.Description}}|{{.Enabled}}").stdout.split("\n")
        assert f"{DRIVER}|cloud storage plugin for Docker|true" in listed, listed
        assert f"plugin={self.plugin_id}" in self.cloudstor_log(), "the plugin's output is not in the engine's log"
        # The node's cgroup holds the plugin too, so that crash() kills it with the node.
        assert any(comm(pid) == "cloudstord" for pid in self.cgroup.pids()), "the plugin is outside the node's cgroup"

    def mount_efs_for_plugin(self):
        """The "EFS" roots mounted in the plugin's propagated mount, as the daemon's own
        NFS mounts would be. The engine binds propagated-mount onto itself at enable
        unless it is a mount point already (which would hide mounts below it), and
        unmounts the plugin's directories at disable."""
        propagated = os.path.join(self.data_root, "plugins", self.plugin_id, "propagated-mount")
        self.in_namespace("mkdir", "-p", propagated)
        self.in_namespace("mount", "--bind", propagated, propagated)
        self.in_namespace("mount", "--make-rshared", propagated)
        self.efs_points = []
        for source, name in ((self.cluster.efs, "shared"), (self.cluster.efs_maxio, "shared-maxio")):
            point = os.path.join(propagated, name)
            self.in_namespace("mkdir", "-p", point)
            self.in_namespace("mount", "--bind", source, point)
            self.efs_points.append(point)

    def restart_cloudstor(self, upgrade_to=None):
        """An upgrade: the managed plugin disabled (-f: its volumes exist), upgraded
        from the registry to `upgrade_to` and enabled again; plain processes stopped
        by pid and started again."""
        if self.plugin_procs:
            for proc in reversed(self.plugin_procs):
                rc = stop(proc, timeout=30)
                assert rc == 0, f"{self.name}: {proc.args[-1]} exited {rc} on SIGTERM"
            self.plugin_procs = []
            self.start_plain_plugin()
            return
        self.run("plugin", "disable", "-f", DRIVER)
        if upgrade_to:
            # Another tag is "another image" to the CLI, which asks, and takes no answer for no.
            self.run("plugin", "upgrade", "--grant-all-permissions", "--skip-remote-check", DRIVER, upgrade_to, timeout=300)
        self.mount_efs_for_plugin()
        enabled = self.run("plugin", "enable", DRIVER, check=False, timeout=120)
        assert enabled.returncode == 0, f"{self.name}: enable: {enabled.stderr}\n{self.cloudstor_log()[-3000:]}"
        wait_for_socket(self.socket, self.proc, self.log, timeout=60)

    def ctl(self, *args, check=True, timeout=120):
        """cloudstorctl against this node's daemon (plain or inside the plugin)."""
        env = dict(os.environ, CLOUDSTOR_SOCKET=self.socket)
        r = subprocess.run([binary("cloudstorctl"), *args], env=env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"{self.name}: cloudstorctl {' '.join(args)}: {r.returncode} {r.stderr.strip()}")
        return r

    def mount_work_ms(self, since=0):
        """Milliseconds this node's Mounts took since `since` (an offset in its log),
        less the time they waited for another node's task to stop and let go."""
        log = self.daemon_log_text()[since:]
        mounted = sum(int(MS.search(line).group(1)) for line in log.splitlines()
                      if "mounted volume" in line and MS.search(line))
        waited = sum(int(WAITED.search(line).group(1)) for line in log.splitlines()
                     if "the other node let go" in line and WAITED.search(line))
        return mounted - waited

    def daemon_log_text(self):
        """cloudstord's log: its file, or the managed plugin's lines of the engine's log."""
        return read(self.daemon_log) if self.plugin_procs else self.cloudstor_log()

    def cloudstor_log(self):
        if self.plugin_procs:
            return read(self.daemon_log) + read(self.shim_log)
        lines = [line for line in read(self.log).splitlines() if "plugin=" in line]
        return "\n".join(lines)

    # ---- stopping --------------------------------------------------------------------------

    def crash(self):
        """The node dies: every process it has (engine, containers, Cloudstor) is killed at once."""
        self.cgroup.kill()
        self.dead = True
        for proc in [self.proc, *self.plugin_procs]:
            proc.wait()

    def remove_managed_plugin(self):
        """disable, then the "EFS" unmounted (else `plugin rm` would delete its files), rm."""
        self.run("plugin", "disable", "-f", DRIVER, check=False)
        for point in reversed(self.efs_points):
            self.in_namespace("umount", "-l", point, check=False)
        self.run("plugin", "rm", "-f", DRIVER, check=False)

    def stop_all(self):
        """Stops Cloudstor and the engine by pid, then whatever is left in the node's cgroup.
        Returns the problems seen (exit codes, leftovers)."""
        problems = []
        if not self.dead:
            rc = self.stop()
            if rc != 0:
                problems.append(f"{self.name}: dockerd exited {rc} on SIGTERM")
            for proc in reversed(self.plugin_procs):
                rc = stop(proc, timeout=30)
                if rc != 0:
                    problems.append(f"{self.name}: {proc.args[-1]} exited {rc} on SIGTERM")
        left = self.cgroup.pids()
        if left and not self.dead:
            problems.append(f"{self.name}: processes left in its cgroup: {sorted(left)}")
        if left:
            self.cgroup.kill()
        self.cgroup.remove()
        ip("netns", "del", self.netns, check=False)
        return problems


def comm(pid):
    return read(f"/proc/{pid}/comm").strip()


def docker_json(node, *args):
    return [json.loads(line) for line in node.run(*args, "--format", "{{json .}}").stdout.splitlines() if line]


class Cluster:
    """The network, the nodes and the swarm (node1 manages; all run tasks).
    `sim` is an aws_fixtures.Sim listening on the network's host address."""

    ZONES = ("us-east-1a", "us-east-1a", "us-east-1b")

    def __init__(self, root, tag, network, sim, plugin, stack, image_tar, image, registry=None):
        self.root, self.tag, self.network, self.sim, self.registry = root, tag, network, sim, registry
        self.plugin, self.stack, self.image_tar, self.image = plugin, stack, image_tar, image
        self.efs = os.path.join(root, "efs")              # "the EFS" every node sees
        self.efs_maxio = os.path.join(root, "efs-maxio")
        self.nodes = []
        self.mounted = []

    @property
    def manager(self):
        return self.nodes[0]

    def node(self, name):
        return next(n for n in self.nodes if n.name == name)

    def live_nodes(self):
        return [n for n in self.nodes if not n.dead]

    def start(self, plugin_dir=None):
        for path in (self.efs, self.efs_maxio):   # mount points of their own, as NFS mounts are
            os.makedirs(path, exist_ok=True)
            subprocess.run(["mount", "--bind", path, path], check=True)
            self.mounted.append(path)
        for i, zone in enumerate(self.ZONES, start=1):
            node = SwarmNode(self, i, zone)
            self.nodes.append(node)
            node.start()
            node.run("import", "-c", "ENV PATH=/bin", self.image_tar, self.image)
        if self.plugin == "managed":
            self.push_plugin(plugin_dir)
        for node in self.nodes:
            if self.plugin == "plain":
                node.start_plain_plugin()
            else:
                node.install_managed_plugin(self.registry.ref("v1"))
            # An engine advertises a plain plugin to the swarm only once it has looked it up.
            node.run("volume", "ls")
        m = self.manager
        m.run("swarm", "init", "--advertise-addr", m.address, "--listen-addr", f"{m.address}:2377")
        token = m.run("swarm", "join-token", "-q", "worker").stdout.strip()
        for node in self.nodes[1:]:
            node.run("swarm", "join", "--token", token, "--advertise-addr", node.address, f"{m.address}:2377")
        deadline = time.monotonic() + 60
        while True:
            ready = {n["Hostname"] for n in docker_json(m, "node", "ls") if n["Status"] == "Ready"}
            if ready == {n.name for n in self.nodes}:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"swarm nodes ready: {ready}")
            time.sleep(0.2)
        for node in self.nodes:
            m.run("node", "update", "--label-add", f"zone={node.zone}", node.name)
        return self

    def push_plugin(self, plugin_dir):
        """`scripts/push-plugin.sh` (what `make plugin-push` runs) through the
        manager's engine: the plugin as v1, and as v2 the same with a release note
        in its rootfs, for the upgrade."""
        upgraded = os.path.join(self.root, "plugin-v2")
        subprocess.run(["cp", "-a", plugin_dir, upgraded], check=True)
        with open(os.path.join(upgraded, "rootfs", "etc", "cloudstor-release"), "w") as f:
            f.write("v2\n")
        env = dict(os.environ, DOCKER_HOST="unix://" + self.manager.sock)
        script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "push-plugin.sh")
        self.push_seconds = {}
        for tag, directory in (("v1", plugin_dir), ("v2", upgraded)):
            started = time.monotonic()
            r = subprocess.run([script, directory, self.registry.ref(tag)], env=env, capture_output=True, text=True, timeout=600)
            assert r.returncode == 0, f"push-plugin.sh {tag}: {r.stdout}\n{r.stderr}\n{read(self.registry.log)[-2000:]}"
            self.push_seconds[tag] = time.monotonic() - started

    def stop(self):
        problems = []
        m = self.manager if self.nodes and not self.nodes[0].dead else None
        if m is not None:
            for service in m.run("service", "ls", "-q", check=False).stdout.split():
                m.run("service", "rm", service, check=False)
        for node in self.live_nodes():
            wait_no_containers(node)
        for node in self.live_nodes():
            names = node.run("volume", "ls", "-q", "--filter", f"driver={DRIVER}", check=False).stdout.split()
            for name in names:
                node.run("volume", "rm", "-f", name, check=False)
        for node in self.live_nodes():
            if self.plugin == "managed":
                node.remove_managed_plugin()
        for node in reversed(self.nodes):
            problems += node.stop_all()
        keep = os.environ.get("CLOUDSTOR_TEST_LOGS")   # a directory to keep the nodes' logs in
        if keep:
            for node in self.nodes:
                with open(os.path.join(keep, f"{self.plugin}-{node.name}.log"), "w") as f:
                    f.write(read(node.log) + read(node.daemon_log) + read(node.shim_log))
        for path in reversed(self.mounted):
            subprocess.run(["umount", path], check=False)
        return problems


def wait_no_containers(node, timeout=60):
    deadline = time.monotonic() + timeout
    while node.run("ps", "-aq", check=False).stdout.split():
        if time.monotonic() > deadline:
            node.remove_all_containers()
            return
        time.sleep(0.2)


@contextlib.contextmanager
def running_cluster(prefix, network, sim, plugin, stack, image, plugin_dir, registry, after_stop=lambda: None):
    """A started Cluster in a new temporary root, with `image` imported on every node;
    at the end stopped, its root removed, `after_stop` run, and then nothing may be left
    behind: namespaces, mounts, loop devices, processes, bad exit codes."""
    root = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    tar = os.path.join(root, "busybox.tar")
    build_image_tar(tar)
    c = Cluster(root, network.tag, network, sim, plugin, stack, tar, image, registry)
    problems = []
    with etc_docker_kept():
        try:
            c.start(plugin_dir)
            yield c
        finally:
            try:
                problems = c.stop()
            finally:
                leaked, loops = cleanup_host(root)
                shutil.rmtree(root, ignore_errors=True)
    after_stop()
    namespaces = ip("netns", "list").stdout.split()
    assert not [ns for ns in namespaces if network.tag in ns and ns != network.ns], f"namespaces left: {namespaces}"
    assert not problems, "\n".join(problems)
    assert not leaked and not loops, f"left behind: mounts {leaked}, loop devices {loops}"
