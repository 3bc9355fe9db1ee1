"""revokeproc -> netproc: the verdict on the existing certificate."""

# No `from __future__ import annotations` here: field types must be real
# types at run time, because the frame codec reads them.

from dataclasses import dataclass
from typing import ClassVar

from acme_conf.messages import Message

VERDICT_MISSING = "missing"  # no certificate yet: issue one
VERDICT_DUE = "due"  # renewal is due (or forced): issue one
VERDICT_CURRENT = "current"  # nothing to do: no network traffic at all
VERDICT_ASK = "ask"  # current by every rule here, but the CA's renewal information (ARI) is to be asked
VERDICT_REVOKE = "revoke"  # -r: revoke this certificate, then remove the files


@dataclass(frozen=True, repr=False, match_args=False)
class CertStatus(Message):
    """revokeproc -> netproc: what to do with the existing certificate."""

    OP: ClassVar[int] = 1
    verdict: str
    reason: str  # one line for -v
    certificate_der: bytes  # the existing leaf, empty when there is none
    certificate_id: str = ""  # its ARI identifier (RFC 9773), "" when it cannot be named
