"""Local SigV4 verification, for the answers the proxy gives without asking moto
(rule errors, idempotent replays): AWS authenticates before it checks rules, so
the proxy must too. It knows the secret of every key it issued or saw being
issued (IAM CreateAccessKey / STS AssumeRole answers pass through it)."""
import hmac
import json
import re
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import replace

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ec2xml import local
from simhttp import Response


class KeyStore:
    def __init__(self):
        self._keys = {}
        self._lock = threading.Lock()

    def add(self, access_key, secret, token=None):
        with self._lock:
            self._keys[access_key] = (secret, token)

    def get(self, access_key):
        with self._lock:
            return self._keys.get(access_key)

    def clear(self):
        with self._lock:
            self._keys.clear()

    def learn(self, body):
        """Remember credentials found in an IAM/STS answer."""
        if b"SecretAccessKey" not in body:
            return
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return
        for el in root.iter():
            kids = {local(c.tag): (c.text or "") for c in el}
            if "AccessKeyId" in kids and "SecretAccessKey" in kids:
                self.add(kids["AccessKeyId"], kids["SecretAccessKey"], kids.get("SessionToken") or None)


def _between(first, second, text):
    return text.partition(first)[2].partition(second)[0]


def verify(req, keys):
    """True if the signature verifies, False if it does not, None if the key
    is unknown to the proxy (then moto alone can judge, and the proxy lets it)."""
    auth = req.header("Authorization") or ""
    if not auth.startswith("AWS4-HMAC-SHA256"):
        return False
    scope = _between("Credential=", ",", auth).split("/")
    if len(scope) < 4:
        return False
    known = keys.get(scope[0])
    if known is None:
        return None
    secret, token = known
    if token is not None and req.header("X-Amz-Security-Token") != token:
        return False
    signed = [h.strip() for h in _between("SignedHeaders=", ",", auth).split(";")]
    headers = {k: v for k, v in req.headers if k.lower() in signed}
    aws = AWSRequest(method=req.method, url=req.target, data=req.body, headers=headers)
    aws.context["timestamp"] = req.header("X-Amz-Date") or ""
    signer = SigV4Auth(Credentials(scope[0], secret, token), scope[3], scope[2])
    canonical = signer.canonical_request(aws)
    expected = signer.signature(signer.string_to_sign(aws, canonical), aws)
    given = re.sub(r"\s", "", _between("Signature=", ",", auth))
    return hmac.compare_digest(expected, given)


def resign(req, creds, hostport):
    """A copy of a body-less REST request (EFS GET/DELETE) signed with `creds` so
    that moto 5.2's verifier accepts it. That verifier hashes the query
    parameters (or, without any, the request's own headers) as if they were the
    body, so no client's correct signature of such a request verifies there:
    the proxy checks the client's signature itself, then sends this one."""
    path, _, query = req.target.partition("?")
    query = query or "ec2sim-resigned=1"      # without a query moto would hash the headers
    data = urllib.parse.parse_qs(query, keep_blank_values=True)
    aws = AWSRequest(method=req.method, url=f"http://{hostport}{path}?{query}", data=data,
                     headers={"Host": hostport})
    SigV4Auth(Credentials(*creds), req.service, req.region).add_auth(aws)
    dropped = {"authorization", "x-amz-date", "x-amz-security-token", "host", "x-amz-content-sha256"}
    headers = [(k, v) for k, v in req.headers if k.lower() not in dropped] + list(aws.headers.items())
    return replace(req, target=f"{path}?{query}", headers=headers, body=b"")


def rest_auth_error(verdict):
    """403 as the AWS REST-JSON front door answers it (verdict: False or None)."""
    if verdict is None:
        code, message = "UnrecognizedClientException", "The security token included in the request is invalid."
    else:
        code, message = "InvalidSignatureException", ("The request signature we calculated does not match "
                                                      "the signature you provided.")
    return Response(403, [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)],
                    json.dumps({"message": message}).encode())
