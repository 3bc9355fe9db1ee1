"""keyproc's one extra duty in a -K run: sign, with the domain key, the revocation of the configured certificate.

For a certificate whose account is lost, RFC 8555 section 7.6 lets the
certificate's own key sign its revocation.  keyproc holds that key, so it
signs; and since netproc may be taken over, it signs one request only,
learnt from trusted sources before its jail: the certificate is the first
one in the configured file (which keyproc reads itself; its PEM armour is
undone, nothing is parsed), the reason the one -R gave, the URL on the
configured CA's host and port, the public key in the header.

Imported by keyproc in a -K run only, before its jail: other runs do not
pay for it (~15 ms).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from pathlib import Path
from typing import NamedTuple

from acme_conf.acme import jws
from acme_conf.acme.b64 import b64url
from acme_conf.acme.signing_rules import not_the_cas
from acme_conf.errors import ProcessFailure
from acme_conf.files import MAX_CERTIFICATE_FILE, KeyAccess, read_regular_file
from acme_conf.keys import PrivateKey, load_existing_key
from acme_conf.messages import Failure, Message
from acme_conf.messages.account import SignRequest, Signed
from acme_conf.proc.spec import KeySettings

_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----")


class RevocationSigner(NamedTuple):
    """The one revocation keyproc may sign in a -K run, and the key it signs with."""

    key: PrivateKey
    api_url: str  # the CA's directory: requests go to its host and port only
    payload: dict[str, object]  # exactly what the request must say

    request_type = SignRequest  # what netproc sends keyproc in a -K run

    def answer(self, request: SignRequest) -> Message:
        """The revocation signed with the domain key, if it is the one this run may make; else why not."""
        wrong = not_the_cas(self.api_url, request.url)
        try:
            asked = json.loads(request.payload)
        except ValueError:
            asked = None
        if wrong or request.kid or request.signer or asked != self.payload:
            return Failure(f"refusing to sign with the domain key {wrong or 'anything but the configured revocation'}")
        return Signed(jws.sign(self.key, request.url, request.nonce, "", request.payload))


def prepare(settings: KeySettings) -> RevocationSigner:
    """The existing domain key, and the certificate file's first certificate to revoke with it."""
    path = Path(settings.key_path)
    access = KeyAccess(settings.group, settings.mode) if settings.mode else None  # the group the configuration names
    key = load_existing_key(path, settings.keytype, settings.size, access)
    if key is None:
        raise ProcessFailure(f"{path}: no domain key to revoke with (-K needs the certificate's key)")
    try:
        der = first_certificate_der(read_regular_file(settings.certificate, MAX_CERTIFICATE_FILE))
    except FileNotFoundError:
        raise ProcessFailure(f"{settings.certificate}: no certificate to revoke") from None
    except OSError as error:
        raise ProcessFailure(f"{settings.certificate}: {error.strerror}") from None
    payload: dict[str, object] = {"certificate": b64url(der)}
    if settings.revoke_reason >= 0:
        payload["reason"] = settings.revoke_reason
    signer = RevocationSigner(key, settings.revoke_at, payload)
    # warm-up: both answers once, before the jail
    signer.answer(SignRequest(settings.revoke_at, "n", "", json.dumps(payload).encode("ascii")))
    signer.answer(SignRequest(settings.revoke_at, "n", "", b"{}"))
    return signer


def first_certificate_der(pem: bytes) -> bytes:
    """The DER of the file's first PEM certificate (the leaf): its armour undone, nothing parsed."""
    match = _PEM_CERTIFICATE.search(pem)
    if match is None:
        raise ProcessFailure("the certificate file holds no PEM certificate")
    try:
        return base64.b64decode(b"".join(match.group(1).split()), validate=True)
    except binascii.Error:
        raise ProcessFailure("the certificate file's first certificate is not base64") from None
