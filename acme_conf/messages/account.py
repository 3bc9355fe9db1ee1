"""netproc <-> acctproc: signatures and the account key's thumbprint."""

# No `from __future__ import annotations` here: field types must be real
# types at run time, because the frame codec reads them.

from dataclasses import dataclass
from typing import ClassVar

from acme_conf.messages import Message


@dataclass(frozen=True, repr=False, match_args=False)
class ThumbprintRequest(Message):
    """netproc -> acctproc: the account key's JWK thumbprint (RFC 7638)."""

    OP: ClassVar[int] = 20


@dataclass(frozen=True, repr=False, match_args=False)
class Thumbprint(Message):
    """acctproc -> netproc: base64url SHA-256 thumbprint."""

    OP: ClassVar[int] = 21
    value: str


@dataclass(frozen=True, repr=False, match_args=False)
class SignRequest(Message):
    """netproc -> acctproc: sign a JWS for one request.

    An empty `kid` embeds the public JWK instead (newAccount); an empty
    `payload` is a POST-as-GET.  `signer` is "" for the account key;
    SIGNER_PREVIOUS asks for an account look-up with the configured previous
    account key, SIGNER_KEY_CHANGE for the key change from it to the account
    key (acctproc builds that request itself: `payload` must be empty).
    """

    OP: ClassVar[int] = 22
    url: str
    nonce: str
    kid: str
    payload: bytes
    signer: str = ""


SIGNER_PREVIOUS = "previous"
SIGNER_KEY_CHANGE = "key change"


@dataclass(frozen=True, repr=False, match_args=False)
class Signed(Message):
    """acctproc -> netproc: the flattened JWS JSON to POST."""

    OP: ClassVar[int] = 23
    jws: bytes
