#!/usr/bin/env bash
# check.sh - the whole test suite, as CI runs it:
#   1. installs the Debian packages it needs (scripts/deps.sh);
#   2. checks the formatting of all C sources (clang-format);
#   3. builds and runs every test (unit, vectors, CLI, network namespaces);
#   4. rebuilds with AddressSanitizer + UndefinedBehaviorSanitizer and runs
#      the suite again;
#   5. builds the libFuzzer targets with clang and runs each for
#      FUZZ_SECONDS (default 20) from its seed corpus.
# Exit status 0 only if every step passes. Tests that need root or a tool
# that cannot be installed say so and are reported as skipped.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
failed=()

step() { echo; echo "=== $*"; }

step "dependencies"
./scripts/deps.sh || { echo "cannot install dependencies"; exit 1; }

step "formatting (clang-format)"
mapfile -t srcs < <(git ls-files '*.c' '*.h' 2>/dev/null || find include lib src tests bench -name '*.[ch]')
if clang-format --dry-run --Werror "${srcs[@]}"; then echo "formatting ok (${#srcs[@]} files)"; else failed+=(format); fi

step "build and test (release)"
if ./scripts/build.sh release; then
    (cd out/release && ctest --output-on-failure -j2 --timeout 900) || failed+=(tests)
else
    failed+=(build)
fi

step "build and test (ASan + UBSan)"
if ./scripts/build.sh asan; then
    (cd out/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --output-on-failure -j2 --timeout 1800) || failed+=(asan-tests)
else
    failed+=(asan-build)
fi

step "fuzz targets (${FUZZ_SECONDS}s each)"
if ./scripts/build.sh fuzz; then
    for f in out/fuzz/tests/fuzz_*; do
        [ -x "$f" ] || continue
        name=$(basename "$f")
        corpus=tests/fuzz/corpus/${name#fuzz_}
        work=$(mktemp -d)
        [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null
        if "$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$work" \
            >"out/fuzz/$name.log" 2>&1; then
            echo "$name: $(grep -E 'stat::number_of_executed_units' "out/fuzz/$name.log" | awk '{print $2}') executions, ok"
        else
            echo "$name: FAILED"; tail -40 "out/fuzz/$name.log"; failed+=("$name")
        fi
        rm -rf "$work"
    done
else
    failed+=(fuzz-build)
fi

echo
if [ ${#failed[@]} -eq 0 ]; then
    echo "check.sh: ALL PASSED"
    exit 0
fi
echo "check.sh: FAILED: ${failed[*]}"
exit 1
