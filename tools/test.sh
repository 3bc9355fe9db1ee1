#!/bin/sh
# The README's test command: install what the tests need (tools/test-deps.sh),
# then run every test. Extra arguments go to pytest, e.g. tools/test.sh tests/config -x
set -eu
cd "$(dirname "$0")/.."
tools/test-deps.sh
exec .venv/bin/python -m pytest "$@"
