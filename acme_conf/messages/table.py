"""Every message type by op code: for tests and tools, never imported by a child."""

from acme_conf.messages import Failure, Message
from acme_conf.messages.account import Signed, SignRequest, Thumbprint, ThumbprintRequest
from acme_conf.messages.certificate import CertBundle, RemoveCertificate, WriteCertificate
from acme_conf.messages.challenge import ChallengeWrite, ChallengeWritten
from acme_conf.messages.dns import Addresses, Resolve
from acme_conf.messages.key import Csr, CsrRequest
from acme_conf.messages.revoke import CertStatus

MESSAGE_TYPES: dict[int, type[Message]] = {
    cls.OP: cls
    for cls in (
        CertStatus,
        CsrRequest,
        Csr,
        ThumbprintRequest,
        Thumbprint,
        SignRequest,
        Signed,
        ChallengeWrite,
        ChallengeWritten,
        Resolve,
        Addresses,
        CertBundle,
        RemoveCertificate,
        WriteCertificate,
        Failure,
    )
}
