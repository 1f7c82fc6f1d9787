#!/usr/bin/env python3
"""Writes the seed corpora under Fuzz/corpus/<target>/: small, realistic inputs
for each fuzz target (Docker's plugin calls as the engine sends them, gRPC
requests as grpcio/grpcurl frame them, EC2/EFS/IMDS replies in AWS's formats as
tools/ec2sim and moto give them, the daemon's answers as libcloudstor reads
them). Run again after changing a target's input format:

    python3 Fuzz/seeds/make_seeds.py

Needs grpcio-tools and h2 (both in scripts/install-deps.sh's list)."""
import gzip, json, os, struct, subprocess, sys, tempfile, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CORPUS = os.path.join(ROOT, "Fuzz", "corpus")

# cloudstor.v1 messages in Python, from the committed proto.
gen = tempfile.mkdtemp(prefix="cloudstor-seeds-")
subprocess.check_call([sys.executable, "-m", "grpc_tools.protoc", "-I" + os.path.join(ROOT, "proto"), "--python_out=" + gen,
                       "cloudstor/v1/volume.proto"])
sys.path.insert(0, gen)
from cloudstor.v1 import volume_pb2 as pb  # noqa: E402


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def volume(name="data", backing=pb.BACKING_RELOCATABLE, state=pb.VOLUME_STATE_MOUNTED, shared=False):
    v = pb.Volume(name=name, backing=backing, created_at="2026-12-06T10:00:00Z")
    if shared:
        v.options.update({"backing": "shared", "perfmode": "generalpurpose", "mode": "0755"})
        v.status.CopyFrom(pb.VolumeStatus(state=pb.VOLUME_STATE_CREATED, mountpoint="/var/lib/cloudstor/shared/" + name))
    else:
        v.options.update({"backing": "relocatable", "size": "10", "ebstype": "gp3", "iops": "3000"})
        v.status.CopyFrom(pb.VolumeStatus(state=state, node="node-1", mountpoint="/var/lib/cloudstor/mnt/" + name,
                                          zone="us-east-1a", cloud_id="vol-0123456789abcdef0", mount_count=1,
                                          device="/dev/nvme1n1", attachment_state="attached", holders=["node-1"]))
    return v


def grpc_frame(message, flag=0):
    return struct.pack(">BI", flag, len(message)) + message


# ---- volume_options: name line, then KEY=VALUE lines; byte 0's low bit = default backing.
for i, (backing, name, opts) in enumerate([
    (0, "data", "size=1"),
    (0, "web-1.db_2", "size=100\nebstype=io1\niops=5000"),
    (0, "gp3vol", "size=20\nebstype=gp3\niops=12000"),
    (0, "big", "backing=local\nsize=125\nebstype=st1"),
    (1, "common", "backing=shared\nuid=1000\ngid=1000\nmode=2770"),
    (1, "fast", "perfmode=maxio\nmode=1777"),
    (0, "-bad", "size=0"),
    (0, "a" * 256, "size=1"),
    (0, "x", "size=99999999999999999999\niops=3000"),
    (1, "s", "backing=shared\nsize=1"),
]):
    write("volume_options", "seed-%02d" % i, bytes([backing]) + ("%s\n%s" % (name, opts)).encode())

# ---- ec2_xml: EC2 Query API replies (2016-11-15), as EC2 and tools/ec2sim send them.
NS = 'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"'
VOLUME_ITEM = """<item><volumeId>vol-0123456789abcdef0</volumeId><size>10</size><snapshotId/><availabilityZone>us-east-1a</availabilityZone>
<status>in-use</status><createTime>2026-12-06T10:00:00.000Z</createTime><attachmentSet><item><volumeId>vol-0123456789abcdef0</volumeId>
<instanceId>i-0abc</instanceId><device>/dev/xvdf</device><status>attached</status><attachTime>2026-12-06T10:01:00.000Z</attachTime>
<deleteOnTermination>false</deleteOnTermination></item></attachmentSet><volumeType>gp3</volumeType><iops>3000</iops><encrypted>false</encrypted>
<tagSet><item><key>CloudstorVolume</key><value>data</value></item><item><key>CloudstorHolder</key><value>i-0abc</value></item></tagSet>
<multiAttachEnabled>false</multiAttachEnabled><throughput>125</throughput></item>"""
ec2 = {
    "describe-volumes": f'<?xml version="1.0" encoding="UTF-8"?>\n<DescribeVolumesResponse {NS}><requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId><volumeSet>{VOLUME_ITEM}</volumeSet><nextToken>page-2</nextToken></DescribeVolumesResponse>',
    "describe-volumes-empty": f'<?xml version="1.0" encoding="UTF-8"?>\n<DescribeVolumesResponse {NS}><requestId>r</requestId><volumeSet/></DescribeVolumesResponse>',
    "create-volume": f'<?xml version="1.0" encoding="UTF-8"?>\n<CreateVolumeResponse {NS}><requestId>r</requestId><volumeId>vol-1</volumeId><size>1</size><snapshotId></snapshotId><availabilityZone>us-east-1a</availabilityZone><status>creating</status><createTime>2026-12-06T10:00:00.000Z</createTime><volumeType>standard</volumeType><encrypted>false</encrypted><tagSet><item><key>CloudstorVolume</key><value>data</value></item></tagSet></CreateVolumeResponse>',
    "attach-volume": f'<AttachVolumeResponse {NS}><requestId>r</requestId><volumeId>vol-1</volumeId><instanceId>i-1</instanceId><device>/dev/xvdf</device><status>attaching</status><attachTime>2026-12-06T10:00:00.000Z</attachTime></AttachVolumeResponse>',
    "detach-volume": f'<DetachVolumeResponse {NS}><requestId>r</requestId><volumeId>vol-1</volumeId><instanceId>i-1</instanceId><device>/dev/xvdf</device><status>detaching</status></DetachVolumeResponse>',
    "create-snapshot": f'<CreateSnapshotResponse {NS}><requestId>r</requestId><snapshotId>snap-1</snapshotId><volumeId>vol-1</volumeId><status>pending</status><startTime>2026-12-06T10:00:00.000Z</startTime><progress></progress><ownerId>123456789012</ownerId><volumeSize>10</volumeSize><description>cloudstor move</description><encrypted>false</encrypted></CreateSnapshotResponse>',
    "describe-snapshots": f'<DescribeSnapshotsResponse {NS}><requestId>r</requestId><snapshotSet><item><snapshotId>snap-1</snapshotId><volumeId>vol-1</volumeId><status>completed</status><startTime>2026-12-06T10:00:00.000Z</startTime><progress>100%</progress><ownerId>123456789012</ownerId><volumeSize>10</volumeSize><description>x</description><tagSet><item><key>CloudstorMove</key><value>a1</value></item></tagSet></item></snapshotSet></DescribeSnapshotsResponse>',
    "describe-instances": f'<DescribeInstancesResponse {NS}><requestId>r</requestId><reservationSet><item><reservationId>r-1</reservationId><ownerId>1</ownerId><groupSet/><instancesSet><item><instanceId>i-0abc</instanceId><imageId>ami-1</imageId><instanceState><code>16</code><name>running</name></instanceState><placement><availabilityZone>us-east-1a</availabilityZone><tenancy>default</tenancy></placement><blockDeviceMapping><item><deviceName>/dev/xvda</deviceName><ebs><volumeId>vol-root</volumeId><status>attached</status></ebs></item><item><deviceName>/dev/xvdf</deviceName><ebs><volumeId>vol-1</volumeId></ebs></item></blockDeviceMapping></item></instancesSet></item></reservationSet></DescribeInstancesResponse>',
    "create-tags": f'<CreateTagsResponse {NS}><requestId>r</requestId><return>true</return></CreateTagsResponse>',
    "error": '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>InvalidVolume.NotFound</Code><Message>The volume \'vol-x\' does not exist.</Message></Error></Errors><RequestID>req-7</RequestID></Response>',
    "error-throttle": '<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestId>r</RequestId></Response>',
    "entities": '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "x&amp;y">]><r><volumeId>&a;&lt;&#x41;</volumeId><![CDATA[<raw>]]></r>',
}
for i, (name, xml) in enumerate(ec2.items()):
    write("ec2_xml", name, xml)

# ---- efs_json: byte 0 = call (low 2 bits) | status (bits 2-4) | 0x80: first line is X-Amzn-ErrorType.
efs = [
    (0 | 7 << 2, {"FileSystems": [{"OwnerId": "123456789012", "CreationToken": "t", "FileSystemId": "fs-0123456789abcdef0",
                                   "FileSystemArn": "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0123456789abcdef0",
                                   "CreationTime": 1765000000.0, "LifeCycleState": "available", "Name": "cloudstor",
                                   "NumberOfMountTargets": 2, "SizeInBytes": {"Value": 6144}, "PerformanceMode": "generalPurpose",
                                   "Encrypted": False, "ThroughputMode": "bursting", "Tags": [{"Key": "Name", "Value": "cloudstor"}]}],
                   "NextMarker": "m2"}),
    (1 | 7 << 2, {"MountTargets": [{"OwnerId": "1", "MountTargetId": "fsmt-1", "FileSystemId": "fs-1", "SubnetId": "subnet-1",
                                    "LifeCycleState": "available", "IpAddress": "10.0.1.5", "NetworkInterfaceId": "eni-1",
                                    "AvailabilityZoneId": "use1-az1", "AvailabilityZoneName": "us-east-1a", "VpcId": "vpc-1"}]}),
    (2 | 7 << 2, {"AccessPoints": [{"ClientToken": "cloudstor-data", "Name": "data", "Tags": [{"Key": "CloudstorVolume", "Value": "data"}],
                                    "AccessPointId": "fsap-1", "AccessPointArn": "arn:x", "FileSystemId": "fs-1",
                                    "RootDirectory": {"Path": "/data", "CreationInfo": {"OwnerUid": 0, "OwnerGid": 0, "Permissions": "0755"}},
                                    "LifeCycleState": "available"}], "NextToken": "n2"}),
    (3 | 7 << 2, {"AccessPointId": "fsap-2", "FileSystemId": "fs-1", "LifeCycleState": "creating", "ClientToken": "t",
                  "RootDirectory": {"Path": "/x"}}),
    (0 | 2 << 2, {"ErrorCode": "FileSystemNotFound", "Message": "File system 'fs-x' does not exist."}),
    (2 | 4 << 2, {"__type": "com.amazonaws.elasticfilesystem#ThrottlingException", "message": "Rate exceeded"}),
]
for i, (selector, body) in enumerate(efs):
    write("efs_json", "seed-%02d" % i, bytes([selector]) + json.dumps(body).encode())
write("efs_json", "seed-header", bytes([0x80 | 1 | 3 << 2]) + b"AccessPointAlreadyExists:http://internal.amazon.com/coral/com.amazonaws.elasticfilesystem/\n" +
      json.dumps({"ErrorCode": "AccessPointAlreadyExists", "Message": "exists", "AccessPointId": "fsap-1"}).encode())

# ---- imds: raw HTTP responses to: PUT token, GET roles, GET credentials, GET zone.
def http(status, body, reason="OK", extra=""):
    return ("HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%sServer: EC2ws\r\n\r\n" % (status, reason, len(body), extra)).encode() + body.encode()
creds = json.dumps({"Code": "Success", "LastUpdated": "2026-12-06T10:00:00Z", "Type": "AWS-HMAC", "AccessKeyId": "ASIAEXAMPLE",
                    "SecretAccessKey": "secret", "Token": "token==", "Expiration": "2026-12-06T16:00:00Z"}, indent=2)
SEP = b"~~~\n"
write("imds", "role", SEP.join([http(200, "AQAEAtoken=="), http(200, "cloudstor-node\n"), http(200, creds), http(200, "us-east-1a")]))
write("imds", "no-role", SEP.join([http(200, "tok"), http(404, "", "Not Found")]))
write("imds", "token-refused", SEP.join([http(200, "tok"), http(401, "", "Unauthorized"), http(200, "tok2"), http(200, "role")]))
write("imds", "chunked", SEP.join([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntok\r\n0\r\n\r\n", http(200, "r"),
                                    http(200, json.dumps({"Code": "Expired", "AccessKeyId": "a", "SecretAccessKey": "b"}))]))
write("imds", "bad-json", SEP.join([http(200, "t"), http(200, "role\nother"), http(200, "{not json")]))

# ---- shim_json: byte 0 even: path line + body; odd: a serialized Volume.
docker = [
    ("/Plugin.Activate", ""), ("/VolumeDriver.Capabilities", ""),
    ("/VolumeDriver.Create", json.dumps({"Name": "data", "Opts": {"size": "1"}})),
    ("/VolumeDriver.Create", json.dumps({"Name": "shared1", "Opts": None})),
    ("/VolumeDriver.Remove", json.dumps({"Name": "data"})), ("/VolumeDriver.Get", json.dumps({"Name": "data"})),
    ("/VolumeDriver.List", "{}"), ("/VolumeDriver.Path", json.dumps({"Name": "data"})),
    ("/VolumeDriver.Mount", json.dumps({"Name": "data", "ID": "e5c1ab2bd31d4b1a8b6c9a3d7f0e1c2d"})),
    ("/VolumeDriver.Unmount", json.dumps({"Name": "data", "ID": "e5c1ab2bd31d4b1a8b6c9a3d7f0e1c2d"})),
    ("/VolumeDriver.Get", ""), ("/VolumeDriver.Create", '{"Name": 1}'), ("/VolumeDriver.Mount", '{"Name":"x"}'),
    ("/VolumeDriver.Nope", "{}"),
]
for i, (path, body) in enumerate(docker):
    write("shim_json", "call-%02d" % i, b"\x00" + path.encode() + b"\n" + body.encode())
write("shim_json", "volume-relocatable", b"\x01" + volume().SerializeToString())
write("shim_json", "volume-shared", b"\x01" + volume("common", pb.BACKING_SHARED, shared=True).SerializeToString())
odd = volume('we"ird\\\n\x01')
odd.options["k\x7f"] = "v\u2028\U0001F600"
write("shim_json", "volume-escapes", b"\x01" + odd.SerializeToString())

# ---- shim_http: a connection's bytes, as Docker's engine (Go net/http) sends them.
def docker_request(path, body):
    return ("POST %s HTTP/1.1\r\nHost: plugin\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: %d\r\n"
            "Accept: application/vnd.docker.plugins.v1.2+json\r\nContent-Type: application/vnd.docker.plugins.v1.2+json\r\n"
            "Accept-Encoding: gzip\r\n\r\n%s" % (path, len(body.encode()), body)).encode()
for i, (path, body) in enumerate(docker[:10]):
    write("shim_http", "call-%02d" % i, docker_request(path, body))
write("shim_http", "keep-alive-three", docker_request("/Plugin.Activate", "") + docker_request("/VolumeDriver.Get", '{"Name":"a"}') +
      docker_request("/VolumeDriver.List", "{}"))
write("shim_http", "chunked", b"POST /VolumeDriver.Get HTTP/1.1\r\nHost: plugin\r\nTransfer-Encoding: chunked\r\n\r\n"
      b"5\r\n{\"Nam\r\n9\r\ne\":\"data\"\r\n1\r\n}\r\n0\r\n\r\n")
write("shim_http", "get-method", b"GET /VolumeDriver.List?x=1 HTTP/1.1\r\nHost: plugin\r\n\r\n")
write("shim_http", "http10", b"POST /VolumeDriver.Path HTTP/1.0\r\nContent-Length: 15\r\n\r\n{\"Name\":\"data\"}")
write("shim_http", "expect-continue", b"POST /VolumeDriver.Create HTTP/1.1\r\nHost: p\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}")
write("shim_http", "garbage", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03")

# ---- grpc_message: byte 0 = encoding (low 2 bits) | frame size << 2; byte 1 = message type; byte 2 = timeout length.
TYPES = ["CreateRequest", "RemoveRequest", "GetRequest", "ListRequest", "MountRequest", "UnmountRequest", "PathRequest",
         "CapabilitiesRequest", "ClearHoldsRequest", "ListOrphansRequest", "PruneOrphansRequest", "HealthCheckRequest",
         "ServerReflectionRequest", "CreateResponse", "GetResponse", "ListResponse"]
create = pb.CreateRequest(name="data", options={"size": "1", "ebstype": "gp3"}).SerializeToString()
get = pb.GetRequest(name="data").SerializeToString()
listing = pb.ListResponse(volumes=[volume(), volume("common", pb.BACKING_SHARED, shared=True)]).SerializeToString()
mount = pb.MountRequest(name="data", id="abc").SerializeToString()
deflate = zlib.compress(create)
write("grpc_message", "create", bytes([0, 0, 3]) + b"10S" + grpc_frame(create))
write("grpc_message", "get-split", bytes([0 | 3 << 2, 2, 9]) + b"99999999H" + grpc_frame(get))
write("grpc_message", "two-mounts", bytes([0, 4, 2]) + b"5m" + grpc_frame(mount) + grpc_frame(mount))
write("grpc_message", "deflate", bytes([1, 0, 0]) + grpc_frame(deflate, 1))
write("grpc_message", "gzip", bytes([2, 0, 0]) + grpc_frame(gzip.compress(get), 1) + grpc_frame(get))
write("grpc_message", "list-response", bytes([0, 15, 0]) + grpc_frame(listing))
write("grpc_message", "health", bytes([0, 11, 0]) + grpc_frame(b"\x0a\x14cloudstor.v1.Volumes"))
write("grpc_message", "reflection", bytes([0, 12, 0]) + grpc_frame(b"\x3a\x00") + grpc_frame(b"\x22\x14cloudstor.v1.Volumes"))
write("grpc_message", "status", bytes([0, 0, 12]) + b"caf%C3%A9 %25" + grpc_frame(b""))
write("grpc_message", "bomb", bytes([1, 3, 0]) + grpc_frame(zlib.compress(b"\x0a" + b"\x80" * 4 + b"a" * 100000), 1))

# ---- grpc_connection: byte 0 = read size; then a client's HTTP/2 frames (after the preface), as h2 writes them.
import h2.connection, h2.config  # noqa: E402


def h2_client(calls, read_size=0, settings_ack=True):
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding=None))
    conn.initiate_connection()
    out = conn.data_to_send()
    assert out.startswith(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    out = out[24:]
    if settings_ack:
        out += b"\x00\x00\x00\x04\x01\x00\x00\x00\x00"  # ACK of the server's SETTINGS
    for path, messages, extra, end in calls:
        sid = conn.get_next_available_stream_id()
        headers = [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"),
                   ("content-type", "application/grpc"), ("te", "trailers"), ("user-agent", "grpc-python/1.85")] + extra
        conn.send_headers(sid, headers, end_stream=not messages and end)
        for i, m in enumerate(messages):
            conn.send_data(sid, m, end_stream=end and i == len(messages) - 1)
        out += conn.data_to_send()
    return bytes([read_size]) + out


CHECK = "/grpc.health.v1.Health/Check"
write("grpc_connection", "health-check", h2_client([(CHECK, [grpc_frame(b"")], [], True)]))
write("grpc_connection", "health-check-service", h2_client([(CHECK, [grpc_frame(b"\x0a\x14cloudstor.v1.Volumes")], [("grpc-timeout", "1S")], True)], 7))
write("grpc_connection", "health-watch", h2_client([("/grpc.health.v1.Health/Watch", [grpc_frame(b"")], [], False)]))
write("grpc_connection", "reflection", h2_client([("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                                    [grpc_frame(b"\x3a\x00"), grpc_frame(b"\x22\x14cloudstor.v1.Volumes"),
                                                     grpc_frame(b"\x1a\x1acloudstor/v1/volume.proto")], [], True)]))
write("grpc_connection", "unknown-method", h2_client([("/cloudstor.v1.Volumes/Get", [grpc_frame(get)], [], True)]))
write("grpc_connection", "gzip", h2_client([(CHECK, [grpc_frame(gzip.compress(b"\x0a\x00"), 1)], [("grpc-encoding", "gzip")], True)]))
write("grpc_connection", "bad-encoding", h2_client([(CHECK, [grpc_frame(b"")], [("grpc-encoding", "snappy")], True)]))
write("grpc_connection", "two-calls", h2_client([(CHECK, [grpc_frame(b"")], [], True), (CHECK, [grpc_frame(b"")], [("grpc-timeout", "1n")], False)], 13))

# ---- libcloudstor_reply: byte 0 = call; then per transfer: result byte, records [kind, len, bytes], 0xFF.
def rec(kind, data):
    data = data if isinstance(data, bytes) else data.encode()
    assert len(data) < 256
    return bytes([kind, len(data)]) + data


def reply(call, message, status="0", extra=b""):
    framed = grpc_frame(message)
    out = bytes([call, 0]) + rec(0, "200") + rec(2, "content-type: application/grpc") + rec(2, "grpc-accept-encoding: identity, deflate, gzip")
    for i in range(0, len(framed), 200):
        out += rec(1, framed[i:i + 200])
    return out + rec(2, "grpc-status: " + status) + extra + b"\xff"


CALLS = {"get": 0, "list": 1, "create": 2, "mount": 3, "path": 4, "capabilities": 5, "health": 6, "remove": 7, "unmount": 8}
write("libcloudstor_reply", "get", reply(0, pb.GetResponse(volume=volume()).SerializeToString()))
write("libcloudstor_reply", "list", reply(1, pb.ListResponse(volumes=[volume("a"), volume("b", pb.BACKING_SHARED, shared=True)]).SerializeToString()))
write("libcloudstor_reply", "create", reply(2, pb.CreateResponse(volume=volume()).SerializeToString()))
write("libcloudstor_reply", "mount", reply(3, pb.MountResponse(mountpoint="/var/lib/cloudstor/mnt/data").SerializeToString()))
write("libcloudstor_reply", "path", reply(4, pb.PathResponse(mountpoint="").SerializeToString()))
write("libcloudstor_reply", "capabilities", reply(5, pb.CapabilitiesResponse(scope="global").SerializeToString()))
write("libcloudstor_reply", "health", reply(6, b"\x08\x01"))
write("libcloudstor_reply", "remove", reply(7, b""))
write("libcloudstor_reply", "unmount-refused", bytes([8, 0]) + rec(0, "200") + rec(2, "content-type: application/grpc") +
      rec(2, "grpc-status: 9") + rec(2, "grpc-message: volume data is mounted on node-2 %28twice%29") + b"\xff")
write("libcloudstor_reply", "http-404", bytes([0, 0]) + rec(0, "404") + b"\xff")
write("libcloudstor_reply", "retry", bytes([0, 0xF0, 0, 0]) + rec(0, "200") + rec(2, "grpc-status: 5") + rec(2, "grpc-message: no volume named data") + b"\xff")
write("libcloudstor_reply", "compressed", bytes([4, 0]) + rec(0, "200") + rec(1, grpc_frame(b"x", 1)) + rec(2, "grpc-status: 0") + b"\xff")
print("seeds written under", CORPUS)
