#!/bin/sh
# Install what the tests need, fetch pebble (Debian's, into .testbed/), run every test.
# Extra arguments go to pytest, e.g. tools/test.sh tests/config -x
set -eu
cd "$(dirname "$0")/.."
tools/bootstrap.sh
if ! command -v mandoc >/dev/null 2>&1; then
	# the manual pages are checked with mandoc -T lint
	if [ "$(id -u)" -eq 0 ]; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mandoc >/dev/null
	else
		echo "test: please install mandoc (the man page tests need it)" >&2
	fi
fi
.venv/bin/python tools/testbed.py fetch
exec .venv/bin/python -m pytest "$@"
