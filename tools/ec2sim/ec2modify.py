"""EBS Elastic Volumes as EC2 runs them, where moto completes every ModifyVolume at
once and takes any: a modification is `modifying`, then `optimizing` (the new size
is on the device from then on), then `completed`; the next waits for completion;
at most MODIFY_LIMIT per volume in any MODIFY_WINDOW seconds; a volume never
shrinks; gp3's throughput stays within its limits."""
import datetime
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from ec2xml import EC2_NS, request_id
from simhttp import Response

MODIFY_LIMIT = 4
MODIFY_WINDOW = 24 * 3600


@dataclass
class Modification:
    volume_id: str
    original: dict            # size, type, iops, throughput before
    target: dict              # after
    started: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc))
    state: str = "modifying"  # modifying | optimizing | completed
    phase_started: float = field(default_factory=time.monotonic)
    phase_length: float = 0.0
    ended: datetime.datetime = None

    def progress(self):
        if self.state == "completed":
            return 100
        done = 0.0 if self.phase_length <= 0 else min(0.99, (time.monotonic() - self.phase_started) / self.phase_length)
        # modifying counts the first half, optimizing the second
        return int(50 * done) + (50 if self.state == "optimizing" else 0)


def _iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class ModifyMixin:
    """Part of Ec2Rules: needs self.moto, self.data, self.lock, self.sched, self.delays,
    self.modifications, self.forward, self._reject() and self._volume()."""

    def modify_volume(self, req):
        vid = req.params.get("VolumeId")
        with self.lock:
            vol = self._volume(req.region, vid) if vid else None
            info = self.moto.volume(req.region, vid) if vol else None
            if vol is None or info is None:
                return self.forward(req)   # moto's own answer for an unknown volume
            if vol.state == "creating":
                return self._reject(req, "IncorrectState", f"Volume {vid} is still being created.")
            history = self.modifications.setdefault(vid, [])
            if history and history[-1].state != "completed":
                return self._reject(req, "IncorrectModificationState",
                                    f"Cannot modify volume {vid}: its previous modification is still in progress.")
            now = datetime.datetime.now(datetime.timezone.utc)
            recent = [m for m in history if (now - m.started).total_seconds() < MODIFY_WINDOW]
            if len(recent) >= MODIFY_LIMIT:
                after = recent[0].started + datetime.timedelta(seconds=MODIFY_WINDOW)
                return self._reject(req, "VolumeModificationRateExceeded",
                                    f"You've reached the maximum modification rate per volume limit "
                                    f"({MODIFY_LIMIT} in 24 hours). Retry after {_iso(after)}.")
            original = {"size": info["Size"], "type": info["VolumeType"], "iops": info.get("Iops"),
                        "throughput": info.get("Throughput")}
            target = dict(original)
            size = req.params.get("Size")
            if size is not None:
                if not size.isdigit():
                    return self._reject(req, "InvalidParameterValue", f"Invalid size: {size}")
                if int(size) < original["size"]:
                    return self._reject(req, "InvalidParameterValue",
                                        f"New size ({size}) cannot be smaller than the existing size ({original['size']}).")
                target["size"] = int(size)
            extra = {}
            new_type = req.params.get("VolumeType")
            if new_type and new_type != original["type"]:
                # A new type takes EC2's defaults for what the request leaves out
                # (moto keeps the old values): gp3 3,000 IOPS and 125 MiB/s; io1/io2
                # need their IOPS; the others have none to provision.
                target["type"] = new_type
                target["iops"] = 3000 if new_type == "gp3" else None
                target["throughput"] = 125 if new_type == "gp3" else None
                if new_type in ("io1", "io2") and not req.params.get("Iops"):
                    return self._reject(req, "InvalidParameterValue", f"Iops is required for {new_type} volumes.")
                if new_type == "gp3":
                    extra = {k: str(target[key]) for k, key in (("Iops", "iops"), ("Throughput", "throughput")) if not req.params.get(k)}
            for key, param in (("iops", "Iops"), ("throughput", "Throughput")):
                if req.params.get(param):
                    target[key] = int(req.params[param]) if req.params[param].isdigit() else req.params[param]
            if target["type"] == "gp3" and req.params.get("Throughput"):
                iops = target["iops"] if isinstance(target["iops"], int) else 3000
                tp = target["throughput"]
                if not isinstance(tp, int) or not 125 <= tp <= 2000:
                    return self._reject(req, "InvalidParameterValue", f"Throughput {tp} MiB/s is out of range: gp3 takes 125-2000 MiB/s.")
                if tp > iops // 4:
                    return self._reject(req, "InvalidParameterValue",
                                        f"Throughput {tp} MiB/s is too high for {iops} IOPS: at most 0.25 MiB/s per IOPS.")
            if extra:
                err = self._auth_error(req)
                if err:
                    return err
                resp = self.moto.raw_ec2(req.region, dict(req.params, **extra))
            else:
                resp = self.forward(req)
            if resp.status != 200:
                return resp
            mod = Modification(vid, original, target, phase_length=self.delays.modify)
            history.append(mod)
            self.sched.after(self.delays.modify, lambda: self._optimizing(req.region, mod))
            return self._modification_response("ModifyVolume", "volumeModification", [mod])

    def _optimizing(self, region, mod):
        with self.lock:
            if mod.state != "modifying":
                return
            vol = self.volumes.get(mod.volume_id)
            if vol is not None and mod.target["size"] > vol.size:
                vol.size = mod.target["size"]
                self.data.resize_volume(mod.volume_id, vol.size)
            mod.state, mod.phase_started, mod.phase_length = "optimizing", time.monotonic(), self.delays.optimize
            self.sched.after(self.delays.optimize, lambda: self._completed(mod))

    def _completed(self, mod):
        with self.lock:
            if mod.state == "optimizing":
                mod.state, mod.ended = "completed", datetime.datetime.now(datetime.timezone.utc)

    def describe_volumes_modifications(self, req):
        ids = [v for k, v in sorted(req.params.items()) if k.startswith("VolumeId.")]
        wanted = {}
        for k, v in req.params.items():
            if k.startswith("Filter.") and k.endswith(".Name"):
                prefix = k[: -len("Name")]
                wanted[v] = {val for kk, val in req.params.items() if kk.startswith(prefix + "Value.")}
        with self.lock:
            found = []
            for vid in ids:
                if self._volume(req.region, vid) is None:
                    return self._reject(req, "InvalidVolume.NotFound", f"The volume '{vid}' does not exist.")
                if not self.modifications.get(vid):
                    return self._reject(req, "InvalidVolumeModification.NotFound",
                                        f"Modification for volume '{vid}' does not exist.")
            for vid, history in sorted(self.modifications.items()):
                if not history or (ids and vid not in ids):
                    continue
                latest = history[-1]
                if "modification-state" in wanted and latest.state not in wanted["modification-state"]:
                    continue
                if "volume-id" in wanted and vid not in wanted["volume-id"]:
                    continue
                found.append(latest)
            err = self._auth_error(req)
            if err:
                return err
            return self._modification_response("DescribeVolumesModifications", "volumeModificationSet", found, items=True)

    @staticmethod
    def _modification_response(action, name, mods, items=False):
        root = ET.Element(f"{{{EC2_NS}}}{action}Response")
        ET.SubElement(root, f"{{{EC2_NS}}}requestId").text = request_id()
        holder = ET.SubElement(root, f"{{{EC2_NS}}}{name}")
        for mod in mods:
            el = ET.SubElement(holder, f"{{{EC2_NS}}}item") if items else holder
            fields = [("volumeId", mod.volume_id), ("modificationState", mod.state), ("progress", str(mod.progress())),
                      ("startTime", _iso(mod.started))]
            if mod.ended:
                fields.append(("endTime", _iso(mod.ended)))
            for key, tag in (("size", "Size"), ("type", "VolumeType"), ("iops", "Iops"), ("throughput", "Throughput")):
                for side, value in (("original", mod.original[key]), ("target", mod.target[key])):
                    if value is not None:
                        fields.append((f"{side}{tag}", str(value)))
            for tag, value in fields:
                ET.SubElement(el, f"{{{EC2_NS}}}{tag}").text = value
        text = ET.tostring(root, encoding="unicode", default_namespace=EC2_NS)
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n' + text).encode()
        return Response(200, [("Content-Type", "text/xml;charset=UTF-8"), ("Server", "AmazonEC2")], body)
