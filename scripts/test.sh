#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test.sh - run every test: install missing Debian packages (as root), build the
# sanitized build (build-asan/: AddressSanitizer + UndefinedBehaviorSanitizer), run the
# unit tests (ctest) and the integration tests (pytest + slixmpp against a real slapd and
# real nodes, test/integration/). Exits non-zero when either fails or finds no tests.
# Environment: PYTEST_ARGS="-k roster -x" passes extra arguments to pytest.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=$top/build-asan
step() { printf '\n==> %s\n' "$*"; }

step "checking Debian packages (scripts/deps.sh)"
if ! scripts/deps.sh; then
    echo "test: missing packages: run as root, or install what deps.sh listed above" >&2
    exit 1
fi

step "building the sanitized build (scripts/build.sh --sanitize $build)"
if ! scripts/build.sh --sanitize "$build"; then
    echo "test: the build failed (errors above)" >&2
    exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

step "unit tests (ctest)"
ctest --test-dir "$build" --output-on-failure --no-tests=error -j "$(nproc 2>/dev/null || echo 2)" \
    2>&1 | tee "$build/ctest.log"
unit_rc=${PIPESTATUS[0]}

step "integration tests (pytest test/integration)"
export PALISADE_BUILD=$build
# shellcheck disable=SC2086
/usr/bin/python3 -m pytest test/integration -p no:cacheprovider -ra ${PYTEST_ARGS:-}
int_rc=$?
if [ "$int_rc" -eq 5 ]; then
    echo "test: pytest collected no integration tests" >&2
fi

step "summary"
unit_summary=$(grep -E 'tests passed|tests failed|No tests were found' "$build/ctest.log" | tail -1)
echo "unit tests (ctest):           ${unit_summary:-no summary (ctest exit $unit_rc)}"
if [ "$int_rc" -eq 0 ]; then
    echo "integration tests (pytest):   passed"
else
    echo "integration tests (pytest):   FAILED (exit $int_rc; see the summary line above)"
fi
if [ "$unit_rc" -ne 0 ] || [ "$int_rc" -ne 0 ]; then
    exit 1
fi
