# Sourced by tools/bootstrap.sh, tools/test-deps.sh and tools/test.sh.
# ACME_DEPS says which releases of the dependencies a venv gets, and so which
# venv: DEPS_SUFFIX follows .venv and .testbed/unprivileged-venv.
#   locked (the default)  the pins in requirements*.lock, hash-checked   .venv/
#   newest                the newest releases, the lock ignored          .venv-newest/
#   oldest                every >= bound in pyproject.toml, pinned ==    .venv-oldest/
ACME_DEPS=${ACME_DEPS:-locked}
case $ACME_DEPS in
locked) DEPS_SUFFIX= ;;
newest | oldest) DEPS_SUFFIX=-$ACME_DEPS ;;
*)
	echo "ACME_DEPS=$ACME_DEPS: it may be locked, newest or oldest" >&2
	exit 2
	;;
esac
