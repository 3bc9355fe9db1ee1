"""The README's main job: issue a real certificate from a local test CA.

Fetches pebble (Debian's package, into .testbed/) when absent, starts it on
loopback with real http-01 validation, writes an acme-client.conf into a new
directory under /tmp, runs `acme-client -v`, and says where the certificate is.
The directory is kept so you can look at the files; pebble stops when this ends.

    tools/demo.sh [--name NAME] [--keytype rsa|ecdsa]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from cryptography import x509

sys.path.insert(0, str(Path(__file__).resolve().parent))

from testbed import Testbed  # noqa: E402 (after the path)

ACME_CLIENT = Path(sys.executable).parent / "acme-client"


def write_config(work: Path, testbed: Testbed, name: str, keytype: str) -> Path:
    account_dir, key_dir, cert_dir = work / "account", work / "private", work / "certs"
    for directory, mode in ((account_dir, 0o700), (key_dir, 0o700), (cert_dir, 0o755)):
        directory.mkdir(mode=mode)
    config = work / "acme-client.conf"
    config.write_text(
        "# Written by tools/demo.py: a local pebble CA, and one domain.\n"
        + testbed.authority_block("pebble", account_dir / "pebble.key", "ecdsa")
        + f"""
domain {name} {{
\talternative names {{ www.{name} }}
\tdomain key "{key_dir / (name + '.key')}" {keytype}
\tdomain certificate "{cert_dir / (name + '.crt')}"
\tdomain full chain certificate "{cert_dir / (name + '.fullchain.pem')}"
\tsign with pebble
\tchallengedir "{testbed.challenge_dir}"
}}
"""
    )
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="demo.example.test")
    parser.add_argument("--keytype", choices=("rsa", "ecdsa"), default="ecdsa")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="acme-client-demo."))
    work.chmod(0o755)
    with Testbed() as testbed:
        print(f"pebble is up: {testbed.directory_url} (TLS CA {testbed.ca_file})")
        config = write_config(work, testbed, options.name, options.keytype)
        print(f"configuration: {config}\n")
        print(f"$ acme-client -v -f {config} {options.name}", flush=True)
        status = subprocess.run([str(ACME_CLIENT), "-v", "-f", str(config), options.name], check=False).returncode
        if status != 0:
            print(f"\nacme-client exited with status {status}", file=sys.stderr)
            return 1
        fullchain = work / "certs" / f"{options.name}.fullchain.pem"
        testbed.verify_chain(fullchain.read_bytes(), options.name)
    leaf = x509.load_pem_x509_certificates(fullchain.read_bytes())[0]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    print(f"\nissued: {', '.join(names.get_values_for_type(x509.DNSName))}, "
          f"valid until {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; it chains to pebble's root.")
    print(f"certificate: {work / 'certs' / (options.name + '.crt')}")
    print(f"full chain:  {fullchain}")
    print(f"domain key:  {work / 'private' / (options.name + '.key')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
