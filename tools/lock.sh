#!/bin/sh
# Refresh the locks to the newest releases that pyproject.toml allows:
#   requirements.lock       what acme-client needs to run (the README installs it)
#   requirements-test.lock  the same pins plus the test tools (tools/test.sh installs it)
# Each pin carries the sha256 of every file the index has for that release, so
# the locks install with hash checking on any platform pip has a wheel for.
# pip-compile (pip-tools) runs from a throw-away venv: it is never a dependency
# of the project. Run tools/test.sh afterwards and commit the locks with it.
set -eu
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
PIP_TOOLS=pip-tools==7.7.0  # the version these locks were made with; raise it on purpose

# Resolve against the index alone (PyPI, or PIP_INDEX_URL): no pip configuration
# file, so none of its extra indexes or find-links directories, which may hold
# other builds of a release or lack the newest.
unset PIP_EXTRA_INDEX_URL PIP_FIND_LINKS
export PIP_CONFIG_FILE=/dev/null
export CUSTOM_COMPILE_COMMAND=tools/lock.sh  # what the header of each lock names

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --disable-pip-version-check "$PIP_TOOLS"

compile() {
	"$tmp/venv/bin/pip-compile" -q --upgrade --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links --no-emit-trusted-host "$@" pyproject.toml
}
compile --output-file requirements.lock
# the runtime pins stay those of requirements.lock
compile --extra test --constraint requirements.lock --output-file requirements-test.lock
