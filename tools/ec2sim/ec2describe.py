"""EC2 Describe* as EC2 answers them: the overlay's lasting states written into
moto's XML, filters on those states, and MaxResults/NextToken paging (moto
ignores both and returns everything).

moto renders every match for each page, so the later pages of a paged answer
are cut from the first page's answer (kept for PAGES_KEPT seconds, for the same
caller and the same parameters), with the overlay's states as they are now:
a List of 10,000 volumes is one moto call, not twenty."""
import bisect
import copy
import fnmatch
import time

from ec2xml import Doc, decode_token, encode_token, request_id
from sigv4 import verify
from simhttp import Response

VOLUME_STATE_FILTERS = {"status", "attachment.status", "attachment.instance-id", "attachment.device",
                        "attachment.attach-time", "attachment.delete-on-termination"}
SNAPSHOT_STATE_FILTERS = {"status", "progress"}
PAGES_KEPT = 120.0


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
        kept = self._kept_page(req, set_name, id_name)
        if kept is not None:
            doc, items = kept
            return self._page(req, None, doc, items, set_name, id_name, state_filters, page_max, rewrite, values)
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
        for child in list(set_el):
            set_el.remove(child)
        if max_results is not None or after is not None:
            items.sort(key=lambda it: doc.text(it, id_name, ""))
            if after is not None:
                items = [it for it in items if doc.text(it, id_name, "") > after]
            if max_results is not None and len(items) > min(int(max_results), page_max):
                self._keep_pages(req, doc.serialise(), [doc.text(it, id_name, "") for it in items],
                                 [copy.deepcopy(it) for it in items])
        return self._page(req, resp, doc, items, set_name, id_name, state_filters, page_max, rewrite, values)

    def _page(self, req, resp, doc, items, set_name, id_name, state_filters, page_max, rewrite, values):
        """The answer (moto's `resp`, if it gave one): `doc` with its set emptied,
        holding the first page of `items` (sorted by id when paged), with the
        overlay's states and our filters."""
        max_results = req.params.get("MaxResults")
        ours = [f for f in req.filters() if f[0] in state_filters]
        next_token = None
        if max_results is not None:
            size = min(int(max_results), page_max)
            if len(items) > size:
                items = items[:size]
                next_token = encode_token(set_name, doc.text(items[-1], id_name))
        with self.lock:
            for item in items:
                rewrite(doc, item)
        if ours:
            items = [it for it in items if all(
                any(fnmatch.fnmatchcase(have, want) for have in values(doc, it, name) for want in wanted)
                for name, wanted in ours)]
        doc.items(set_name)[1].extend(items)
        old = doc.child(doc.root, "nextToken")
        if old is not None:
            doc.root.remove(old)
        if next_token:
            doc.set_text(doc.root, "nextToken", next_token)
        if resp is not None:
            return resp.with_body(doc.serialise())
        return Response(200, [("Content-Type", "text/xml;charset=UTF-8"), ("Server", "AmazonEC2")], doc.serialise())

    # ---- the later pages of a paged answer ------------------------------------------

    def _keep_pages(self, req, skeleton, ids, items):
        """Keeps a paged answer's items sorted by id (and its document, its set
        empty) for the later pages of the same caller's same request."""
        now = time.monotonic()
        with self.lock:
            for key in [k for k, kept in self.pages.items() if now - kept[0] > PAGES_KEPT]:
                del self.pages[key]
            self.pages[pages_key(req)] = (now, skeleton, ids, items)

    def _kept_page(self, req, set_name, id_name):
        """(document, the items after the token) for a later page of a kept answer,
        if the request is signed by a key the proxy can check (else moto judges it)."""
        after = decode_token(set_name, req.params.get("NextToken") or "")
        if after is None:
            return None
        with self.lock:
            kept = self.pages.get(pages_key(req))
        if kept is None or time.monotonic() - kept[0] > PAGES_KEPT:
            return None
        if self.auth and verify(req, self.keys) is not True:
            return None
        _, skeleton, ids, items = kept
        doc = Doc(skeleton)
        doc.set_text(doc.root, "requestId", request_id())
        start = bisect.bisect_right(ids, after)
        size = int(req.params["MaxResults"])   # validated with the first page
        return doc, [copy.deepcopy(it) for it in items[start:start + size + 1]]   # one more: is there a next?

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


def pages_key(req):
    """Who asks (the access key) and what, but for the page."""
    auth = req.header("Authorization") or ""
    caller = auth.split("Credential=", 1)[-1].split("/", 1)[0] if "Credential=" in auth else ""
    return caller, req.region, tuple(sorted((k, v) for k, v in req.params.items() if k != "NextToken"))
