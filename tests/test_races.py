"""Races between nodes (issue 27): a stateful property test. Hypothesis drives
three cloudstord daemons, each playing one EC2 instance of the simulator (two in
us-east-1a, one in us-east-1b), through interleavings of create, mount (a mount
in another zone is a move), write, unmount, remove, daemon crash and node death
on a few names, and races (two Mounts at once, a Mount and a Remove at once),
against a model of what Cloudstor promises (README, "Relocatable volumes on AWS";
DESIGN.md, "Relocation"):

- Create is idempotent on every node; other options are refused (exit 4);
- a Mount succeeds unless another running node holds the volume: then it is
  refused naming that node (exit 4, after --takeover-wait), in the same zone or
  across zones; a volume held by a dead node (its instance stopped) is taken over
  or moved with no recovery step; a Mount of a name that does not exist is exit 3;
- Remove is refused (exit 4) while a running node holds the volume, this one
  included; a dead node's hold does not keep it;
- a daemon stopped or killed on a running instance keeps its holds and mounts;
- a node killed at the nth EC2 call of a Mount leaves what the next Mount (any
  node) resumes or undoes: only the dead node's marks and claims may stay.

After every step it checks, with boto3 straight at the simulator and with each
node's own answers:

- no EBS volume has two attachments;
- each name has at most one live volume: exactly one once created, none once removed;
- the data is never lost: each volume carries an append-only log whose every
  line the model knows; every successful Mount reads it back whole;
- holds agree with the nodes' ledgers: the node the model says holds a name counts
  exactly its mounts (`mount_count`), has it mounted, attached and marked
  (`CloudstorHolder`); no other running node counts or mounts it; a holder mark or
  a move claim (`CloudstorMoveClaim`) names only the holder or a dead node, and a
  live volume carries no removal mark (`CloudstorRemoval`) of a running node.

Knobs (environment): CLOUDSTOR_RACE_EXAMPLES (default 6), CLOUDSTOR_RACE_STEPS
(the most steps of one example, default 40), CLOUDSTOR_RACE_NAMES (1 to 3, default
2), CLOUDSTOR_RACE_SEED (default 27: the same runs every time; `random` draws new
ones, `derandomize` uses Hypothesis's own fixed choice), CLOUDSTOR_RACE_SHRINK=1
(shrink a failure to its shortest form: slow, each try is a whole run) and
CLOUDSTOR_RACE_VERBOSE=1 (print each step as it runs). Hypothesis's example
database is off. `make test` runs the short default (about a minute and a half);
`make soak` a long one with new seeds. The figures (examples, steps, nodes,
names, violations …) are printed at the end.

Every rule draws the same kinds of values whatever the state (an index into what
exists, and no preconditions: a rule with nothing to act on does nothing). Races
make two runs of the same draws differ, and Hypothesis refuses a strategy whose
draws depend on what happened (FlakyStrategyDefinition).

A failure prints the steps that made it (`state.mount(name='v0', slot=2)` …).
Keep it as a regression: add its steps to REGRESSIONS below, where every run
replays it first."""
import hashlib
import json
import os
import random
import signal
import subprocess
import time

import pytest

from hypothesis import HealthCheck, Phase, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from aws_fixtures import ec2sim, ec2sim_session  # noqa: F401  (fixtures)
from invariants import live
from aws_nodes import CONFLICT, NOT_FOUND, OK, UNAVAILABLE, AWSNode, stack_volumes, status_field, tags_of

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: the simulated EBS data plane uses loop devices, "
                                       "and the daemon runs mkfs and mount")

GP2 = {"size": 1, "ebstype": "gp2"}
OTHER = {"size": 2, "ebstype": "gp2"}
ZONES = ("us-east-1a", "us-east-1a", "us-east-1b")   # slot → zone
EXAMPLES = int(os.environ.get("CLOUDSTOR_RACE_EXAMPLES", "6"))
STEPS = int(os.environ.get("CLOUDSTOR_RACE_STEPS", "40"))
NAME_COUNT = max(1, min(3, int(os.environ.get("CLOUDSTOR_RACE_NAMES", "2"))))
NAMES = ("v0", "v1", "v2")[:NAME_COUNT]
SEED = os.environ.get("CLOUDSTOR_RACE_SEED", "27")
SHRINK = os.environ.get("CLOUDSTOR_RACE_SHRINK", "") == "1"
TAKEOVER_WAIT = 1      # s: a refusal of a volume held by a running node costs this
MOUNT_WAIT = 60        # s: well above the takeover wait, so a Mount waits for its move's outcome
DETACH_DELAY = 1       # s: unheld volumes stay attached a moment, as on a real node
LOG = "log.txt"
CALM = 3               # steps between two crashes or deaths: most steps race the living
# The mutating EC2 calls: a node that dies during a Mount dies at the nth of these.
MUTATING = ["CreateVolume", "AttachVolume", "DetachVolume", "CreateTags", "DeleteTags", "CreateSnapshot",
            "DeleteVolume", "DeleteSnapshot"]

# Figures of this module's runs, printed by the last test.
FIGURES = {"examples": 0, "steps": 0, "checks": 0, "nodes": 0, "deaths": 0, "crashes": 0, "moves": 0,
           "refusals": 0, "retryable": 0, "stale_gets": 0, "both_refused": 0, "violations": 0, "seconds": 0.0, "replayed": 0}


RULES = {}   # rule → how many times it ran
VERBOSE = os.environ.get("CLOUDSTOR_RACE_VERBOSE", "") == "1"


class Violation(AssertionError):
    pass


def digest(text):
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Vol:
    """The model of one name."""

    def __init__(self):
        self.exists = False
        self.zone = None          # where its live volume is; None: unknown (a node died mid-move)
        self.lines = []           # the log, as written and fsynced
        self.mounts = {}          # slot → [mount ids] held on that slot's running node
        self.dead = set()         # instance ids of dead nodes that held it, or died mounting it

    def content(self):
        return "".join(self.lines)

    def holder_slot(self):
        held = [slot for slot, ids in self.mounts.items() if ids]
        assert len(held) <= 1, f"the model has two holders: {held}"
        return held[0] if held else None


class World:
    """One example's nodes, on the freshly reset simulator."""

    def __init__(self, sim, root):
        self.sim = sim
        self.root = root
        self.ec2 = sim.client(attempts=5)
        self.nodes = [None, None, None]   # slot → its running AWSNode
        self.all = []                     # every node ever started, dead ones too
        self.dead_ids = set()
        for slot in range(3):
            self.nodes[slot] = self.new_node(slot)

    def new_node(self, slot):
        node = AWSNode(self.sim, self.sim.add_node(ZONES[slot]), os.path.join(self.root, f"n{len(self.all)}"),
                       takeover_wait=TAKEOVER_WAIT, mount_wait=MOUNT_WAIT, detach_delay=DETACH_DELAY)
        self.all.append(node)
        FIGURES["nodes"] += 1
        return node.start()

    def close(self):
        problems = []
        for node in self.nodes:
            if node is not None and node.running():
                node.release_holds()
                rc = node.stop()
                if rc != 0:
                    problems.append(f"{node.instance_id}: exit {rc} on SIGTERM\n{node.logtext()}")
        for node in self.all:
            if node.proc is not None and node.proc.poll() is None:
                node.kill()
            # a dead node's mounts stay in the kernel, as on a machine that lost power
            subprocess.run(["umount", "-l", "-R", os.path.join(node.state, "mnt")], capture_output=True)
            for name in NAMES:
                subprocess.run(["umount", "-l", node.mountpoint(name)], capture_output=True)
        return problems


class RaceMachine(RuleBasedStateMachine):
    """The model: who holds what, what each volume holds, which nodes died."""
    sim = None         # set by the test
    root = None

    def __init__(self):
        super().__init__()
        FIGURES["examples"] += 1
        self.index = FIGURES["examples"]
        self.sim.reset()
        self.sim.config(delay=0.0, busy_if_mounted=True, seed=1)
        self.world = World(self.sim, os.path.join(self.root, f"e{self.index}"))
        self.vols = {name: Vol() for name in NAMES}
        self.counter = 0
        self.trace = []       # the steps of this example, for the report
        self.failed = False
        self.calm = 0         # steps since the last crash or death
        self.replaying = False  # a kept regression runs its steps as written

    # ---- helpers ----------------------------------------------------------------------

    def node(self, slot):
        return self.world.nodes[slot]

    def note(self, text):
        self.trace.append(text)
        self.calm += 1
        FIGURES["steps"] += 1
        RULES[text.split("(")[0]] = RULES.get(text.split("(")[0], 0) + 1
        if VERBOSE:
            print(f"[e{self.index} {time.strftime('%H:%M:%S')}] {text}", flush=True)

    def fail(self, what):
        FIGURES["violations"] += 1
        self.failed = True
        # The nodes in the slots now, and the last one that died: who did what.
        shown = list(self.world.nodes) + [n for n in self.world.all if n not in self.world.nodes][-1:]
        logs = "\n".join(f"--- slot {self.world.nodes.index(n) if n in self.world.nodes else '-'}: {n.instance_id} {n.zone} "
                         f"({'running' if n.running() else 'dead'}) ---\n{n.logtext(6000)}" for n in shown)
        raise Violation(f"{what}\nsteps so far: {self.trace}\n{logs}")

    def new_id(self, slot):
        self.counter += 1
        return f"m{self.counter}-s{slot}"

    def read_log(self, point):
        path = os.path.join(point, LOG)
        if not os.path.exists(path):
            return ""
        with open(path) as f:
            return f.read()

    def mount_retrying(self, node, name, mount_id, timeout=120):
        """A Mount as Docker sends it: again after each retryable answer (exit 5);
        the last answer."""
        deadline = time.monotonic() + timeout
        while True:
            r = node.ctl("volume", "mount", name, "--id", mount_id, check=False)
            if r.returncode != UNAVAILABLE or time.monotonic() > deadline:
                return r
            FIGURES["retryable"] += 1
            self.trace.append(f"  (retryable: {r.stderr.strip()[:160]})")
            time.sleep(0.5)

    def expect(self, r, code, words=(), what=""):
        if r.returncode != code or not all(w in (r.stderr + r.stdout) for w in words):
            self.fail(f"{what}: exit {r.returncode} ({r.stderr.strip() or r.stdout.strip()}), wanted {code}"
                      f"{' naming ' + repr(words) if words else ''}")

    def take_dead_holds(self, name):
        """A successful Mount elsewhere takes the volume from dead nodes."""
        self.vols[name].dead.clear()

    # ---- rules ------------------------------------------------------------------------

    @initialize(slots=st.lists(st.integers(0, 2), min_size=len(NAMES), max_size=len(NAMES)))
    def create_the_names(self, slots):
        """Most runs start with every name made (on nodes drawn at random), so that
        the steps after it have something to race on."""
        for name, slot in zip(NAMES, slots):
            self.create(name, slot)

    @rule(name=st.sampled_from(NAMES), slot=st.integers(0, 2))
    def create(self, name, slot):
        node, vol = self.node(slot), self.vols[name]
        self.note(f"create({name!r}, {slot})")
        r = node.create(name, check=False, **GP2)
        self.expect(r, OK, what=f"create {name} on slot {slot} ({'exists' if vol.exists else 'new'})")
        if not vol.exists:
            vol.exists, vol.zone, vol.lines, vol.mounts, vol.dead = True, node.zone, [], {}, set()

    @rule(name=st.sampled_from(NAMES), slot=st.integers(0, 2))
    def create_with_other_options(self, name, slot):
        if not self.vols[name].exists:
            return
        self.note(f"create_with_other_options({name!r}, {slot})")
        r = self.node(slot).create(name, check=False, **OTHER)
        self.expect(r, CONFLICT, ["exists with options"], what=f"create {name} with other options")

    @rule(name=st.sampled_from(NAMES), slot=st.integers(0, 2))
    def mount(self, name, slot):
        node, vol = self.node(slot), self.vols[name]
        mount_id = self.new_id(slot)
        holder = vol.holder_slot()
        self.note(f"mount({name!r}, {slot})")
        started = time.monotonic()
        r = self.mount_retrying(node, name, mount_id)
        if not vol.exists:
            return self.expect(r, NOT_FOUND, ["no such volume"], what=f"mount of {name}, never created or removed")
        if holder is not None and holder != slot:
            FIGURES["refusals"] += 1
            other = self.node(holder)
            self.expect(r, CONFLICT, [other.instance_id], what=f"mount of {name} on slot {slot} while slot {holder} "
                        f"({other.instance_id}, running) holds it")
            if not os.path.ismount(other.mountpoint(name)):
                self.fail(f"the refused mount of {name} took it from {other.instance_id}")
            if os.path.ismount(node.mountpoint(name)):
                self.fail(f"refused, yet {name} is mounted on slot {slot}")
            return
        self.expect(r, OK, what=f"mount of {name} on slot {slot} (held by: {holder}, dead holders {vol.dead})")
        point = r.stdout.strip()
        if point != node.mountpoint(name) or not os.path.ismount(point):
            self.fail(f"mount of {name} answered {point!r}, not a mount point")
        node.holds.append((name, mount_id))
        if vol.zone is not None and vol.zone != node.zone:
            FIGURES["moves"] += 1
            self.trace.append(f"  (moved {vol.zone} → {node.zone} in {time.monotonic() - started:.1f}s)")
        vol.zone = node.zone
        vol.mounts.setdefault(slot, []).append(mount_id)
        self.take_dead_holds(name)
        got = self.read_log(point)
        if got != vol.content():
            self.fail(f"data of {name} on slot {slot}: {len(got)} bytes (sha {digest(got)}), wanted "
                      f"{len(vol.content())} (sha {digest(vol.content())}); lines: got {got.splitlines()[-3:]}, "
                      f"wanted {vol.lines[-3:]}")

    @rule(pick=st.integers(0, 1 << 16), pick2=st.integers(0, 1 << 16))
    def move(self, pick, pick2):
        """A Mount in the other zone of a volume no running node holds."""
        free = self.free()
        if not free:
            return
        name = free[pick % len(free)]
        zone = self.vols[name].zone
        slots = [slot for slot in range(3) if ZONES[slot] != zone] if zone else [0, 1, 2]
        self.mount(name, slots[pick2 % len(slots)])

    def free(self):
        """The names that exist and that no running node holds."""
        return sorted(name for name, v in self.vols.items() if v.exists and v.holder_slot() is None)

    def held(self):
        """(name, slot, mount id) of every hold the model knows."""
        return sorted((name, slot, mid) for name, v in self.vols.items() for slot, ids in v.mounts.items() for mid in ids)

    def at_once(self, calls):
        """cloudstorctl calls started together on their nodes; their (exit, stdout, stderr)."""
        procs = [node.ctl_popen(*args) for node, args in calls]
        out = []
        for p in procs:
            try:
                o, e = p.communicate(timeout=180)
            except subprocess.TimeoutExpired:
                p.kill()
                o, e = p.communicate()
                self.fail(f"a call of a race hung: {p.args}")
            out.append((p.returncode, o, e))
        return out

    def won(self, name, slot, mount_id, point):
        node, vol = self.node(slot), self.vols[name]
        if point != node.mountpoint(name) or not os.path.ismount(point):
            self.fail(f"mount of {name} on slot {slot} answered {point!r}, not a mount point")
        node.holds.append((name, mount_id))
        if vol.zone is not None and vol.zone != node.zone:
            FIGURES["moves"] += 1
        vol.zone = node.zone
        vol.mounts.setdefault(slot, []).append(mount_id)
        self.take_dead_holds(name)
        got = self.read_log(point)
        if got != vol.content():
            self.fail(f"data of {name} on slot {slot} after a race: sha {digest(got)}, wanted {digest(vol.content())}")

    @rule(pick=st.integers(0, 1 << 16), pair=st.sampled_from([(0, 1), (0, 2), (1, 2)]))
    def two_mounts_at_once(self, pick, pair):
        """Two nodes mount a volume no one holds at the same instant (same zone, or
        one of them across zones): never both; the loser holds nothing."""
        free = self.free()
        if free:
            self.two_mounts(free[pick % len(free)], pair)

    def two_mounts(self, name, pair):
        first, second = pair
        self.note(f"two_mounts(name={name!r}, pair=({first}, {second}))")
        ids = {first: self.new_id(first), second: self.new_id(second)}
        results = self.at_once([(self.node(s), ("volume", "mount", name, "--id", ids[s])) for s in (first, second)])
        answers = dict(zip((first, second), results))
        self.trace.append(f"  answers: { {s: (rc, e.strip()[:120]) for s, (rc, _, e) in answers.items()} }")
        winners = [s for s, (rc, _, _) in answers.items() if rc == OK]
        if len(winners) > 1:
            self.fail(f"two mounts of {name} at once both succeeded: slots {winners}")
        for s, (rc, _, e) in answers.items():
            if rc not in (OK, CONFLICT, UNAVAILABLE):
                self.fail(f"mount of {name} on slot {s} in a race: exit {rc}: {e.strip()}")
        if not winners:
            FIGURES["both_refused"] += 1
            return
        self.won(name, winners[0], ids[winners[0]], answers[winners[0]][1].strip())

    @rule(pick=st.integers(0, 1 << 16), pair=st.sampled_from([(0, 1), (1, 0), (0, 2), (2, 0), (1, 2), (2, 1)]))
    def mount_and_remove_at_once(self, pick, pair):
        """A Mount on one node and a Remove on another at the same instant: the
        volume is either removed (the Mount finds nothing) or mounted (the Remove is
        refused), never both."""
        free = self.free()
        if free:
            self.mount_and_remove(free[pick % len(free)], pair)

    def mount_and_remove(self, name, pair):
        mounter, remover = pair
        self.note(f"mount_and_remove(name={name!r}, pair=({mounter}, {remover}))")
        mount_id = self.new_id(mounter)
        (m_rc, m_out, m_err), (r_rc, _, r_err) = self.at_once([
            (self.node(mounter), ("volume", "mount", name, "--id", mount_id)),
            (self.node(remover), ("volume", "rm", name))])
        self.trace.append(f"  mount: {m_rc} {m_err.strip()[:120]}; rm: {r_rc} {r_err.strip()[:120]}")
        if m_rc == OK and r_rc == OK:
            self.fail(f"{name} was mounted on slot {mounter} and removed on slot {remover} at once")
        if m_rc == OK:
            self.won(name, mounter, mount_id, m_out.strip())
        elif r_rc == OK:
            self.vols[name] = Vol()
        else:
            FIGURES["both_refused"] += 1

    @rule(pick=st.integers(0, 1 << 16))
    def mount_again_same_id(self, pick):
        """Docker may send a Mount with an id it sent before (`docker cp`): counted."""
        held = self.held()
        if not held:
            return
        name, slot, mount_id = held[pick % len(held)]
        node = self.node(slot)
        self.note(f"mount_again_same_id({name!r}, {slot}, {mount_id!r})")
        r = node.ctl("volume", "mount", name, "--id", mount_id, check=False)
        self.expect(r, OK, what=f"second mount of {name} by {mount_id} on slot {slot}")
        node.holds.append((name, mount_id))
        self.vols[name].mounts[slot].append(mount_id)

    @rule(pick=st.integers(0, 1 << 16))
    def write(self, pick):
        held = sorted({(name, slot) for name, slot, _ in self.held()})
        if not held:
            return
        name, slot = held[pick % len(held)]
        node, vol = self.node(slot), self.vols[name]
        self.note(f"write({name!r}, {slot})")
        line = f"{len(vol.lines)} {node.instance_id} {node.zone} {random.getrandbits(64):016x}\n"
        path = os.path.join(node.mountpoint(name), LOG)
        with open(path, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        fd = os.open(node.mountpoint(name), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        vol.lines.append(line)

    @rule(pick=st.integers(0, 1 << 16))
    def unmount(self, pick):
        held = self.held()
        if not held:
            return
        name, slot, mount_id = held[pick % len(held)]
        node, vol = self.node(slot), self.vols[name]
        self.note(f"unmount({name!r}, {slot}, {mount_id!r})")
        r = node.ctl("volume", "unmount", name, "--id", mount_id, check=False)
        self.expect(r, OK, what=f"unmount of {name} by {mount_id} on slot {slot}")
        node.holds.remove((name, mount_id))
        vol.mounts[slot].remove(mount_id)
        if not vol.mounts[slot] and os.path.ismount(node.mountpoint(name)):
            self.fail(f"the last unmount of {name} on slot {slot} left it mounted")

    @rule(name=st.sampled_from(NAMES), slot=st.integers(0, 2))
    def remove(self, name, slot):
        node, vol = self.node(slot), self.vols[name]
        holder = vol.holder_slot()
        self.note(f"remove({name!r}, {slot})")
        r = node.ctl("volume", "rm", name, check=False)
        if not vol.exists:
            return self.expect(r, NOT_FOUND, ["no such volume"], what=f"remove of {name}, never created or removed")
        if holder is not None:
            FIGURES["refusals"] += 1
            words = ["in use"] + ([] if holder == slot else [self.node(holder).instance_id])
            return self.expect(r, CONFLICT, words, what=f"remove of {name} on slot {slot} while slot {holder} holds it")
        self.expect(r, OK, what=f"remove of {name} on slot {slot} (dead holders {vol.dead})")
        self.vols[name] = Vol()

    def disrupted(self):
        self.calm = 0

    @rule(slot=st.integers(0, 2), hard=st.booleans())
    def restart_daemon(self, slot, hard):
        """The daemon stops (SIGTERM) or crashes (SIGKILL) and starts again on the
        same instance: the holds of this boot stay, mounted (README: stopping the
        daemon unmounts nothing; its next start mounts what its catalogue holds)."""
        if self.calm < CALM:
            return
        node = self.node(slot)
        self.note(f"restart_daemon({slot}, hard={hard})")
        self.disrupted()
        FIGURES["crashes"] += 1
        rc = node.stop(signal.SIGKILL if hard else signal.SIGTERM)
        if not hard and rc != 0:
            self.fail(f"slot {slot} exited {rc} on SIGTERM")
        node.start()

    @rule(slot=st.integers(0, 2))
    def node_dies(self, slot):
        """The instance dies with its daemon (SIGKILL, then the instance stops); a
        fresh node of its zone takes its place. What it held is held by no one."""
        if self.calm < CALM and not self.replaying:
            return
        node = self.node(slot)
        self.note(f"node_dies({slot})")
        self.disrupted()
        FIGURES["deaths"] += 1
        node.kill()
        self.sim.stop_instance(node.instance_id, force=True)
        self.world.dead_ids.add(node.instance_id)
        for vol in self.vols.values():
            if vol.mounts.pop(slot, None):
                vol.dead.add(node.instance_id)
        node.holds = []
        self.world.nodes[slot] = self.world.new_node(slot)

    @rule(name=st.sampled_from(NAMES), slot=st.integers(0, 2), nth=st.integers(1, 8),
          phase=st.sampled_from(["before", "after"]))
    def node_dies_during_mount(self, name, slot, nth, phase):
        """The node dies at its nth mutating EC2 call of a Mount (a move, a
        takeover, a first attach): the call is lost before or after it took effect.
        Its instance stops and a fresh node of its zone takes its place."""
        vol = self.vols[name]
        if self.calm < CALM or not vol.exists or vol.holder_slot() not in (None, slot):
            return
        node = self.node(slot)
        self.note(f"node_dies_during_mount({name!r}, {slot}, {nth}, {phase!r})")
        self.disrupted()
        rule_id = self.sim.admin("POST", "faults", {"type": "kill", "pid": node.proc.pid, "actions": MUTATING,
                                                     "nth": nth, "phase": phase, "signal": "KILL"})["ids"][0]
        mount_id = self.new_id(slot)
        r = node.ctl("volume", "mount", name, "--id", mount_id, check=False)
        fired = any(x["id"] == rule_id and x.get("fired") for x in self.sim.admin("GET", "faults")["rules"])
        self.sim.admin("DELETE", f"faults/{rule_id}")
        if not fired:
            # the Mount needed fewer calls: it is an ordinary one
            self.trace.append(f"  (no kill: the mount made fewer than {nth} calls; exit {r.returncode})")
            if r.returncode == UNAVAILABLE:
                r = self.mount_retrying(node, name, mount_id)
            self.expect(r, OK, what=f"mount of {name} on slot {slot}")
            node.holds.append((name, mount_id))
            vol.zone = node.zone
            vol.mounts.setdefault(slot, []).append(mount_id)
            self.take_dead_holds(name)
            if self.read_log(r.stdout.strip()) != vol.content():
                self.fail(f"data of {name} on slot {slot} differs from the model")
            return
        FIGURES["deaths"] += 1
        try:
            node.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.fail(f"the kill rule fired but slot {slot}'s daemon still runs")
        self.sim.stop_instance(node.instance_id, force=True)
        self.world.dead_ids.add(node.instance_id)
        for v in self.vols.values():
            if v.mounts.pop(slot, None):
                v.dead.add(node.instance_id)
        vol.dead.add(node.instance_id)
        vol.zone = None          # the move may or may not have committed
        node.holds = []
        self.world.nodes[slot] = self.world.new_node(slot)

    def release_all(self, name):
        """Not a rule: replayed cases unmount every hold of a name with it."""
        self.note(f"release_all({name!r})")
        vol = self.vols[name]
        for slot in list(vol.mounts):
            for mount_id in list(vol.mounts[slot]):
                self.expect(self.node(slot).ctl("volume", "unmount", name, "--id", mount_id, check=False), OK,
                            what=f"unmount of {name} by {mount_id} on slot {slot}")
                self.node(slot).holds.remove((name, mount_id))
            vol.mounts.pop(slot)

    def pause(self, seconds):
        """Not a rule: replayed cases wait out a cache's lifetime with it."""
        self.note(f"pause({seconds})")
        time.sleep(seconds)

    # ---- invariants -----------------------------------------------------------------

    @invariant()
    def consistent(self):
        if not getattr(self, "world", None):
            return
        FIGURES["checks"] += 1
        ec2 = self.world.ec2
        volumes = stack_volumes(ec2)
        by_name = {}
        for v in volumes:
            atts = v.get("Attachments") or []
            if len(atts) > 1:
                self.fail(f"{v['VolumeId']} has two attachments: {atts}")
            by_name.setdefault(tags_of(v).get("CloudstorVolume"), []).append(v)
        running = {slot: n for slot, n in enumerate(self.world.nodes)}
        running_ids = {n.instance_id: slot for slot, n in running.items()}
        for name, vol in self.vols.items():
            mine = live(by_name.get(name, []))
            want = 1 if vol.exists else 0
            if len(mine) != want:
                self.fail(f"{name}: {len(mine)} live volumes, wanted {want}: "
                          f"{[(v['VolumeId'], v['AvailabilityZone'], v['State'], tags_of(v)) for v in by_name.get(name, [])]}")
            holder = vol.holder_slot()
            if mine:
                v = mine[0]
                tags = tags_of(v)
                atts = [(a["InstanceId"], a["State"]) for a in v.get("Attachments") or []]
                mark = tags.get("CloudstorHolder")
                claim = tags.get("CloudstorMoveClaim")
                if vol.zone is not None and v["AvailabilityZone"] != vol.zone:
                    self.fail(f"{name} is in {v['AvailabilityZone']}, the model says {vol.zone}")
                if holder is not None:
                    node = running[holder]
                    if mark != node.instance_id:
                        self.fail(f"{name} is held on slot {holder} ({node.instance_id}) but marked {mark!r}")
                    if atts != [(node.instance_id, "attached")]:
                        self.fail(f"{name} is held on slot {holder} ({node.instance_id}) but attached {atts}")
                else:
                    if mark is not None and mark not in vol.dead:
                        self.fail(f"{name} is held by no one, yet marked held by {mark} "
                                  f"({'running' if mark in running_ids else 'not a dead holder'})")
                    for inst, state in atts:
                        if inst not in running_ids and inst not in vol.dead:
                            self.fail(f"{name} is attached to {inst} ({state}), neither running nor a dead holder")
                if claim is not None and claim.split("/")[0] not in vol.dead:
                    self.fail(f"{name} carries the move claim {claim} of a node that is not a dead mover")
                removal = tags.get("CloudstorRemoval")
                if removal is not None and removal.split("/")[0] in running_ids:
                    self.fail(f"{name} lives on, marked as being removed by running {removal}")
            for slot, node in running.items():
                count = len(vol.mounts.get(slot, []))
                mounted = os.path.ismount(node.mountpoint(name))
                if mounted != (count > 0):
                    self.fail(f"{name} on slot {slot} ({node.instance_id}): mounted {mounted}, the model holds {count}")
                r = node.ctl("volume", "inspect", name, check=False)
                if r.returncode == NOT_FOUND:
                    # A name a node found missing is remembered so for 2 s (DESIGN.md: a Get
                    # is answered from the cache); a Mount or Remove always asks EC2.
                    if vol.exists:
                        FIGURES["stale_gets"] += 1
                    continue
                if r.returncode != OK:
                    self.fail(f"inspect {name} on slot {slot}: exit {r.returncode}: {r.stderr.strip()}")
                info = json.loads(r.stdout)
                got = int(status_field(info, "mount_count", 0))
                if got != count:
                    self.fail(f"slot {slot} ({node.instance_id}) counts {got} holds on {name}, the model {count}: {info}")

    def teardown(self):
        """Every name's data read back once more on a running node (a last move for
        some), every orphan pruned, and nothing left marked or claimed."""
        world = getattr(self, "world", None)
        if world is None:
            return
        try:
            if not self.failed:
                self.final_check()
        finally:
            problems = world.close()
            self.sim.admin("DELETE", "faults")
            if problems and not self.failed:
                raise Violation("\n".join(problems))

    def final_check(self):
        for name, vol in self.vols.items():
            for slot in list(vol.mounts):
                for mount_id in list(vol.mounts[slot]):
                    self.node(slot).ctl("volume", "unmount", name, "--id", mount_id)
                    self.node(slot).holds.remove((name, mount_id))
                vol.mounts.pop(slot)
            if not vol.exists:
                continue
            node = self.node(random.Random(name).randrange(3))
            self.trace.append(f"final read of {name} on {node.instance_id}")
            r = self.mount_retrying(node, name, "final")
            self.expect(r, OK, what=f"final mount of {name}")
            got = self.read_log(r.stdout.strip())
            node.ctl("volume", "unmount", name, "--id", "final")
            if got != vol.content():
                self.fail(f"final data of {name}: sha {digest(got)}, wanted {digest(vol.content())}")
        node = self.node(0)
        node.ctl("volume", "prune", "--yes")
        left = node.ls("--orphans")
        if left:
            self.fail(f"orphans left after a prune: {left}")
        for v in stack_volumes(self.world.ec2):
            tags = tags_of(v)
            for mark in ("CloudstorHolder", "CloudstorMoveClaim", "CloudstorRemoval"):
                if mark in tags:
                    self.fail(f"{v['VolumeId']} ({tags.get('CloudstorVolume')}) still carries {mark}={tags[mark]}")


# ---- failures found, kept: each is replayed, step by step, before the random runs --------------
# A step is (method, {arguments}): a rule, or the method a rule calls with what it picked
# (two_mounts, mount_and_remove), as the failure's printed steps name them.

REGRESSIONS = {
    # Found 2026-12-06 (seed 27): a node that once saw a name answers Create from its
    # cache after another node removed the volume: "created", yet no EBS volume exists,
    # and the next Mount says "no such volume". Slot 1 learns of v1 by a Create with
    # other options (refused, as it must be) once its 2 s negative cache is over.
    "create-after-remove-elsewhere": [
        ("create", {"name": "v1", "slot": 2}),
        ("pause", {"seconds": 2.2}),
        ("create_with_other_options", {"name": "v1", "slot": 1}),
        ("remove", {"name": "v1", "slot": 0}),
        ("create", {"name": "v1", "slot": 1}),
        ("mount", {"name": "v1", "slot": 1}),
    ],
    # Found 2026-12-06 (soak, random seed): two Mounts at once of a volume of
    # us-east-1a no one holds, one in each zone. The us-east-1b node moved it and
    # deleted the source; the us-east-1a node, which had read the name's record
    # before the commit, answered exit 3 "volume v2: its storage vol-… is gone", a
    # NOT_FOUND for a volume that exists (Docker shows "no such volume" and does not
    # retry). It must be refused as held elsewhere (4) or retryably (5). Timing
    # decides: the race is run four times each way.
    "mount-racing-a-move-says-not-found": [
        ("create", {"name": "v0", "slot": 0}),
        *[step for _ in range(4) for step in (
            ("two_mounts", {"name": "v0", "pair": (1, 2)}), ("release_all", {"name": "v0"}),
            ("two_mounts", {"name": "v0", "pair": (0, 2)}), ("release_all", {"name": "v0"}))],
    ],
    # Found 2026-12-06 (seed 27, once the two above were fixed): a volume held by a
    # dead node in us-east-1b; a Mount in us-east-1a (a move) and a Remove on the new
    # us-east-1b node at once. Both succeeded: the Remove deleted the source during
    # the move, which then committed its copy, so the removed name lived on. A Remove
    # now claims the volume as a mover does. Timing decides: run three times.
    "mount-and-remove-during-a-move": [
        ("create", {"name": "v0", "slot": 2}),
        ("mount", {"name": "v0", "slot": 2}),
        ("node_dies", {"slot": 2}),
        ("mount_and_remove", {"name": "v0", "pair": (1, 2)}),
        *[step for _ in range(2) for step in (
            ("release_all", {"name": "v0"}), ("create", {"name": "v0", "slot": 2}), ("mount", {"name": "v0", "slot": 2}),
            ("node_dies", {"slot": 2}), ("mount_and_remove", {"name": "v0", "pair": (1, 2)}))],
    ],
}


def replay(machine, steps):
    machine.replaying = True
    machine.consistent()
    for rule_name, args in steps:
        getattr(machine, rule_name)(**args)
        machine.consistent()


# ---- the tests -------------------------------------------------------------------------------------

def _settings():
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if SHRINK else [])
    kw = dict(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, database=None, phases=phases,
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False, print_blob=True)
    if SEED == "derandomize":
        kw["derandomize"] = True
    return settings(**kw)


@pytest.fixture
def race_root(ec2sim, workdir):
    RaceMachine.sim = ec2sim
    RaceMachine.root = workdir
    return workdir


@pytest.mark.parametrize("case", sorted(REGRESSIONS) or [pytest.param(None, marks=pytest.mark.skip("none kept yet"))])
def test_kept_regressions(race_root, case):
    started = time.monotonic()
    machine = RaceMachine()
    try:
        replay(machine, REGRESSIONS[case])
    finally:
        machine.teardown()
        FIGURES["replayed"] += 1
        FIGURES["seconds"] += time.monotonic() - started


def test_random_interleavings_keep_every_promise(race_root):
    started = time.monotonic()
    def factory():
        return RaceMachine()
    if SEED not in ("derandomize", "random"):
        from hypothesis import seed
        factory = seed(int(SEED))(factory)
    try:
        run_state_machine_as_test(factory, settings=_settings())
    finally:
        FIGURES["seconds"] += time.monotonic() - started


def test_print_the_figures(capsys):
    with capsys.disabled():
        print(f"\nraces: {FIGURES['examples']} examples, {FIGURES['steps']} steps, {FIGURES['checks']} checks, "
              f"{FIGURES['nodes']} nodes ({FIGURES['deaths']} died, {FIGURES['crashes']} daemon restarts), "
              f"{len(NAMES)} names, {FIGURES['moves']} moves, {FIGURES['refusals']} refusals as promised, "
              f"{FIGURES['retryable']} retryable answers, {FIGURES['stale_gets']} Gets answered from a 2 s negative cache, "
              f"{FIGURES['both_refused']} races both sides lost (retryable), {FIGURES['replayed']} regressions replayed, "
              f"violations = {FIGURES['violations']}, {FIGURES['seconds']:.0f} s")
        print(f"races: steps by rule: {dict(sorted(RULES.items()))}")
