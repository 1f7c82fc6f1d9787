"""What the Python benches share: Python stubs of cloudstor.v1 generated from
proto/ (grpcio-tools), waiting for a process to listen on a unix socket, and a
process's resident memory."""
import importlib.resources
import os
import socket
import sys
import time

from grpc_tools import protoc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def volume_stubs(out):
    """(volume_pb2, volume_pb2_grpc), generated into the existing directory out."""
    well_known = str(importlib.resources.files("grpc_tools") / "_proto")
    if protoc.main(["protoc", f"-I{os.path.join(ROOT, 'proto')}", f"-I{well_known}", f"--python_out={out}",
                    f"--grpc_python_out={out}", "cloudstor/v1/volume.proto"]) != 0:
        sys.exit("protoc failed on proto/cloudstor/v1/volume.proto")
    sys.path.insert(0, out)
    from cloudstor.v1 import volume_pb2, volume_pb2_grpc
    return volume_pb2, volume_pb2_grpc


def wait_for_socket(path, proc, what, timeout=60.0, interval=0.05):
    """Returns once path accepts a connection; exits if proc ends or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited with {proc.returncode}")
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
                return
        except OSError:
            time.sleep(interval)
    sys.exit(f"{what} did not listen on {path}")


def rss_mib(pid):
    """(resident, of it anonymous memory, of it file pages: the binary's own code) in MiB."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["RssAnon"], fields["RssFile"]
