"""The reference server: Python grpcio (gRPC's C core) answering the calls the wire
tests make, as cloudstord answers them on a new daemon. The tests run the same
client against both and expect the same behaviour.

    python3 grpc_reference.py STUBS_DIR SOCKET

STUBS_DIR holds the Python stubs of the conftest `pb` fixture. SIGTERM stops it
as gRPC servers stop: GOAWAY, calls in flight finish (7 s at most, as the daemon's
limit), then the process exits."""
import asyncio
import os
import signal
import sys

import grpc

sys.path.insert(0, sys.argv[1])
from cloudstor.v1 import volume_pb2 as v, volume_pb2_grpc as vg  # noqa: E402
from health_v1 import health_pb2 as h, health_pb2_grpc as hg  # noqa: E402

SERVICES = {"", "cloudstor.v1.Volumes", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}


class Volumes(vg.VolumesServicer):
    """A daemon with no volumes."""

    async def Get(self, request, context):
        await context.abort(grpc.StatusCode.NOT_FOUND, f"no such volume: {request.name}")

    async def List(self, request, context):
        # REF_LIST_VOLUMES=N: a reply of N volumes of about 1 KiB each (a client's reply limit).
        count = int(os.environ.get("REF_LIST_VOLUMES", "0"))
        return v.ListResponse(volumes=[v.Volume(name=f"{i:08d}" + "x" * 1000) for i in range(count)])

    async def Capabilities(self, request, context):
        return v.CapabilitiesResponse(scope="local")   # as cloudstord on the local provider without a cluster root


class Health(hg.HealthServicer):
    async def Check(self, request, context):
        if request.service not in SERVICES:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service}")
        return h.HealthCheckResponse(status=h.HealthCheckResponse.SERVING)

    async def Watch(self, request, context):
        known = request.service in SERVICES
        yield h.HealthCheckResponse(status=h.HealthCheckResponse.SERVING if known else h.HealthCheckResponse.SERVICE_UNKNOWN)
        await asyncio.Event().wait()  # until the client goes away or the server stops


async def main(path):
    server = grpc.aio.server()
    vg.add_VolumesServicer_to_server(Volumes(), server)
    hg.add_HealthServicer_to_server(Health(), server)
    server.add_insecure_port(f"unix://{path}")
    await server.start()
    stopping = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set_result, None)
    await stopping
    await server.stop(grace=7)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[2]))
