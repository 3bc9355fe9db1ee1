#!/bin/sh
# Install everything the tests need, on a fresh Debian machine too: .venv/ with
# acme-client and pytest, mandoc, BIND's named and nsupdate (for the nsupdate
# hook's test; never started as a service), systemd (for systemd-analyze; never
# started), pebble and the web servers (Debian's, unpacked into .testbed/), and as root
# a venv on Debian's python3 for the unprivileged-user tests. Safe to run again.
# With ACME_DEPS=newest or oldest, both venvs get those releases instead, in
# directories of their own (tools/deps-profile.sh).
set -eu
cd "$(dirname "$0")/.."
. tools/deps-profile.sh
VENV=.venv$DEPS_SUFFIX EXTRAS='[test]' tools/bootstrap.sh
if ! command -v mandoc >/dev/null 2>&1; then
	# the manual pages are checked with mandoc -T lint
	if [ "$(id -u)" -eq 0 ]; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mandoc >/dev/null
	else
		echo "test: please install mandoc (the man page tests need it)" >&2
	fi
fi
if ! command -v named >/dev/null 2>&1 || ! command -v nsupdate >/dev/null 2>&1; then
	# examples/hooks/nsupdate is tested against a real name server (tools/nameserver.py)
	if [ "$(id -u)" -eq 0 ]; then
		# installed, not started: no named service on this machine (policy-rc.d says no, for this install only)
		guard=""
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && guard=yes
		fi
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bind9 bind9-dnsutils >/dev/null || status=$?
		[ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d
		[ "${status:-0}" -eq 0 ] || exit "$status"
	else
		echo "test: please install bind9 and bind9-dnsutils (the nsupdate hook's test needs them)" >&2
	fi
fi
if ! command -v systemd-analyze >/dev/null 2>&1; then
	# examples/systemd/ is checked with systemd-analyze (tests/integration/test_systemd_units.py):
	# installed, never started
	if [ "$(id -u)" -eq 0 ]; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
	else
		echo "test: please install systemd (its systemd-analyze checks the example units)" >&2
	fi
fi
".venv$DEPS_SUFFIX/bin/python" tools/testbed.py fetch
".venv$DEPS_SUFFIX/bin/python" tools/webservers.py fetch
if [ "$(id -u)" -eq 0 ] && [ -x /usr/bin/python3 ]; then
	# The unprivileged-user tests need an interpreter that user may run; .venv's
	# may live under a private home (pyenv in /root). Debian's python3 serves.
	PYTHON=/usr/bin/python3 VENV=.testbed/unprivileged-venv$DEPS_SUFFIX EXTRAS= tools/bootstrap.sh
fi
