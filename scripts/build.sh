#!/usr/bin/env bash
# build.sh [release|asan|fuzz] - configures and builds into out/<variant>.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
variant=${1:-release}
jobs=$(nproc 2>/dev/null || echo 2)
case $variant in
release) cmake -S "$top" -B "$top/out/release" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null ;;
asan)    cmake -S "$top" -B "$top/out/asan" -DCMAKE_BUILD_TYPE=Debug -DVPXI_SANITIZE=ON >/dev/null ;;
fuzz)    CC=clang cmake -S "$top" -B "$top/out/fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVPXI_FUZZ=ON >/dev/null ;;
*) echo "usage: build.sh [release|asan|fuzz]" >&2; exit 2 ;;
esac
cmake --build "$top/out/$variant" -j "$jobs"
