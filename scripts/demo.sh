#!/usr/bin/env bash
# demo.sh - the main demonstration, from a fresh Debian 12 machine (as root):
# installs the packages vpxi needs (scripts/deps.sh), builds the release
# variant (scripts/build.sh release) and runs the demonstration with its
# defaults: a VPXI of 7 virtual nodes over two sites on this machine, with a
# workload, per-link security, an outsider refused, a user added by
# delegation and the end of the VPXI (scripts/demo-vpxi.sh). The SPKI
# certificate flows alone are in scripts/demo-certs.sh. Exit status 0 only
# if every step and every expected result succeeds.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
./scripts/deps.sh
./scripts/build.sh release
BIN="$top/out/release" exec ./scripts/demo-vpxi.sh
