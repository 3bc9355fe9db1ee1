"""External account binding (RFC 8555 section 7.3.4): the MAC key's file, the binding, who adds it.

Against pebble with a binding required: tests/integration/test_account_binding.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from acme_conf.acme import jws
from acme_conf.acme.b64 import b64url, b64url_decode
from acme_conf.acme.signing_rules import DomainRun
from acme_conf.keys import KeyFileError, read_mac_key
from acme_conf.messages import Failure
from acme_conf.messages.account import SignRequest, Signed
from acme_conf.proc.acctproc import Binding, answer

MAC_KEY = os.urandom(48)
RUN = DomainRun("https://ca.example/dir", "", ("example.com",), "", False)
NEW_ACCOUNT = "https://ca.example/new-acct"


def decoded(part: str) -> dict[str, object]:
    return json.loads(b64url_decode(part))


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_the_binding_is_the_account_key_maced_for_the_new_account_url(key, algorithm: str) -> None:
    bound = jws.external_account_binding(key, NEW_ACCOUNT, "kid-1", MAC_KEY, algorithm)
    assert decoded(bound["protected"]) == {"alg": algorithm, "kid": "kid-1", "url": NEW_ACCOUNT}
    assert decoded(bound["payload"]) == jws.public_jwk(key)
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[algorithm]
    expected = hmac.new(MAC_KEY, f"{bound['protected']}.{bound['payload']}".encode(), digest).digest()
    assert b64url_decode(bound["signature"]) == expected


def outer_payload(reply: object) -> dict[str, object]:
    assert isinstance(reply, Signed), reply
    return decoded(json.loads(reply.jws)["payload"])


def test_acctproc_adds_the_binding_to_a_new_account_and_to_nothing_else(key) -> None:
    binding = Binding("kid-1", MAC_KEY, "HS256")
    new_account = SignRequest(NEW_ACCOUNT, "nonce", "", b'{"termsOfServiceAgreed": true}')
    body = outer_payload(answer(key, RUN, new_account, lambda: b"", binding))
    assert body["termsOfServiceAgreed"] is True
    bound = body["externalAccountBinding"]
    assert isinstance(bound, dict) and decoded(bound["protected"])["kid"] == "kid-1"
    lookup = SignRequest(NEW_ACCOUNT, "nonce", "", b'{"onlyReturnExisting": true}')
    assert outer_payload(answer(key, RUN, lookup, lambda: b"", binding)) == {"onlyReturnExisting": True}
    # without a binding configured, a new account goes as netproc asked
    assert "externalAccountBinding" not in outer_payload(answer(key, RUN, new_account, lambda: b""))


def test_a_binding_netproc_makes_itself_is_refused(key) -> None:
    """netproc never holds the MAC key; one it sends is not the configured binding."""
    forged = json.dumps({"termsOfServiceAgreed": True, "externalAccountBinding": {"protected": "", "payload": "", "signature": ""}})
    reply = answer(key, RUN, SignRequest(NEW_ACCOUNT, "n", "", forged.encode()), lambda: b"", Binding("k", MAC_KEY, "HS256"))
    assert isinstance(reply, Failure)


# the MAC key's file -------------------------------------------------------------------------


@pytest.fixture
def mac_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "acme"
    directory.mkdir(mode=0o700)
    return directory


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    "text", [b64url(MAC_KEY), b64url(MAC_KEY) + "\n", f"  {b64url(MAC_KEY)}  \n",
             base64.urlsafe_b64encode(MAC_KEY).decode()],  # padded, as some CAs show it
)
def test_the_mac_key_is_read_as_the_ca_gives_it(mac_dir: Path, text: str) -> None:
    assert read_mac_key(write(mac_dir / "ca.mac", text)) == MAC_KEY


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not base64url!", "not a base64url MAC key"),
        (base64.b64encode(b"\xfb\xff" * 20).decode(), "not a base64url MAC key"),  # standard base64: + and /
        (b64url(b"short"), "too short"),
        ("", "key file is empty"),
    ],
)
def test_a_mac_key_file_that_holds_no_key_is_refused(mac_dir: Path, text: str, why: str) -> None:
    path = write(mac_dir / "ca.mac", text)
    with pytest.raises(KeyFileError, match=why) as raised:
        read_mac_key(path)
    assert str(path) in str(raised.value)


def test_a_mac_key_others_may_read_is_refused(mac_dir: Path) -> None:
    path = write(mac_dir / "ca.mac", b64url(MAC_KEY), 0o644)
    with pytest.raises(KeyFileError, match=str(path)):
        read_mac_key(path)


def test_a_missing_mac_key_file_says_so(mac_dir: Path) -> None:
    with pytest.raises(KeyFileError, match="MAC key file does not exist"):
        read_mac_key(mac_dir / "nothing.mac")


# the previous account key: a look-up and the key change, only when configured ------------------


from acme_conf.messages.account import SIGNER_KEY_CHANGE, SIGNER_PREVIOUS  # noqa: E402


def test_the_previous_key_signs_a_look_up_and_the_key_change_and_nothing_else(key) -> None:
    previous = ec.generate_private_key(ec.SECP384R1())
    lookup = SignRequest(NEW_ACCOUNT, "n", "", b'{"onlyReturnExisting": true}', SIGNER_PREVIOUS)
    reply = answer(key, RUN, lookup, lambda: b"", previous=previous)
    assert isinstance(reply, Signed)
    assert decoded(json.loads(reply.jws)["protected"])["jwk"] == jws.public_jwk(previous)
    change = SignRequest("https://ca.example/key-change", "n", "https://ca.example/acct/1", b"", SIGNER_KEY_CHANGE)
    assert isinstance(answer(key, RUN, change, lambda: b"", previous=previous), Signed)
    refused = {
        "no previous key configured": (lookup, None),
        "a new account with the previous key": (
            SignRequest(NEW_ACCOUNT, "n", "", b'{"termsOfServiceAgreed": true}', SIGNER_PREVIOUS), previous),
        "an order with the previous key": (
            SignRequest("https://ca.example/order", "n", "https://ca.example/acct/1",
                        b'{"identifiers": [{"type": "dns", "value": "example.com"}]}', SIGNER_PREVIOUS), previous),
        "a key change with a payload of netproc's": (
            SignRequest(change.url, "n", change.kid, b'{"account": "x"}', SIGNER_KEY_CHANGE), previous),
        "a key change elsewhere": (
            SignRequest("https://elsewhere.example/key-change", "n", change.kid, b"", SIGNER_KEY_CHANGE), previous),
        "an account elsewhere": (
            SignRequest(change.url, "n", "https://elsewhere.example/acct/1", b"", SIGNER_KEY_CHANGE), previous),
        "an unknown signer": (SignRequest(NEW_ACCOUNT, "n", "", b'{"onlyReturnExisting": true}', "other"), previous),
    }
    for why, (request, configured) in refused.items():
        assert isinstance(answer(key, RUN, request, lambda: b"", previous=configured), Failure), why
