"""What acctproc may sign for one domain's netproc: the requests this run makes, and no others.

netproc asks acctproc to sign every request it sends to the CA.  A netproc
taken over (by the CA's answers, through a parser bug) would ask for more:
a key change to a key of its own, which hands it the account for good, an
order for other names, a revocation.  So each request is checked against
what the configuration and the run allow, learnt from the parent:

- the URL is on the CA's host and port (those of the configured `api url`);
- the payload is one of the kinds this client sends: POST-as-GET (empty),
  an empty object (a challenge answered), an account look-up or a new
  account (the public key in the header, the configured contact only), a
  new order for exactly the domain's names (and its profile; naming the
  certificate it replaces only when the domain follows the CA's renewal
  information, and only in an identifier's syntax), a finalize,
  a revocation only in a -r run (which orders nothing), and the account's
  deactivation only in a -D run (which creates no account, orders and
  finalizes nothing, and sends it to the account's own URL only);
- anything else (a key change, an account deactivation or update, a kind
  this client never sends, a JSON object that names a member twice, whose
  meaning would be the CA's reader's choice) is refused, naming what it
  looked like.

A finalize's CSR is checked by acctproc against the domain key keyproc
tells it (acme_conf/csr.py check_csr): a netproc taken over cannot have a
certificate for the domain's names issued to a key of its own.

Pure: no I/O, so it is tested on its own.
"""

# No `from __future__ import annotations`: typing.NamedTuple would compile each
# field's annotation text at start-up.

import json
from typing import NamedTuple
from urllib.parse import urlsplit

from acme_conf.acme.identifiers import canonical_ip, identifier, is_ip
from acme_conf.acme.renewal_info import is_certificate_id
from acme_conf.acme.text import printable

# The largest payload this client sends is a finalize: a CSR of 100 names
# and an RSA 4096 key is ~6 KiB of base64.
MAX_PAYLOAD = 64 * 1024


class DomainRun(NamedTuple):
    """What one domain's run may have signed: from the configuration and the command line."""

    api_url: str  # the authority's directory: its host and port are the CA's
    contact: str  # "" = none
    names: tuple[str, ...]
    profile: str  # "" = the CA's default
    revoke: bool  # -r: a revocation, and no order
    reason: int = -1  # -R: the revocation's RFC 5280 reason code (-1: none given)
    replaces: bool = False  # the domain follows the CA's renewal information: an order may name what it replaces
    deactivate: bool = False  # -D: the account's deactivation, and no account, order or finalize


class Verdict(NamedTuple):
    """What a request is, why it may not be signed ("" when it may), and its payload's JSON object."""

    kind: str
    refusal: str
    body: dict[str, object]


def refusal(run: DomainRun, url: str, kid: str, payload: bytes) -> str:
    """Why acctproc must not sign this request for `run`; "" when it may (a finalize's CSR aside)."""
    return judge(run, url, kid, payload).refusal


def judge(run: DomainRun, url: str, kid: str, payload: bytes) -> Verdict:
    """The request's kind and whether `run` may have it signed.

    A finalize's CSR is for acctproc to check against the domain key
    (acme_conf/csr.py check_csr): this module parses JSON, never X.509.
    """
    wrong_place = not_the_cas(run.api_url, url)
    if wrong_place:
        return Verdict("", wrong_place, {})
    if not payload:
        return Verdict("POST-as-GET", "" if kid else "a POST-as-GET must name the account", {})
    if len(payload) > MAX_PAYLOAD:
        return Verdict("", f"a payload of {len(payload)} bytes (at most {MAX_PAYLOAD})", {})
    try:
        body = json.loads(payload.decode("utf-8"), object_pairs_hook=_no_repeated_keys)
    except _RepeatedKey as repeated:
        return Verdict("", f"a payload that names {printable(repeated, 40)} twice", {})
    except (ValueError, RecursionError):
        return Verdict("", "a payload that is not JSON", {})
    if not isinstance(body, dict):
        return Verdict("", "a payload that is not a JSON object", {})
    kind, why_not = _kind(run, body)
    if why_not:
        return Verdict(kind, why_not, body)
    if run.deactivate and kind in ("new account", "new order", "finalize"):
        return Verdict(kind, f"a {kind} in a -D run", body)
    if kind == "account deactivation" and url != kid:
        return Verdict(kind, "an account deactivation sent elsewhere than to the account's own URL", body)
    embeds_key = kind in ("account look-up", "new account")
    if embeds_key != (not kid):
        return Verdict(kind, f"{kind} {'without' if embeds_key else 'with'} the account's public key in the header", body)
    return Verdict(kind, "", body)


class _RepeatedKey(Exception):
    """A JSON object names a member twice: which value counts is the reader's choice, so none is signed."""


def _no_repeated_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    found: dict[str, object] = {}
    for key, value in pairs:
        if key in found:
            raise _RepeatedKey(key)
        found[key] = value
    return found


def not_the_cas(api_url: str, url: str) -> str:
    """Why `url` is not a plain https URL on the CA's host and port ("" when it is)."""
    try:
        ca, asked = urlsplit(api_url), urlsplit(url)
        same_port = (ca.port or 443) == (asked.port or 443)
    except ValueError:
        return "a malformed URL"
    if asked.scheme != "https" or asked.username is not None or asked.password is not None:
        return "a URL that is not plain https"
    if asked.hostname is None or asked.hostname != ca.hostname or not same_port:
        return "a URL that is not on the CA's host and port"
    return ""


def _kind(run: DomainRun, body: dict[str, object]) -> tuple[str, str]:
    """(what the request is, why it may not be signed: "" when it may)."""
    keys = frozenset(body)
    if not keys:
        return "challenge answer", ""
    if keys == {"onlyReturnExisting"}:
        return "account look-up", "" if body["onlyReturnExisting"] is True else "a malformed account look-up"
    if "termsOfServiceAgreed" in keys and keys <= {"termsOfServiceAgreed", "contact"}:
        return "new account", _new_account(run, body)
    if "identifiers" in keys and keys <= {"identifiers", "profile", "replaces"}:
        return "new order", _new_order(run, body)
    if keys == {"csr"}:
        if run.revoke:
            return "finalize", "a finalize in a -r run"
        return "finalize", "" if isinstance(body["csr"], str) else "a malformed finalize"
    if keys == {"status"} and body["status"] == "deactivated":
        return "account deactivation", "" if run.deactivate else "an account deactivation, which only a -D run makes"
    if "certificate" in keys and keys <= {"certificate", "reason"}:
        if not run.revoke:
            return "revocation", "a revocation, which only a -r run makes"
        given = body.get("reason", -1)
        return "revocation", "" if given == run.reason and type(given) is int else "a revocation with another reason than asked"
    return "unknown", f"{_looks_like(keys)}, which this run does not make"


def _new_account(run: DomainRun, body: dict[str, object]) -> str:
    if body["termsOfServiceAgreed"] is not True:
        return "a malformed new account"
    if "contact" in body and body["contact"] != ([run.contact] if run.contact else []):
        return "a new account with another contact than the configured one"
    return ""


def _new_order(run: DomainRun, body: dict[str, object]) -> str:
    if run.revoke:
        return "a new order in a -r run"
    wanted = {_normal(item) for item in map(identifier, run.names)}
    asked = body["identifiers"]
    if not isinstance(asked, list) or len(asked) != len(wanted) or {_normal(item) for item in asked} != wanted:
        return "a new order for other names than the configured ones"
    if body.get("profile", "") != run.profile:
        return "a new order for another profile than the configured one"
    if "replaces" in body and not run.replaces:
        return "a new order naming a certificate it replaces, for a domain with no renewal information"
    if "replaces" in body and not is_certificate_id(body["replaces"]):
        return "a new order naming what it replaces in a malformed way"
    return ""


def _normal(item: object) -> tuple[str, str]:
    if not isinstance(item, dict) or not isinstance(item.get("type"), str) or not isinstance(item.get("value"), str):
        return ("", "")
    kind, value = item["type"], item["value"]
    if kind == "ip" and is_ip(value):
        return kind, canonical_ip(value)
    return kind, value.lower() if kind == "dns" else value


def _looks_like(keys: frozenset[str]) -> str:
    if keys == {"protected", "payload", "signature"}:
        return "an account key change"
    if "status" in keys:
        return "an account deactivation or status change"
    if "contact" in keys or "externalAccountBinding" in keys:
        return "an account update"
    return "a request of a kind"
