#!/usr/bin/env bash
# Builds everything and runs every test: unit tests, Pax Exam tests in the real
# distribution, and multi-process scenario tests. Longer runs (benchmarks, soaks) are
# not part of this; see bench/ and docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")"
exec mvn -B verify "$@"
