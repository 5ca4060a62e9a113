#!/usr/bin/env bash
# demo.sh - the main demonstration, from a fresh Debian 12 machine (as root):
# installs the packages vpxi needs (scripts/deps.sh), builds the release
# variant (scripts/build.sh release) and runs the demonstration with its
# defaults. Today the demonstration is the SPKI certificate flows of seed 000
# section 4.2 (scripts/demo-certs.sh); the overlay demonstration will take its
# place. Exit status 0 only if every step and every expected result succeeds.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
./scripts/deps.sh
./scripts/build.sh release
VPXI="$top/out/release/src/vpxi" exec ./scripts/demo-certs.sh
