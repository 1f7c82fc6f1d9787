#!/bin/sh
# Builds the fuzz targets (libFuzzer + AddressSanitizer) and runs each for SECONDS
# (default 30), printing per target its executions, executions per second and
# crashes. Exits non-zero if any target crashed, hung or ran out of memory; the
# input that did it is left in FINDINGS/<target>/ (default .build-fuzz/findings).
#
#   Fuzz/run.sh [SECONDS] [TARGET...]        e.g. Fuzz/run.sh 10, Fuzz/run.sh 300 ec2_xml
#   Fuzz/run.sh --runs N [TARGET...]         N inputs each from a fixed seed (make test)
#
# Each target starts from its committed seeds (Fuzz/corpus/<target>) and the
# inputs that once crashed it (Fuzz/regressions/<target>), and keeps what it
# learns in .build-fuzz/corpus/<target> (not committed) for the next run.
# Environment: FUZZ_JOBS (build jobs, default 1), FINDINGS, SWIFT, CLANG.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# `--runs N`: N inputs per target from a fixed seed instead of a time: the same
# inputs every run, as `make test` needs (a time-bounded run explores new ground
# each time, which is `make fuzz`'s job).
if [ "${1:-}" = "--runs" ]; then
    limit="-runs=${2:?--runs needs a count} -seed=1"; seconds="${2}r"; shift 2
else
    seconds=${1:-30}; limit="-max_total_time=$seconds"
    [ $# -gt 0 ] && shift
fi
scratch=$root/.build-fuzz
findings=${FINDINGS:-$scratch/findings}
SWIFT=${SWIFT:-swift}
swift_targets="shim_http shim_json grpc_message grpc_connection volume_options ec2_xml efs_json imds"
c_targets="libcloudstor_reply"
targets=${*:-$swift_targets $c_targets}

mkdir -p "$scratch"
echo "== building fuzz targets (debug, -sanitize=fuzzer,address) into $scratch"
"$SWIFT" build --package-path "$here" --scratch-path "$scratch" -j "${FUZZ_JOBS:-1}" \
    --sanitize=fuzzer --sanitize=address >"$scratch/fuzz-build.log" 2>&1 \
    || { tail -40 "$scratch/fuzz-build.log"; echo "fuzz: swift build failed (log: $scratch/fuzz-build.log)"; exit 2; }
bin=$("$SWIFT" build --package-path "$here" --scratch-path "$scratch" --show-bin-path --sanitize=fuzzer --sanitize=address)
"$here/c/build-c.sh" "$scratch" >>"$scratch/fuzz-build.log" 2>&1 \
    || { tail -20 "$scratch/fuzz-build.log"; echo "fuzz: the C target did not build"; exit 2; }

mkdir -p "$findings"
# A Swift trap goes to libFuzzer's handler (the Swift backtracer's reader trips ASan);
# LeakSanitizer only where asked (-detect_leaks below).
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
failed=0
total_execs=0
printf '%-20s %8s %12s %10s %8s\n' target seconds executions exec/s crashes
for target in $targets; do
    case " $c_targets " in
        *" $target "*) exe=$scratch/$target; leaks=1 ;;
        *) exe=$bin/$target; leaks=0 ;;  # Swift's runtime keeps caches LeakSanitizer would report
    esac
    [ -x "$exe" ] || { echo "fuzz: no target $target"; failed=1; continue; }
    work=$scratch/corpus/$target
    out=$findings/$target
    mkdir -p "$work" "$out"
    rm -f "$out"/crash-* "$out"/timeout-* "$out"/oom-* "$out"/leak-*
    seeds="$here/corpus/$target"
    [ -d "$here/regressions/$target" ] && seeds="$seeds $here/regressions/$target"
    log=$out/fuzz.log
    # shellcheck disable=SC2086
    ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=$leaks" "$exe" $limit -timeout=20 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
        -detect_leaks=$leaks -artifact_prefix="$out/" "$work" $seeds >"$log" 2>&1
    status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    crashes=$(find "$out" -maxdepth 1 \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi  # died without an artifact
    printf '%-20s %8s %12s %10s %8s\n' "$target" "$seconds" "${execs:-?}" "${rate:-?}" "$crashes"
    total_execs=$((total_execs + ${execs:-0}))
    if [ "$crashes" -ne 0 ]; then
        failed=1
        echo "  $target failed (exit $status); log: $log"
        grep -m1 -E 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|Fatal error|fuzz property failed|SUMMARY' "$log" | sed 's/^/  /'
        for f in "$out"/crash-* "$out"/timeout-* "$out"/oom-* "$out"/leak-*; do [ -e "$f" ] && echo "  input: $f"; done
    fi
done
echo "total executions: $total_execs"
if [ "$failed" -ne 0 ]; then
    echo "fuzz: FAILED: keep each input in Fuzz/regressions/<target>/ and turn it into a unit test"
    exit 1
fi
echo "fuzz: no crashes"
