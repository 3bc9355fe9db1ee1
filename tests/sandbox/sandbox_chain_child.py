"""Run one real process chain with the strict sandbox: `python -I sandbox_chain_child.py REQUEST-JSON`.

The parent (acme_conf.proc.scheduler.run) is what acme-client runs; every child
jails itself with Grants.strict, seccomp's default action kills.  The request
names the CA's directory URL, its TLS CA file, a work folder and the options.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from acme_conf.config.plan import Authority, DomainJob, KeyType, Location
from acme_conf.proc import scheduler, settings


def job_for(request: dict) -> DomainJob:
    root = Path(request["root"])
    where = Location("sandbox-chain-test.conf", 1)
    authority = Authority(
        "pebble", request["directory_url"], root / "account/pebble.key", KeyType.ECDSA, None, False,
        Path(request["ca_file"]), where,
    )
    handle = request["handle"]
    certs = root / "certs"
    return DomainJob(
        handle, (handle, f"www.{handle}"), root / f"private/{handle}.key", KeyType(request["keytype"]), certs,
        certs / f"{handle}.crt", certs / f"{handle}.chain.pem", certs / f"{handle}.fullchain.pem",
        authority, Path(request["challenge_dir"]), None, where,
    )


def main() -> int:
    request = json.loads(sys.argv[1])
    options = settings.RunOptions(strict_sandbox=True, verbosity=2, **request["options"])
    return scheduler.run([job_for(request)], options)


if __name__ == "__main__":
    sys.exit(main())
