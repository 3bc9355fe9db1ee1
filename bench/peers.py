#!/usr/bin/env python3
"""Issuance side by side: acme-client, the floor and other ACME clients on one local pebble.

One pebble (tools/testbed.py: real http-01 validation, every name resolving to
127.0.0.1 through pebble-challtestsrv, PEBBLE_VA_NOSLEEP, no Retry-After,
pebble's 5 % of rejected nonces) serves every client in turn, in the
scenarios of bench/issue.py:
  (a) one certificate with one name
  (b) one certificate with 20 names
  (c) ten certificates in one run
The clients:
  acme-client   ours, the one installed beside this interpreter
  floor         bench/floor.py: one process, stdlib + cryptography
  acme-tiny     from PyPI, into a temporary venv
  certbot       from PyPI, into the same temporary venv (certonly --webroot)
  uacme         Debian's package for this release, unpacked with dpkg -x
  lego          Debian unstable's package (a static Go program), unpacked
Nothing is installed into the system or the project: the peers go into one
temporary directory (apt-get with lists of its own, pip without a cache),
which is removed at the end, with pebble and every working directory.

Each run starts from nothing: new account, new keys, new working directory.
What is timed is the wall time of the client's own commands, start to exit,
and only theirs: installing, writing a configuration or a hook, and (for
acme-tiny, which takes them as input) making its account key and CSRs are
not. A second table gives the CPU time (user + system) of the same runs, the
client's processes only: on a busy machine the wall time of a client of many
processes waits for the cores longer. A client that cannot issue several
certificates in one invocation runs once per certificate in (c), one after
another, the first creating the account. The rounds interleave the clients, so that the machine's drift
touches all alike; each client has one untimed warm-up run first (page cache,
.pyc files). Medians of --runs runs.

    .venv/bin/python bench/peers.py [--runs N] [--scenario a,b,c] [--peers acme-tiny,certbot,uacme,lego|none]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

sys.dont_write_bytecode = True  # importing issue.py must leave no __pycache__ in bench/
BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tools"))

from cryptography import x509  # noqa: E402 (after the path)
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from cryptography.x509.verification import VerificationError  # noqa: E402
from issue import Scenario, scenarios, write_config  # noqa: E402
from testbed import Testbed, apt_options  # noqa: E402

from acme_conf.proc.locks import lock_directory  # noqa: E402

ACME_CLIENT = Path(sys.executable).parent / "acme-client"
PEERS = ("acme-tiny", "certbot", "uacme", "lego")
COMMAND_TIMEOUT = 600.0  # lego has taken 95 s for (b) on this kind of machine
INSTALL_TIMEOUT = 600.0
# uacme's libcurl trusts only the system's bundle; in a mount namespace of its
# own, the testbed's CA takes that file's place for uacme alone.
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# pebble is on loopback: a proxy from the environment must not carry a client's requests elsewhere
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)  # added to this process's environment
    stdout: Path | None = None  # where the output goes (acme-tiny prints the chain)


@dataclass(frozen=True)
class Bench:
    """What every client is given: the CA and where http-01 files are served from."""

    testbed: Testbed
    webroot: Path  # served at http://NAME/ (certbot's and lego's --webroot)
    challenge_dir: Path  # webroot/.well-known/acme-challenge, the testbed's challenge directory

    @property
    def url(self) -> str:
        return self.testbed.directory_url

    @property
    def ca_file(self) -> Path:
        return self.testbed.ca_file


class Contender(Protocol):
    @property
    def name(self) -> str:
        """The table's row."""
        ...

    def commands(self, bench: Bench, scenario: Scenario, work: Path) -> list[Command]:
        """Prepare `work` (untimed) and say what to run, in order, for one run of the scenario."""
        ...

    def certificate(self, work: Path, names: Sequence[str]) -> Path:
        """Where the run left the certificate (leaf first) for these names."""
        ...


@dataclass(frozen=True)
class Unavailable:
    name: str
    reason: str


@dataclass(frozen=True)
class Ours:
    name: str = "acme-client (ours)"

    def commands(self, bench: Bench, scenario: Scenario, work: Path) -> list[Command]:
        config = write_config(work, bench.testbed, scenario)
        # its per-domain state (/var/db/acme for root) stays in the working directory
        return [Command((str(ACME_CLIENT), "-f", str(config)), {"ACME_CLIENT_STATE_DIR": str(work / "state")})]

    def certificate(self, work: Path, names: Sequence[str]) -> Path:
        return work / "certs" / f"{names[0]}.pem"


@dataclass(frozen=True)
class Floor:
    name: str = "floor (bench/floor.py)"

    def commands(self, bench: Bench, scenario: Scenario, work: Path) -> list[Command]:
        argv = [sys.executable, str(BENCH / "floor.py"), "--directory", bench.url, "--ca-file", str(bench.ca_file)]
        argv += ["--challenge-dir", str(bench.challenge_dir), "--out", str(work)]
        argv += [",".join(names) for names in scenario.domains]
        return [Command(tuple(argv), {"PYTHONDONTWRITEBYTECODE": "1"})]

    def certificate(self, work: Path, names: Sequence[str]) -> Path:
        return work / f"{names[0]}.fullchain.pem"


@dataclass(frozen=True)
class AcmeTiny:
    program: Path
    name: str

    def commands(self, bench: Bench, scenario: Scenario, work: Path) -> list[Command]:
        # acme-tiny takes an RSA account key (it reads no other) and a CSR; making them is not its work
        account_key = work / "account.key"
        write_key(account_key, rsa.generate_private_key(public_exponent=65537, key_size=2048))
        env = {"SSL_CERT_FILE": str(bench.ca_file)}  # urllib's default context reads it
        runs = []
        for names in scenario.domains:
            csr = write_key_and_csr(work, names)
            argv = (str(self.program), "--account-key", str(account_key), "--csr", str(csr),
                    "--acme-dir", str(bench.challenge_dir), "--directory-url", bench.url, "--quiet",
                    # its self-check would fetch http://NAME/ itself, and only pebble resolves the names
                    "--disable-check")
            runs.append(Command(argv, env, stdout=work / f"{names[0]}.crt"))
        return runs

    def certificate(self, work: Path, names: Sequence[str]) -> Path:
        return work / f"{names[0]}.crt"


@dataclass(frozen=True)
class Certbot:
    program: Path
    name: str

    def commands(self, bench: Bench, scenario: Scenario, work: Path) -> list[Command]:
        env = {"REQUESTS_CA_BUNDLE": str(bench.ca_file)}
        common = (str(self.program), "certonly", "--non-interactive", "--agree-tos",
                  "--register-unsafely-without-email", "--server", bench.url,
                  "--config-dir", str(work / "config"), "--work-dir", str(work / "work"),
                  "--logs-dir", str(work / "logs"), "--key-type", "ecdsa", "--elliptic-curve", "secp384r1",
                  "--webroot", "--webroot-path", str(bench.webroot))
        return [Command(common + domain_flags(names), env) for names in scenario.domains]

    def certificate(self, work: Path, names: Sequence[str]) -> Path:
        return work / "config" / "live" / names[0] / "fullchain.pem"


@dataclass(frozen=True)
class Uacme:
    program: Path
    name: str

    def commands(self, bench: Bench, scenario: Scenario, work: Path) -> list[Command]:
        hook = write_uacme_hook(work / "hook.sh", bench.challenge_dir)
        base = [str(self.program), "-a", bench.url, "-c", str(work / "uacme"), "-t", "EC"]
        steps = [[*base, "-y", "new"]]  # a P-256 account key (EC's default size)
        # -b 384 touches only the keys still to be made: the certificates'
        steps += [[*base, "-b", "384", "-o", "-h", str(hook), "issue", *names] for names in scenario.domains]
        script = f"mount --bind {shlex.quote(str(bench.ca_file))} {SYSTEM_CA_BUNDLE}\n"
        script += "".join(shlex.join(step) + "\n" for step in steps)
        # one namespace for the whole run: the trust swap costs the same once for (a) and (c)
        return [Command(("unshare", "--mount", "sh", "-ec", script))]

    def certificate(self, work: Path, names: Sequence[str]) -> Path:
        return work / "uacme" / names[0] / "cert.pem"


@dataclass(frozen=True)
class Lego:
    program: Path
    name: str

    def commands(self, bench: Bench, scenario: Scenario, work: Path) -> list[Command]:
        env = {"LEGO_CA_CERTIFICATES": str(bench.ca_file)}
        common = (str(self.program), "--server", bench.url, "--accept-tos", "--email", "bench@example.test",
                  "--key-type", "ec384", "--http", "--http.webroot", str(bench.webroot), "--path", str(work))
        return [Command(common + domain_flags(names) + ("run",), env) for names in scenario.domains]

    def certificate(self, work: Path, names: Sequence[str]) -> Path:
        return work / "certificates" / f"{names[0]}.crt"


def domain_flags(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(arg for name in names for arg in ("-d", name))


def write_key(path: Path, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(pem)
    path.chmod(0o600)


def write_key_and_csr(work: Path, names: Sequence[str]) -> Path:
    key = ec.generate_private_key(ec.SECP384R1())
    write_key(work / f"{names[0]}.key", key)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA384())
    )
    path = work / f"{names[0]}.csr"
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return path


def write_uacme_hook(path: Path, challenge_dir: Path) -> Path:
    """uacme's challenge hook: METHOD TYPE IDENT TOKEN AUTH. It takes http-01 only
    (a non-zero exit declines a challenge, and uacme offers the next)."""
    directory = shlex.quote(str(challenge_dir))
    path.write_text(
        "#!/bin/sh\n"
        '[ "$2" = http-01 ] || exit 1\n'
        f'if [ "$1" = begin ]; then printf %s "$5" > {directory}/"$4"; else rm -f {directory}/"$4"; fi\n'
    )
    path.chmod(0o755)
    return path


# ---------------------------------------------------------------------------
# Installing the peers


def run_tool(argv: Sequence[str], cwd: Path | None = None) -> str:
    """Run an installer; its output, or ValueError with the tail of what it said."""
    try:
        done = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
                              stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ValueError(f"{argv[0]}: {error}") from None
    if done.returncode != 0:
        said = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        raise ValueError(f"{' '.join(argv[:3])}: exit {done.returncode}: {said[-1] if said else ''}")
    return done.stdout


def install_python_peers(wanted: Sequence[str], tools: Path) -> dict[str, Contender | Unavailable]:
    """acme-tiny and certbot from PyPI into a venv of their own, not the project's."""
    venv = tools / "pyvenv"
    try:
        run_tool([sys.executable, "-m", "venv", str(venv)])
        run_tool([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-cache-dir",
                  "--disable-pip-version-check", *wanted])
    except ValueError as error:
        return {name: Unavailable(name, f"pip: {error}") for name in wanted}
    found: dict[str, Contender | Unavailable] = {}
    for name in wanted:
        version = run_tool([str(venv / "bin" / "python"), "-c",
                            f"import importlib.metadata as m; print(m.version({name!r}))"]).strip()
        label = f"{name} {version}"
        program = venv / "bin" / name
        found[name] = AcmeTiny(program, label) if name == "acme-tiny" else Certbot(program, label)
    return found


def debian_release() -> str | None:
    """The system's Debian codename: uacme must link the libraries this system has."""
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip('"') or None
    return None


def install_debian_peers(wanted: Sequence[str], tools: Path) -> dict[str, Contender | Unavailable]:
    """uacme (this release's) and lego (unstable's, a static program) with apt-get
    download and dpkg -x: lists, cache and files all under `tools`."""
    apt = tools / "apt"
    for folder in (apt / "lists" / "partial", apt / "apt-cache" / "archives" / "partial", apt / "debs"):
        folder.mkdir(parents=True)
    release = debian_release()
    releases = {"uacme": release or "sid", "lego": "sid"}
    (apt / "sources.list").write_text("".join(f"deb {DEBIAN_MIRROR} {r} main\n" for r in sorted(set(releases.values()))))
    options = apt_options(apt, "sources.list")
    try:
        run_tool(["apt-get", *options, "update"])
    except ValueError as error:
        return {name: Unavailable(name, f"apt-get update: {error}") for name in wanted}
    return {name: unpack_debian_peer(name, releases[name], options, apt) for name in wanted}


def unpack_debian_peer(name: str, release: str, options: Sequence[str], apt: Path) -> Contender | Unavailable:
    try:
        run_tool(["apt-get", *options, "download", f"{name}/{release}"], cwd=apt / "debs")
        deb = next((apt / "debs").glob(f"{name}_*.deb"))
        version = run_tool(["dpkg-deb", "-f", str(deb), "Version"]).strip()
        run_tool(["dpkg", "-x", str(deb), str(apt / "root")])
        program = apt / "root" / "usr" / "bin" / name
        if name == "uacme":
            check_uacme_runs(program)
            return Uacme(program, f"uacme {version}")
        run_tool([str(program), "--version"])
        return Lego(program, f"lego {version}")
    except (ValueError, StopIteration) as error:
        return Unavailable(name, str(error) or "apt-get downloaded nothing")


def check_uacme_runs(program: Path) -> None:
    """uacme links the system's libcurl and GnuTLS, and needs a mount namespace."""
    if not SYSTEM_CA_BUNDLE.is_file():
        raise ValueError(f"no {SYSTEM_CA_BUNDLE} to stand the testbed's CA in for")
    done = subprocess.run([str(program), "-V"], capture_output=True, text=True, check=False, timeout=30)
    if "version" not in done.stderr.lower() + done.stdout.lower():
        raise ValueError(f"uacme -V: {(done.stderr or done.stdout).strip()[-200:]}")
    run_tool(["unshare", "--mount", "true"])


# ---------------------------------------------------------------------------
# Running and timing


@dataclass(frozen=True)
class Outcome:
    seconds: float | None  # wall time
    cpu: float | None = None  # user + system time of the client's processes
    failure: str = ""
    stderr: str = ""  # the failed command's last lines, printed under the table


def children_cpu() -> float:
    """CPU seconds of this process's reaped children (and theirs, reaped by them)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_commands(commands: Sequence[Command], cwd: Path) -> Outcome:
    """Run the commands in turn; the wall and CPU time of all of them, or why one failed.
    The CPU time is telling on a busy machine, where the wall time waits for the cores."""
    elapsed = 0.0
    cpu_before = children_cpu()
    for command in commands:
        env = {name: value for name, value in os.environ.items() if name not in PROXY_VARIABLES} | dict(command.env)
        with open(command.stdout or os.devnull, "wb") as out, open(cwd / "stderr.txt", "wb+") as err:
            started = time.perf_counter()
            # a session of its own: on a timeout the whole group goes, children too
            proc = subprocess.Popen(command.argv, cwd=cwd, env=env, stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                status = proc.wait(timeout=COMMAND_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return Outcome(None, failure=f"{Path(command.argv[0]).name} took over {COMMAND_TIMEOUT:.0f} s")
            elapsed += time.perf_counter() - started
            if status != 0:
                err.seek(0)
                said = err.read().decode("utf-8", "replace")
                failure = f"{Path(command.argv[0]).name} exited {status}: {last_lines(said, 1)}"
                return Outcome(None, failure=failure, stderr=last_lines(said, 15))
    return Outcome(elapsed, children_cpu() - cpu_before)


def last_lines(output: str, count: int) -> str:
    # a URL of pebble's says nothing the table needs, and makes a cell three lines wide
    lines = [re.sub(r"https?://\S+", "<url>", line.rstrip())[:300] for line in output.splitlines() if line.strip()]
    return "\n".join(lines[-count:]) if lines else "(nothing on stderr)"


def missing_certificate(contender: Contender, bench: Bench, scenario: Scenario, work: Path) -> str:
    """Why a run that exited 0 did not issue what it was asked (checked untimed), or ''.
    Every client's file is a full chain, leaf first."""
    for names in scenario.domains:
        path = contender.certificate(work, names)
        if not path.is_file():
            return f"exited 0 but wrote no {path.relative_to(work)}"
        try:
            leaf = bench.testbed.verify_chain(path.read_bytes(), names[0])[0]
        except (ValueError, VerificationError) as error:
            return f"{path.relative_to(work)} does not chain to pebble's root: {error}"
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        if set(san.get_values_for_type(x509.DNSName)) != set(names):
            return f"{path.relative_to(work)} does not name the {len(names)} names asked"
    return ""


def run_once(contender: Contender, bench: Bench, scenario: Scenario, scratch: Path) -> Outcome:
    """One fresh run: a new working directory, removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix=f"{scenario.key}.", dir=scratch))
    work.chmod(0o755)
    try:
        outcome = run_commands(contender.commands(bench, scenario, work), work)
        if outcome.seconds is not None and (why := missing_certificate(contender, bench, scenario, work)):
            return Outcome(None, failure=why)
        return outcome
    finally:
        shutil.rmtree(work, ignore_errors=True)


def tagged_scenarios(tag: str) -> dict[str, Scenario]:
    """bench/issue.py's scenarios under a name of this run's: acme-client's lock
    files are named after the domain, and another run's must not be touched."""
    renamed = {}
    for key, scenario in scenarios().items():
        domains = tuple(tuple(n.replace(".example.test", f".{tag}.example.test") for n in names) for names in scenario.domains)
        renamed[key] = Scenario(key, scenario.title, domains)
    return renamed


def remove_lock_files(tag: str) -> None:
    """acme-client leaves a lock file per domain in /run/acme-client (root): this run's go."""
    for path in lock_directory().glob(f"*.{tag}.example.test.lock"):
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------
# The table


def cell(results: list[Outcome], what: str, ours: float | None, why: bool) -> str:
    """The median of `what` ("seconds" or "cpu") and its ratio to ours; a run that
    failed is counted, not timed (and `why` says why)."""
    failures = [r.failure for r in results if r.seconds is None]
    median = median_of(results, what)
    if median is None:
        return (f"failed: {failures[0]}" if why else "failed") if failures else "-"
    text = f"{median:.3f} s" + (f" ({median / ours:.2f}x)" if ours else "")
    if failures:
        text += f", {len(failures)} of {len(results)} runs failed" + (f": {failures[0]}" if why else "")
    return text


def median_of(results: list[Outcome], what: str) -> float | None:
    values = [getattr(r, what) for r in results if r.seconds is not None]
    return statistics.median(values) if values else None


def print_table(rows: list[Contender | Unavailable], results: dict[tuple[str, str], list[Outcome]],
                chosen: list[Scenario], what: str) -> None:
    """One table of medians, `what` being "seconds" (wall) or "cpu"; failures explained in the first."""
    ours = {s.key: median_of(results.get((Ours().name, s.key), []), what) for s in chosen}
    header = ["client"] + [f"({s.key}) {s.title}" for s in chosen]
    lines = [header, ["---"] * len(header)]
    for row in rows:
        if isinstance(row, Unavailable):
            lines.append([row.name] + [f"not available: {row.reason}"] * len(chosen))
        else:
            why = what == "seconds"
            lines.append([row.name] + [cell(results.get((row.name, s.key), []), what, ours[s.key], why) for s in chosen])
    for line in lines:
        print("| " + " | ".join(line) + " |")
    ratios = []
    for scenario in chosen:
        mine, floor = ours[scenario.key], median_of(results.get((Floor().name, scenario.key), []), what)
        if mine and floor:
            ratios.append(f"({scenario.key}) {mine / floor:.2f}x")
    print("\n(Nx): the median over ours. Ours over the floor: " + ", ".join(ratios))


def print_failures(results: dict[tuple[str, str], list[Outcome]]) -> None:
    """The last words of the first failed run of each client and scenario."""
    for (name, key), outcomes in results.items():
        said = next((outcome.stderr for outcome in outcomes if outcome.stderr), "")
        if said:
            print(f"\n{name}, ({key}) failed; its last words:\n" + textwrap.indent(said, "    "))


def print_notes(rows: list[Contender | Unavailable]) -> None:
    names = {type(row).__name__ for row in rows}
    notes = ["Timed: each client's own commands; installs, configuration and the check of the certificates untimed."]
    if "AcmeTiny" in names:
        notes.append("acme-tiny: an RSA 2048 account key (it takes no other) and the CSRs made beforehand, untimed; --disable-check.")
    if "Certbot" in names:
        notes.append("certbot: certonly --webroot, one invocation per certificate.")
    if "Uacme" in names:
        notes.append("uacme: `new` then one `issue` per certificate, inside one `unshare --mount` (the CA trust).")
        notes.append("uacme stops at a challenge without a token ('failed to parse challenge'), and pebble 2.10 offers "
                     "dns-persist-01, which has none, in a shuffled list: an authorization fails when it comes before http-01.")
    if "Lego" in names:
        notes.append("lego: `run` once per certificate (the first creates the account).")
    if names & {"AcmeTiny", "Certbot", "Uacme", "Lego"}:
        notes.append("(c) for these: 10 invocations in sequence, the account made by the first.")
    print("\n".join(f"note: {note}" for note in notes))


# ---------------------------------------------------------------------------


def parse_options(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenario", action="append", default=[], help="a, b, c (repeatable or a comma list)")
    parser.add_argument("--peers", default=",".join(PEERS), help=f"comma list of {', '.join(PEERS)}; none: ours and the floor")
    options = parser.parse_args(argv)
    options.scenario = [k for value in options.scenario for k in value.split(",") if k] or ["a", "b", "c"]
    options.peers = [] if options.peers == "none" else [p for p in options.peers.split(",") if p]
    for key in options.scenario:
        if key not in ("a", "b", "c"):
            parser.error(f"--scenario {key}: a, b or c")
    for peer in options.peers:
        if peer not in PEERS:
            parser.error(f"--peers {peer}: one of {', '.join(PEERS)} or none")
    return options


def install_peers(peers: Sequence[str], tools: Path) -> list[Contender | Unavailable]:
    found: dict[str, Contender | Unavailable] = {}
    python_peers = [p for p in peers if p in ("acme-tiny", "certbot")]
    debian_peers = [p for p in peers if p in ("uacme", "lego")]
    if python_peers:
        found.update(install_python_peers(python_peers, tools))
    if debian_peers:
        found.update(install_debian_peers(debian_peers, tools))
    return [Ours(), Floor(), *(found[p] for p in peers)]


def main() -> int:
    options = parse_options()
    tag = f"p{os.getpid()}"
    chosen = [tagged_scenarios(tag)[key] for key in options.scenario]
    print(f"issuance side by side: {os.cpu_count()} CPUs, {options.runs} runs per scenario", flush=True)
    with tempfile.TemporaryDirectory(prefix="acme-peers.") as top:
        scratch = Path(top)
        scratch.chmod(0o755)  # the http-01 responder and the clients read below it
        rows = install_peers(options.peers, scratch / "tools")
        contenders: list[Contender] = [row for row in rows if not isinstance(row, Unavailable)]
        webroot = scratch / "www"
        challenge_dir = webroot / ".well-known" / "acme-challenge"
        challenge_dir.mkdir(parents=True)
        results: dict[tuple[str, str], list[Outcome]] = {}
        try:
            with Testbed(challenge_dir=challenge_dir, retry_after_authz=0, retry_after_order=0) as testbed:
                bench = Bench(testbed, webroot, challenge_dir)
                print(f"pebble {testbed.directory_url}, real http-01 validation\n", flush=True)
                for contender in contenders:  # warm-up, untimed
                    run_once(contender, bench, chosen[0], scratch)
                for scenario in chosen:
                    for _ in range(options.runs):
                        for contender in contenders:
                            outcome = run_once(contender, bench, scenario, scratch)
                            results.setdefault((contender.name, scenario.key), []).append(outcome)
        finally:
            remove_lock_files(tag)
    print("Wall time, medians:\n")
    print_table(rows, results, chosen, "seconds")
    print("\nCPU time (user + system of the client's processes, pebble's not counted), medians:\n")
    print_table(rows, results, chosen, "cpu")
    print()
    print_notes(rows)
    print_failures(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
