"""The EC2 rules moto lacks, the states that last, paging, and the hooks into
the data plane. moto stays the record of what exists; this overlay keeps what
moto does not model (attachments in progress, snapshot progress, images)."""
import logging
import threading
import time
from dataclasses import dataclass, field

from ec2describe import DescribeMixin
from ec2modify import ModifyMixin
from ec2xml import Doc, ec2_error, simple_response
from sigv4 import verify

log = logging.getLogger("ec2sim.ec2")


@dataclass
class Delays:
    create: float = 0.5
    attach: float = 0.5
    detach: float = 0.5
    snapshot: float = 0.5
    modify: float = 0.5      # a ModifyVolume's modifying state
    optimize: float = 0.5    # then its optimizing state


DELAYS = ("create", "attach", "detach", "snapshot", "modify", "optimize")


@dataclass
class Attachment:
    instance_id: str
    device: str
    state: str               # attaching | attached | detaching | busy
    attach_time: str
    force: bool = False


@dataclass
class Volume:
    id: str
    region: str
    az: str
    size: int
    state: str               # creating | available (in-use is derived from the attachment)
    attachment: Attachment = None


@dataclass
class Snapshot:
    id: str
    volume_id: str
    state: str               # pending | completed
    size: int = 0            # GiB, its volume's
    started: float = field(default_factory=time.monotonic)
    duration: float = 0.0

    def progress(self):
        if self.state == "completed":
            return "100%"
        if self.duration <= 0:
            return "0%"
        return f"{min(99, int(100 * (time.monotonic() - self.started) / self.duration))}%"


def same_slot(a, b):
    # /dev/sdf and /dev/xvdf name the same attachment point
    def norm(d):
        d = d.rsplit("/", 1)[-1]
        return "sd" + d[3:] if d.startswith("xvd") else d
    return norm(a) == norm(b)


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Ec2Rules(DescribeMixin, ModifyMixin):
    def __init__(self, moto, data, keys, faults, scheduler, forward, auth):
        self.moto, self.data, self.keys, self.faults = moto, data, keys, faults
        self.sched, self.forward, self.auth = scheduler, forward, auth
        self.delays = Delays()
        self.busy_if_mounted = True
        self.lock = threading.RLock()
        self.volumes, self.snapshots, self.tokens = {}, {}, {}
        self.modifications = {}   # volume id -> [Modification], oldest first (ec2modify)
        self.pages = {}   # kept paged answers (ec2describe)
        self.handlers = {
            "CreateVolume": self.create_volume, "AttachVolume": self.attach_volume,
            "DetachVolume": self.detach_volume, "DeleteVolume": self.delete_volume,
            "CreateSnapshot": self.create_snapshot, "DeleteSnapshot": self.delete_snapshot,
            "DescribeVolumes": self.describe_volumes, "DescribeSnapshots": self.describe_snapshots,
            "TerminateInstances": self.terminate_instances, "ModifyVolume": self.modify_volume,
            "DescribeVolumesModifications": self.describe_volumes_modifications,
        }

    def handle(self, req):
        handler = self.handlers.get(req.action)
        if handler is None or req.flag("DryRun"):
            return self.forward(req)
        return handler(req)

    def reset(self):
        with self.lock:
            self.volumes, self.snapshots, self.tokens, self.pages = {}, {}, {}, {}
            self.modifications = {}

    # ---- answers the proxy gives itself ---------------------------------------------

    def _auth_error(self, req):
        """AWS authenticates before it applies a rule; so does the proxy."""
        if self.auth and verify(req, self.keys) is False:
            return ec2_error("AuthFailure", "AWS was not able to validate the provided access credentials", 401)
        return None

    def _reject(self, req, code, message):
        err = self._auth_error(req)
        if err:
            return err
        self.faults.count_rule_error(code)
        log.info("%s %s: %s", req.action, code, message)
        return ec2_error(code, message)

    def _volume(self, region, volume_id):
        """The overlay's record, adopting a volume moto knows but the proxy never saw."""
        vol = self.volumes.get(volume_id)
        if vol is not None:
            return vol
        info = self.moto.volume(region, volume_id)
        if info is None:
            return None
        vol = Volume(volume_id, region, info["AvailabilityZone"], info["Size"], "available")
        for a in info.get("Attachments", []):
            vol.attachment = Attachment(a["InstanceId"], a["Device"], "attached", iso(a["AttachTime"]))
        self.volumes[volume_id] = vol
        return vol

    @staticmethod
    def status(vol):
        return "in-use" if vol.attachment else vol.state

    # ---- volumes ----------------------------------------------------------------------

    def create_volume(self, req):
        token = req.params.get("ClientToken")
        fingerprint = sorted((k, v) for k, v in req.params.items() if k != "ClientToken")
        snap_id = req.params.get("SnapshotId")
        with self.lock:
            if token and token in self.tokens:   # moto ignores ClientToken
                seen, volume_id, body = self.tokens[token]
                if seen != fingerprint:
                    return self._reject(req, "IdempotentParameterMismatch",
                                        f"Client token '{token}' has already been used with different parameters.")
                err = self._auth_error(req)
                if err:
                    return err
                doc = Doc(body)
                vol = self.volumes.get(volume_id)
                if vol:
                    doc.set_text(doc.root, "status", self.status(vol))
                return simple_response("CreateVolume", []).with_body(doc.serialise())
            snap = self.snapshots.get(snap_id) if snap_id else None
            if snap and snap.state != "completed":
                return self._reject(req, "IncorrectState", f"Snapshot is in invalid state - {snap.state}")
            rejected = self._throughput_rule(req)
            if rejected:
                return rejected
            size = req.params.get("Size")
            if snap and size and size.isdigit() and int(size) < snap.size:   # moto takes any size
                return self._reject(req, "InvalidParameterValue",
                                    f"Volume of {size}GiB is too small; minimum is {snap.size}GiB.")
            resp = self._create_encrypted_by_default(req)
            if resp is None:
                resp = self.forward(req)
            if resp.status != 200:
                return resp
            doc = Doc(resp.body)
            vid = doc.text(doc.root, "volumeId")
            vol = Volume(vid, req.region, doc.text(doc.root, "availabilityZone"),
                         int(doc.text(doc.root, "size", "1")), "creating")
            self.data.create_volume(vid, vol.size, snap_id)
            self.volumes[vid] = vol
            doc.set_text(doc.root, "status", "creating")
            body = doc.serialise()
            if token:
                self.tokens[token] = (fingerprint, vid, body)
            self.sched.after(self.delays.create, lambda: self._created(vol))
            return resp.with_body(body)

    def _create_encrypted_by_default(self, req):
        """The account's EBS encryption by default, which moto records but does not
        apply: a CreateVolume that does not say is sent on encrypted (signed anew,
        once the caller's signature is checked). None: forward as it is."""
        if req.flag("Encrypted") or req.params.get("SnapshotId"):   # Encrypted=false is overruled, as EC2 does
            return None
        if not self.moto.client("ec2", req.region).get_ebs_encryption_by_default()["EbsEncryptionByDefault"]:
            return None
        err = self._auth_error(req)
        if err:
            return err
        return self.moto.raw_ec2(req.region, dict(req.params, Encrypted="true"))

    def _throughput_rule(self, req):
        """gp3's throughput (moto takes any): 125-2000 MiB/s, at most 0.25 MiB/s per IOPS."""
        throughput = req.params.get("Throughput")
        if not throughput or req.params.get("VolumeType") != "gp3":
            return None
        iops = int(req.params.get("Iops") or 3000)
        if not throughput.isdigit() or not 125 <= int(throughput) <= 2000:
            return self._reject(req, "InvalidParameterValue",
                                f"Throughput {throughput} MiB/s is out of range: gp3 takes 125-2000 MiB/s.")
        if int(throughput) > iops // 4:
            return self._reject(req, "InvalidParameterValue",
                                f"Throughput {throughput} MiB/s is too high for {iops} IOPS: at most 0.25 MiB/s per IOPS.")
        return None

    def _created(self, vol):
        with self.lock:
            if self.volumes.get(vol.id) is vol and vol.state == "creating":
                vol.state = "available"
                log.info("%s available", vol.id)

    def attach_volume(self, req):
        vid, iid, dev = (req.params.get(k) for k in ("VolumeId", "InstanceId", "Device"))
        if not (vid and iid and dev):
            return self.forward(req)
        with self.lock:
            vol = self._volume(req.region, vid)
            inst = self.moto.instance(req.region, iid)
            if vol is None or inst is None:
                return self.forward(req)      # moto's own NotFound answers
            if vol.attachment:
                return self._reject(req, "VolumeInUse", f"{vid} is already attached to an instance")
            if vol.state != "available":
                return self._reject(req, "IncorrectState", f"{vid} is not 'available'.")
            if inst["az"] != vol.az:
                return self._reject(req, "InvalidVolume.ZoneMismatch",
                                    f"The volume '{vid}' is not in the same availability zone as instance '{iid}'")
            if inst["state"] in ("shutting-down", "terminated"):
                return self._reject(req, "IncorrectState", f"Instance '{iid}' is not 'running'.")
            used = list(inst["devices"]) + [v.attachment.device for v in self.volumes.values()
                                            if v.attachment and v.attachment.instance_id == iid]
            maximum, kind = self.moto.ebs_limit(req.region, inst["type"])   # moto attaches without limit
            if maximum is not None:
                limit = maximum - (max(0, inst["interfaces"] - 1) if kind == "shared" else 0)
                slots = []   # moto lists attached volumes among the instance's devices too
                for d in used:
                    if not any(same_slot(d, s) for s in slots):
                        slots.append(d)
                if len(slots) >= limit:
                    return self._reject(req, "AttachmentLimitExceeded",
                                        f"Instance '{iid}' ({inst['type']}) has reached its limit of {limit} attached volumes.")
            if any(same_slot(dev, d) for d in used):
                return self._reject(req, "InvalidParameterValue",
                                    f"Invalid value '{dev}' for unixDevice. Attachment point {dev} is already in use")
            resp = self.forward(req)
            if resp.status != 200:
                return resp
            doc = Doc(resp.body)
            att = Attachment(iid, dev, "attaching", doc.text(doc.root, "attachTime", ""))
            vol.attachment = att
            self.sched.after(self.delays.attach, lambda: self._attached(vol, att))
            return resp

    def _attached(self, vol, att):
        with self.lock:
            if self.volumes.get(vol.id) is not vol or vol.attachment is not att or att.state != "attaching":
                return   # detached meanwhile, or reset
            try:
                self.data.attach(vol.id, att.instance_id, vol.size)
            except Exception as e:
                log.error("data plane: attaching %s to %s failed: %s", vol.id, att.instance_id, e)
            att.state = "attached"

    def detach_volume(self, req):
        vid, iid, dev = (req.params.get(k) for k in ("VolumeId", "InstanceId", "Device"))
        force = req.flag("Force")
        if not vid:
            return self.forward(req)
        with self.lock:
            vol = self._volume(req.region, vid)
            if vol is None:
                return self.forward(req)
            att = vol.attachment
            if att is None:
                return self._reject(req, "IncorrectState", f"Volume '{vid}' is in the '{self.status(vol)}' state.")
            if (iid and iid != att.instance_id) or (dev and not same_slot(dev, att.device)):
                return self._reject(req, "InvalidAttachment.NotFound",
                                    f"The volume '{vid}' is not attached to instance '{iid or att.instance_id}'"
                                    + (f" as device '{dev}'" if dev else "") + ".")
            if att.state in ("detaching", "busy"):
                # moto has let go already; answer as EC2 does, and let Force hurry it
                err = self._auth_error(req)
                if err:
                    return err
                if force and not att.force:
                    att.force = True
                    self.sched.after(self.delays.detach, lambda: self._detach_step(vol, att))
                return self._attachment_response("DetachVolume", vid, att)
            if iid:
                resp = self.forward(req)
                if resp.status != 200:
                    return resp
            else:
                # moto fails (HTML 500) without InstanceId; EC2 does not need it
                err = self._auth_error(req)
                if err:
                    return err
                self.moto.client("ec2", req.region).detach_volume(VolumeId=vid, InstanceId=att.instance_id)
                resp = None
            att.state, att.force = "detaching", force
            self.sched.after(self.delays.detach, lambda: self._detach_step(vol, att))
            return resp or self._attachment_response("DetachVolume", vid, att)

    def _attachment_response(self, action, vid, att):
        return simple_response(action, [("volumeId", vid), ("instanceId", att.instance_id),
                                        ("device", att.device), ("status", att.state),
                                        ("attachTime", att.attach_time)])

    def _detach_step(self, vol, att):
        with self.lock:
            if self.volumes.get(vol.id) is not vol or vol.attachment is not att:
                return
            if self.data.detach(vol.id, force=att.force or not self.busy_if_mounted):
                vol.attachment = None
                log.info("%s detached from %s%s", vol.id, att.instance_id, " (forced)" if att.force else "")
                return
            if att.state != "busy":
                log.info("%s busy: still mounted on %s", vol.id, att.instance_id)
            att.state = "busy"
            self.sched.after(0.1, lambda: self._detach_step(vol, att))

    def delete_volume(self, req):
        vid = req.params.get("VolumeId")
        with self.lock:
            vol = self.volumes.get(vid)
            if vol and vol.attachment:
                return self._reject(req, "VolumeInUse",
                                    f"Volume {vid} is currently attached to {vol.attachment.instance_id}")
            resp = self.forward(req)
            if resp.status == 200:
                self.volumes.pop(vid, None)
                self.data.delete_volume(vid)
            return resp

    def terminate_instances(self, req):
        with self.lock:
            resp = self.forward(req)
            if resp.status != 200:
                return resp
            self.instances_gone(req.list_param("InstanceId"))
            return resp

    def instances_gone(self, instance_ids):
        """Terminated instances lose their volumes, as if force-detached."""
        with self.lock:
            for vol in self.volumes.values():
                att = vol.attachment
                if att and att.instance_id in instance_ids and att.state not in ("detaching", "busy"):
                    att.state, att.force = "detaching", True
                    self.sched.after(self.delays.detach, lambda v=vol, a=att: self._detach_step(v, a))

    # ---- snapshots --------------------------------------------------------------------

    def create_snapshot(self, req):
        vid = req.params.get("VolumeId")
        with self.lock:
            vol = self._volume(req.region, vid) if vid else None
            if vol is None:
                return self.forward(req)
            resp = self.forward(req)
            if resp.status != 200:
                return resp
            doc = Doc(resp.body)
            sid = doc.text(doc.root, "snapshotId")
            self.data.ensure_volume(vid, vol.size)
            self.data.begin_snapshot(vid, sid)
            snap = Snapshot(sid, vid, "pending", size=vol.size, duration=self.delays.snapshot)
            self.snapshots[sid] = snap
            doc.set_text(doc.root, "status", "pending")
            doc.set_text(doc.root, "progress", "0%")
            self.sched.after(self.delays.snapshot, lambda: self._snapshot_done(snap))
            return resp.with_body(doc.serialise())

    def _snapshot_done(self, snap):
        with self.lock:
            if self.snapshots.get(snap.id) is snap and snap.state == "pending":
                self.data.finish_snapshot(snap.id)
                snap.state = "completed"
                log.info("%s completed", snap.id)

    def delete_snapshot(self, req):
        sid = req.params.get("SnapshotId")
        with self.lock:
            resp = self.forward(req)
            if resp.status == 200:
                self.snapshots.pop(sid, None)
                self.data.delete_snapshot(sid)
            return resp

    # ---- introspection ------------------------------------------------------------------

    def dump(self):
        with self.lock:
            vols = {}
            for v in self.volumes.values():
                entry = {"state": self.status(v), "az": v.az, "size": v.size, "region": v.region,
                         "image": self.data.image(v.id), "attachment": None}
                if v.attachment:
                    a = v.attachment
                    link = self.data.attached.get(v.id)
                    entry["attachment"] = {"instance_id": a.instance_id, "device": a.device, "state": a.state,
                                           "force": a.force, "loop": link[2] if link else None,
                                           "link": link[1] if link else None}
                vols[v.id] = entry
            snaps = {s.id: {"volume_id": s.volume_id, "state": s.state, "progress": s.progress(),
                            "image": self.data.snapshot_image(s.id)} for s in self.snapshots.values()}
            return {"volumes": vols, "snapshots": snaps}

