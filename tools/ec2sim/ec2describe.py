"""EC2 Describe* as EC2 answers them: the overlay's lasting states written into
moto's XML, filters on those states, and MaxResults/NextToken paging (moto
ignores both and returns everything)."""
import fnmatch

from ec2xml import Doc, decode_token, encode_token

VOLUME_STATE_FILTERS = {"status", "attachment.status", "attachment.instance-id", "attachment.device",
                        "attachment.attach-time", "attachment.delete-on-termination"}
SNAPSHOT_STATE_FILTERS = {"status", "progress"}


class DescribeMixin:
    """Part of Ec2Rules: needs self.forward, self.moto, self.lock, self.volumes,
    self.snapshots, self.status() and self._reject()."""

    def describe_volumes(self, req):
        return self._describe(req, "volumeSet", "volumeId", "VolumeId", VOLUME_STATE_FILTERS,
                              500, self._rewrite_volume, self._volume_values)

    def describe_snapshots(self, req):
        return self._describe(req, "snapshotSet", "snapshotId", "SnapshotId", SNAPSHOT_STATE_FILTERS,
                              1000, self._rewrite_snapshot, self._snapshot_values)

    def _describe(self, req, set_name, id_name, id_param, state_filters, page_max, rewrite, values):
        resp = self.forward(req)     # moto authenticates and validates first
        if resp.status != 200:
            return resp
        max_results, token = req.params.get("MaxResults"), req.params.get("NextToken")
        after = None
        if max_results is not None:
            if req.list_param(id_param):
                return self._reject(req, "InvalidParameterCombination",
                                    f"The parameter {set_name} cannot be used with the parameter maxResults")
            if not max_results.isdigit() or int(max_results) < 5:
                return self._reject(req, "InvalidParameterValue", f"Value ( {max_results} ) for parameter "
                                    "maxResults is invalid. Expecting a value greater than 5.")
        if token is not None:
            after = decode_token(set_name, token)
            if after is None:
                return self._reject(req, "InvalidPaginationToken",
                                    "The specified pagination token is not valid or is expired.")
        filters = req.filters()
        ours = [f for f in filters if f[0] in state_filters]
        body = resp.body
        if ours:
            # moto filtered on its own (instant) states: ask again without those filters
            params = {k: v for k, v in req.params.items()
                      if not k.startswith("Filter.") and k not in ("MaxResults", "NextToken")}
            for i, (name, vals) in enumerate([f for f in filters if f[0] not in state_filters], 1):
                params[f"Filter.{i}.Name"] = name
                params.update({f"Filter.{i}.Value.{j}": v for j, v in enumerate(vals, 1)})
            again = self.moto.raw_ec2(req.region, params)
            if again.status != 200:
                return again
            body = again.body
        doc = Doc(body)
        items, set_el = doc.items(set_name)
        if set_el is None:
            return resp
        with self.lock:
            for item in items:
                rewrite(doc, item)
        if ours:
            items = [it for it in items if all(
                any(fnmatch.fnmatchcase(have, want) for have in values(doc, it, name) for want in wanted)
                for name, wanted in ours)]
        next_token = None
        if max_results is not None or after is not None:
            items.sort(key=lambda it: doc.text(it, id_name, ""))
            if after is not None:
                items = [it for it in items if doc.text(it, id_name, "") > after]
            size = min(int(max_results), page_max) if max_results is not None else len(items)
            if len(items) > size:
                items = items[:size]
                next_token = encode_token(set_name, doc.text(items[-1], id_name))
        for child in list(set_el):
            set_el.remove(child)
        set_el.extend(items)
        old = doc.child(doc.root, "nextToken")
        if old is not None:
            doc.root.remove(old)
        if next_token:
            doc.set_text(doc.root, "nextToken", next_token)
        return resp.with_body(doc.serialise())

    def _rewrite_volume(self, doc, item):
        vol = self.volumes.get(doc.text(item, "volumeId"))
        if vol is None:
            return
        doc.set_text(item, "status", self.status(vol))
        aset = doc.child(item, "attachmentSet")
        if aset is None:
            aset = doc.sub(item, "attachmentSet")
        for child in list(aset):
            aset.remove(child)
        att = vol.attachment
        if att:
            entry = doc.sub(aset, "item")
            for name, value in (("volumeId", vol.id), ("instanceId", att.instance_id), ("device", att.device),
                                ("status", att.state), ("attachTime", att.attach_time),
                                ("deleteOnTermination", "false")):
                doc.sub(entry, name, value)

    def _volume_values(self, doc, item, name):
        if name == "status":
            return [doc.text(item, "status", "")]
        key = {"attachment.status": "status", "attachment.instance-id": "instanceId",
               "attachment.device": "device", "attachment.attach-time": "attachTime",
               "attachment.delete-on-termination": "deleteOnTermination"}[name]
        aset = doc.child(item, "attachmentSet")
        return [doc.text(a, key, "") for a in (aset if aset is not None else [])]

    def _rewrite_snapshot(self, doc, item):
        snap = self.snapshots.get(doc.text(item, "snapshotId"))
        if snap is None:
            return
        doc.set_text(item, "status", snap.state)
        doc.set_text(item, "progress", snap.progress())

    def _snapshot_values(self, doc, item, name):
        return [doc.text(item, name, "")]
