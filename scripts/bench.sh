#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench.sh - the Palisade / Prosody comparison: see test/bench/compare.sh --help.
exec "$(cd "$(dirname "$0")/.." && pwd)/test/bench/compare.sh" "$@"
