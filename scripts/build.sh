#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build.sh - configure and build Palisade with CMake (RelWithDebInfo), on all cores.
# Usage: scripts/build.sh [--sanitize] [BUILD_DIR]
#   --sanitize   AddressSanitizer + UndefinedBehaviorSanitizer build (-DSANITIZE=ON),
#                default folder build-asan/ (the one the integration tests use)
#   BUILD_DIR    build folder (default build/, or build-asan/ with --sanitize)
# With CI=true in the environment, warnings are errors (-DWERROR=ON).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
sanitize=OFF
dir=
for arg in "$@"; do
    case "$arg" in
        --sanitize) sanitize=ON ;;
        -h|--help) awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0"; exit 0 ;;
        -*) echo "build: unknown option $arg (see scripts/build.sh --help)" >&2; exit 2 ;;
        *) dir=$arg ;;
    esac
done
if [ -z "$dir" ]; then
    if [ "$sanitize" = ON ]; then dir="$top/build-asan"; else dir="$top/build"; fi
fi
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac

werror=OFF
[ "${CI:-}" = true ] && werror=ON
jobs=$(nproc 2>/dev/null || echo 2)

if ! command -v cmake >/dev/null; then
    echo "build: cmake is not installed; run scripts/deps.sh as root first" >&2
    exit 1
fi

echo "build: configuring $dir (RelWithDebInfo, SANITIZE=$sanitize, WERROR=$werror)"
if ! cmake -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DSANITIZE="$sanitize" -DWERROR="$werror"; then
    echo "build: cmake configure failed (above); missing libraries? run scripts/deps.sh as root" >&2
    exit 1
fi
echo "build: compiling with $jobs jobs"
if ! cmake --build "$dir" --parallel "$jobs"; then
    echo "build: compilation failed (errors above)" >&2
    exit 1
fi
echo "build: done, binaries in $dir"
