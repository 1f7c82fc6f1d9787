#!/usr/bin/env python3
"""Creates, lists and removes a Cloudstor volume through libcloudstor's C ABI
with ctypes: any language with a C FFI can do the same.

    volumes.py [--socket PATH] [NAME]

Loads $CLOUDSTOR_LIBRARY if set, else libcloudstor.so.0 from the loader's path
(LD_LIBRARY_PATH, ldconfig).
"""
import argparse
import ctypes
import os
import sys


class Option(ctypes.Structure):
    _fields_ = [("key", ctypes.c_char_p), ("value", ctypes.c_char_p)]


def load(path=None):
    lib = ctypes.CDLL(path or os.environ.get("CLOUDSTOR_LIBRARY") or "libcloudstor.so.0")
    P = ctypes.c_void_p
    sigs = {
        "cloudstor_version": (ctypes.c_char_p, []),
        "cloudstor_strerror": (ctypes.c_char_p, [ctypes.c_int]),
        "cloudstor_errmsg": (ctypes.c_char_p, [P]),
        "cloudstor_client_open": (ctypes.c_int, [ctypes.POINTER(P), ctypes.c_char_p]),
        "cloudstor_client_close": (None, [P]),
        "cloudstor_volume_create": (ctypes.c_int, [ctypes.POINTER(P), P, ctypes.c_char_p, ctypes.POINTER(Option),
                                                   ctypes.c_size_t]),
        "cloudstor_volume_remove": (ctypes.c_int, [P, ctypes.c_char_p]),
        "cloudstor_volume_list": (ctypes.c_int, [ctypes.POINTER(P), P]),
        "cloudstor_volumes_count": (ctypes.c_size_t, [P]),
        "cloudstor_volumes_at": (P, [P, ctypes.c_size_t]),
        "cloudstor_volumes_free": (None, [P]),
        "cloudstor_volume_name": (ctypes.c_char_p, [P]),
        "cloudstor_volume_backing": (ctypes.c_int, [P]),
        "cloudstor_volume_option": (ctypes.c_char_p, [P, ctypes.c_char_p]),
        "cloudstor_volume_free": (None, [P]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


class CloudstorError(Exception):
    def __init__(self, code, message):
        super().__init__(f"{message} ({code})")
        self.code = code


class Client:
    def __init__(self, lib, socket_path=None):
        self.lib = lib
        self.handle = ctypes.c_void_p()
        rc = lib.cloudstor_client_open(ctypes.byref(self.handle), socket_path.encode() if socket_path else None)
        if rc:
            raise CloudstorError(rc, lib.cloudstor_strerror(rc).decode())

    def _check(self, rc):
        if rc:
            raise CloudstorError(rc, self.lib.cloudstor_errmsg(self.handle).decode())

    def create(self, name, **options):
        opts = (Option * max(len(options), 1))(*[Option(k.encode(), v.encode()) for k, v in options.items()])
        vol = ctypes.c_void_p()
        self._check(self.lib.cloudstor_volume_create(ctypes.byref(vol), self.handle, name.encode(), opts, len(options)))
        try:
            return self.lib.cloudstor_volume_name(vol).decode(), self.lib.cloudstor_volume_backing(vol)
        finally:
            self.lib.cloudstor_volume_free(vol)

    def list(self):
        lst = ctypes.c_void_p()
        self._check(self.lib.cloudstor_volume_list(ctypes.byref(lst), self.handle))
        try:
            return [self.lib.cloudstor_volume_name(self.lib.cloudstor_volumes_at(lst, i)).decode()
                    for i in range(self.lib.cloudstor_volumes_count(lst))]
        finally:
            self.lib.cloudstor_volumes_free(lst)

    def remove(self, name):
        self._check(self.lib.cloudstor_volume_remove(self.handle, name.encode()))

    def close(self):
        self.lib.cloudstor_client_close(self.handle)
        self.handle = None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", help="cloudstord's socket (default $CLOUDSTOR_SOCKET or /run/cloudstor/cloudstor.sock)")
    parser.add_argument("name", nargs="?", default="ctypes-example")
    args = parser.parse_args()
    lib = load()
    print(f"libcloudstor {lib.cloudstor_version().decode()}")
    client = Client(lib, args.socket)
    try:
        name, backing = client.create(args.name, backing="shared")
        print(f"created {name} (backing {backing})")
        print("volumes:", " ".join(client.list()))
        client.remove(args.name)
        print(f"removed {args.name}")
        print("volumes:", " ".join(client.list()))
    except CloudstorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
