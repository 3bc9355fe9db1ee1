"""base64url without padding (RFC 7515 section 2), as every ACME field is encoded."""

from __future__ import annotations

import base64


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
