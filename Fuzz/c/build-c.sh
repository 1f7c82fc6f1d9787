#!/bin/sh
# Builds the C fuzz target for libcloudstor into $1 (clang with libFuzzer).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
lib=$here/../../libcloudstor
out=${1:-$here/../../.build-fuzz}
CLANG=${CLANG:-$(command -v /opt/swift/usr/bin/clang || command -v clang)}
mkdir -p "$out"
"$CLANG" -g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -fuse-ld=lld \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$here/../../include" -I"$lib/src" -I"$lib/gen" $(pkg-config --cflags libcurl libprotobuf-c) \
  "$here/libcloudstor_reply.c" "$lib/src/client.c" "$lib/src/volume.c" "$lib/src/errors.c" \
  "$lib/gen/cloudstor/v1/volume.pb-c.c" "$lib/gen/grpc/health/v1/health.pb-c.c" \
  $(pkg-config --libs libcurl libprotobuf-c) -o "$out/libcloudstor_reply"
