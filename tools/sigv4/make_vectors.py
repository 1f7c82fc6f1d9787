#!/usr/bin/env python3
"""Writes Tests/AWSTests/vectors/sigv4.json: SigV4 signatures computed offline by
botocore's SigV4Auth for fixed requests and dates, which the Swift signer must
reproduce. Run again only to add vectors; the output is committed."""
import datetime
import json
import os
import sys
from unittest import mock
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "AWSTests", "vectors", "sigv4.json")

AKID, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

CASES = [
    # AWS's published test suite case "get-vanilla" (its expected signature is checked below).
    dict(name="get-vanilla", method="GET", host="example.amazonaws.com", path="/", query=[], headers=[], body="",
         region="us-east-1", service="service", date="20150830T123600Z"),
    dict(name="ec2-describe-volumes", method="POST", host="ec2.us-east-1.amazonaws.com", path="/", query=[],
         headers=[("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
         body="Action=DescribeVolumes&Version=2016-11-15&Filter.1.Name=tag%3AStackID&Filter.1.Value.1=0cc175b9c0f1b6a831c399e269772661",
         region="us-east-1", service="ec2", date="20261126T101500Z"),
    dict(name="ec2-create-volume-session-token", method="POST", host="127.0.0.1:45123", path="/", query=[],
         headers=[("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
         body="Action=CreateVolume&Version=2016-11-15&AvailabilityZone=eu-west-1b&Size=10&VolumeType=gp3&ClientToken=cs-7f3a",
         region="eu-west-1", service="ec2", date="20261126T235959Z", token="IQoJb3JpZ2luX2VjEXAMPLETOKEN+/=="),
    dict(name="efs-describe-file-systems", method="GET", host="elasticfilesystem.us-west-2.amazonaws.com",
         path="/2015-02-01/file-systems", query=[("FileSystemId", "fs-0123456789abcdef0")], headers=[], body="",
         region="us-west-2", service="elasticfilesystem", date="20260101T000000Z"),
    dict(name="efs-delete-access-point", method="DELETE", host="elasticfilesystem.us-west-2.amazonaws.com",
         path="/2015-02-01/access-points/fsap-0123456789abcdef0", query=[], headers=[], body="",
         region="us-west-2", service="elasticfilesystem", date="20260101T000001Z"),
    dict(name="efs-access-points-query-order-and-escapes", method="GET", host="elasticfilesystem.us-west-2.amazonaws.com",
         path="/2015-02-01/access-points", query=[("NextToken", "a b+c/d=="), ("MaxResults", "100"), ("FileSystemId", "fs-1")],
         headers=[("X-Custom", "  spaced   value  ")], body="", region="us-west-2", service="elasticfilesystem",
         date="20261231T235959Z"),
    dict(name="efs-create-access-point-json", method="POST", host="elasticfilesystem.ap-southeast-2.amazonaws.com",
         path="/2015-02-01/access-points", query=[],
         headers=[("Content-Type", "application/json")],
         body='{"ClientToken":"cs-web-1","FileSystemId":"fs-1","RootDirectory":{"Path":"/cloudstor/web-1"},"Tags":[{"Key":"CloudstorVolume","Value":"web-1 ü"}]}',
         region="ap-southeast-2", service="elasticfilesystem", date="20260615T120000Z"),
]


def sign(case):
    query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in case["query"])
    url = f"https://{case['host']}{quote(case['path'], safe='/-_.~')}" + (f"?{query}" if query else "")
    headers = [("Host", case["host"])] + list(case["headers"])
    request = AWSRequest(method=case["method"], url=url, data=case["body"].encode(), headers=dict(headers))
    creds = Credentials(AKID, SECRET, case.get("token"))
    when = datetime.datetime.strptime(case["date"], "%Y%m%dT%H%M%SZ")
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        SigV4Auth(creds, case["service"], case["region"]).add_auth(request)
    return dict(
        name=case["name"], method=case["method"], path=case["path"], query=case["query"], headers=headers,
        body=case["body"], region=case["region"], service=case["service"], date=case["date"],
        access_key_id=AKID, secret_access_key=SECRET, session_token=case.get("token"),
        authorization=request.headers["Authorization"])


def main():
    vectors = [sign(c) for c in CASES]
    vanilla = vectors[0]["authorization"]
    published = "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    if not vanilla.endswith(published):
        sys.exit(f"botocore disagrees with AWS's published get-vanilla signature: {vanilla}")
    with open(OUT, "w") as f:
        json.dump(vectors, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(vectors)} vectors to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
