#!/bin/sh
# The README's test command: install what the tests need (tools/test-deps.sh),
# then run every test. Extra arguments go to pytest, e.g. tools/test.sh tests/config -x
# ACME_DEPS=newest or oldest runs them with those releases of the dependencies
# instead of the locked ones (tools/deps-profile.sh).
set -eu
cd "$(dirname "$0")/.."
. tools/deps-profile.sh
tools/test-deps.sh

python=.venv$DEPS_SUFFIX/bin/python
unprivileged_python=$PWD/.testbed/unprivileged-venv$DEPS_SUFFIX/bin/python
ACME_UNPRIVILEGED_PYTHON=${ACME_UNPRIVILEGED_PYTHON:-$unprivileged_python}
export ACME_UNPRIVILEGED_PYTHON

versions() {
	# versions PYTHON: which Python and which release of every distribution
	# installed beside it (name==version), so that a failure's log says which
	echo "test: ACME_DEPS=$ACME_DEPS: $1: $("$1" --version 2>&1)"
	"$1" -m pip freeze --disable-pip-version-check --exclude-editable | sed 's/^/test:     /'
}
versions "$python"
if [ -x "$ACME_UNPRIVILEGED_PYTHON" ]; then
	versions "$ACME_UNPRIVILEGED_PYTHON"
fi
exec "$python" -m pytest "$@"
