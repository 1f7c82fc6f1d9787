#!/usr/bin/env bash
# `make run`: cloudstord on the local provider and cloudstor-shim, in the
# foreground. Ctrl-C (or SIGTERM) stops both cleanly. Paths are the production
# defaults unless CLOUDSTOR_* variables say otherwise (see --help of each).
set -uo pipefail
bin=${CLOUDSTOR_BIN:?}
socket=${CLOUDSTOR_SOCKET:-/run/cloudstor/cloudstor.sock}

"$bin/cloudstord" --socket "$socket" &
daemon=$!
for _ in $(seq 100); do
  [ -S "$socket" ] && break
  kill -0 "$daemon" 2>/dev/null || { wait "$daemon"; exit $?; }
  sleep 0.1
done
"$bin/cloudstor-shim" --service-socket "$socket" &
shim=$!

stop() { kill -TERM "$shim" "$daemon" 2>/dev/null; }
trap stop INT TERM
# Wait for either to end, then stop the other.
wait -n "$daemon" "$shim"
status=$?
stop
wait "$shim" "$daemon" 2>/dev/null
exit "$status"
