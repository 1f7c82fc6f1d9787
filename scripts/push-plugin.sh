#!/bin/sh
# Pushes a managed-plugin directory (make plugin: .build/plugin) to a registry as
# REF (HOST:PORT/cloudstor:TAG), through the engine at DOCKER_HOST (default the
# local one): `docker plugin create` then `docker plugin push`; the local copy is
# removed again, so this engine installs it from the registry like any other.
# usage: scripts/push-plugin.sh PLUGIN_DIR REF
set -eu
[ $# -eq 2 ] || { echo "usage: $0 PLUGIN_DIR HOST:PORT/cloudstor:TAG" >&2; exit 64; }
dir=$1 ref=$2
[ -f "$dir/config.json" ] && [ -d "$dir/rootfs" ] || { echo "push-plugin: $dir is no plugin directory (make plugin)" >&2; exit 66; }
docker plugin create "$ref" "$dir" >/dev/null
status=0
docker plugin push "$ref" || status=$?
docker plugin rm -f "$ref" >/dev/null
[ $status -eq 0 ] && echo "pushed $ref; on each node: docker plugin install --grant-all-permissions --alias cloudstor:aws $ref CLOUDSTOR_STACK_ID=..."
exit $status
