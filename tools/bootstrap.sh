#!/bin/sh
# Make .venv/ with acme-client and its test tools installed (editable), on a
# fresh Debian machine too: as root, missing system packages are installed.
# The dependencies come from the lock, hash-checked (requirements-test.lock, or
# requirements.lock when EXTRAS is empty), then acme-client without them.
# PYTHON, VENV and EXTRAS choose the interpreter, the directory and the extras
# (tools/test-deps.sh makes a second venv on Debian's python3 with them);
# ACME_DEPS=newest or oldest installs other releases into another venv
# (tools/deps-profile.sh).
set -eu
cd "$(dirname "$0")/.."
. tools/deps-profile.sh

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv$DEPS_SUFFIX}
EXTRAS=${EXTRAS-[test]}

need_packages() {
	# need_packages PACKAGE...: install Debian packages that are missing (root only)
	missing=""
	for package in "$@"; do
		dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" ||
			missing="$missing $package"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "bootstrap: please install:$missing" >&2
		return 1
	fi
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
	need_packages python3
fi
if [ ! -x "$VENV/bin/python" ]; then
	if ! "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
		rm -rf "$VENV"
		need_packages python3-venv
		"$PYTHON" -m venv "$VENV"
	fi
fi
pip() {
	"$VENV/bin/python" -m pip -q --disable-pip-version-check "$@"
}
case $ACME_DEPS in
locked)
	case $EXTRAS in
	"") lock=requirements.lock ;;
	"[test]") lock=requirements-test.lock ;;
	*)
		echo "bootstrap: no lock has EXTRAS=$EXTRAS" >&2
		exit 2
		;;
	esac
	pip install --require-hashes -r "$lock"
	pip install --no-deps -e .
	;;
newest)
	# eager: an existing venv gets every newer release too, not only missing ones
	pip install --upgrade --upgrade-strategy eager -e ".$EXTRAS"
	;;
oldest)
	# pyproject.toml's lower bounds, each >= made ==, as constraints (what they
	# pull in comes at its newest)
	"$VENV/bin/python" - >"$VENV/oldest-constraints.txt" <<-'EOF'
	import re, tomllib
	with open("pyproject.toml", "rb") as file:
	    project = tomllib.load(file)["project"]
	for requirement in project["dependencies"] + sum(project["optional-dependencies"].values(), []):
	    print(re.sub(r"\s*>=\s*", "==", requirement))
	EOF
	pip install -c "$VENV/oldest-constraints.txt" -e ".$EXTRAS"
	;;
esac
