"""A Docker registry (Debian's docker-registry, distribution 2.x) for the tests
that install the managed plugin the way Swarm operators do: pushed once, then
`docker plugin install`ed on every node. Plain HTTP: the engines are started
with --insecure-registry ADDRESS. Stopped by pid; its storage is a directory of
the test's own."""
import os
import signal
import socket
import subprocess
import time

from conftest import free_port, read, stop

CONFIG = """version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}/data
  delete:
    enabled: true
http:
  addr: {address}
"""


class Registry:
    def __init__(self, root, host):
        self.root = root
        self.host = host
        self.proc = None

    def start(self):
        os.makedirs(os.path.join(self.root, "data"), exist_ok=True)
        port = free_port(self.host)
        self.address = f"{self.host}:{port}"
        config = os.path.join(self.root, "config.yml")
        with open(config, "w") as f:
            f.write(CONFIG.format(root=self.root, address=self.address))
        self.log = os.path.join(self.root, "registry.log")
        with open(self.log, "w") as logf:
            self.proc = subprocess.Popen(["docker-registry", "serve", config], stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection((self.host, port), timeout=1):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"docker-registry did not start:\n{read(self.log)}")
                time.sleep(0.1)
        return self

    def ref(self, tag):
        return f"{self.address}/cloudstor:{tag}"

    def stop(self):
        """docker-registry has no SIGTERM handler: it ends by the signal (-15)."""
        if self.proc is not None:
            return stop(self.proc)
        return -signal.SIGTERM
