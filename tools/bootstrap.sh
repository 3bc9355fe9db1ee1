#!/bin/sh
# Make .venv/ with acme-client and its test tools installed (editable), on a
# fresh Debian machine too: as root, missing system packages are installed.
# PYTHON, VENV and EXTRAS choose the interpreter, the directory and the extras
# (tools/test-deps.sh makes a second venv on Debian's python3 with them).
set -eu
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
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
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".$EXTRAS"
