"""The committed Sources/Proto/*.rpc.swift is what scripts/protoc-gen-cloudstor-rpc
makes of proto/ now: a method added to the .proto without `make generate` fails
here, not at a client's first call."""
import importlib.resources
import os
import re

from grpc_tools import protoc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_committed_method_table_is_generated_from_the_proto(tmp_path):
    well_known = str(importlib.resources.files("grpc_tools") / "_proto")
    plugin = os.path.join(ROOT, "scripts", "protoc-gen-cloudstor-rpc")
    rc = protoc.main(["protoc", f"-I{os.path.join(ROOT, 'proto')}", f"-I{well_known}",
                      f"--plugin=protoc-gen-cloudstor-rpc={plugin}", f"--cloudstor-rpc_out={tmp_path}",
                      "cloudstor/v1/volume.proto"])
    assert rc == 0
    made = (tmp_path / "cloudstor_v1_volume.rpc.swift").read_text()
    with open(os.path.join(ROOT, "Sources", "Proto", "cloudstor_v1_volume.rpc.swift")) as f:
        committed = f.read()
    assert made == committed, "Sources/Proto is stale: run make generate"
    with open(os.path.join(ROOT, "proto", "cloudstor", "v1", "volume.proto")) as f:
        methods = re.findall(r"^\s*rpc (\w+)\(", f.read(), re.M)
    assert len(methods) >= 16, methods
    # The service's name, and a constant for each of its methods.
    assert made.count("public static let ") == 1 + len(methods)
    for method in methods:
        assert f"Method.{method[0].lower() + method[1:]}," in made, f"{method} has no route"
