"""Signed ACME requests: nonces, JWS by acctproc, problem documents, badNonce retries.

netproc never holds the account key: every request body is sent to acctproc,
which returns the signed JWS.  Every response's Replay-Nonce is kept for the
next request; a badNonce error is retried with the fresh nonce, a bounded
number of times.
"""

from __future__ import annotations

import json
import logging
import re

from acme_conf.acme.resources import Directory, Problem, ProtocolError, parse_problem
from acme_conf.acme.text import printable
from acme_conf.ipc import Channel
from acme_conf.messages import Failure
from acme_conf.messages.account import SignRequest, Signed
from acme_conf.net.transport import Response, Transport
from acme_conf.errors import ProcessFailure

MAX_BAD_NONCE_RETRIES = 20
_NONCE = re.compile(r"[A-Za-z0-9_-]{1,512}")
JOSE = "application/jose+json"

log = logging.getLogger("acme_conf")


class AcmeError(ProcessFailure):
    """The CA refused a request; the message carries its problem document, sanitised."""

    def __init__(self, what: str, status: int, problem: Problem | None, note: str = "", retry_after: str | None = None) -> None:
        self.status = status
        self.problem = problem
        self.retry_after = retry_after  # the response's Retry-After header, if any
        reason = str(problem) if problem is not None else f"HTTP status {status}"
        super().__init__(f"{what}: {reason}" + (f"; {note}" if note else ""))


class AcmeSession:
    """One account's signed conversation with the CA."""

    def __init__(self, transport: Transport, acctproc: Channel, directory: Directory) -> None:
        self.transport = transport
        self.directory = directory
        self.kid = ""  # the account URL, once known
        self._acctproc = acctproc
        self._nonce: str | None = None

    def post(
        self, url: str, payload: dict[str, object] | None, what: str, *, embed_key: bool = False, signer: str = ""
    ) -> Response:
        """POST a signed request (`payload` None: POST-as-GET) and return a successful response.

        `signer` names another key of acctproc's than the account key (see SignRequest).
        """
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode("utf-8")
        retries = 0
        while True:
            jws = self._sign(url, self._take_nonce(), "" if embed_key else self.kid, body, signer)
            response = self.transport.post(url, jws, JOSE)
            self._keep_nonce(response)
            if 200 <= response.status < 300:
                return response
            if response.status < 400:
                raise AcmeError(what, response.status, None, "redirects are not followed")
            problem = parse_problem(response.body)
            if problem is None or problem.short_type != "badNonce" or retries == MAX_BAD_NONCE_RETRIES:
                raise AcmeError(what, response.status, problem, retry_after=response.header("retry-after"))
            retries += 1
            log.debug("%s: nonce rejected, retrying with a fresh one", what)

    def _sign(self, url: str, nonce: str, kid: str, payload: bytes, signer: str = "") -> bytes:
        reply = self._acctproc.request(SignRequest(url, nonce, kid, payload, signer), Signed, Failure)
        if isinstance(reply, Failure):
            raise ProcessFailure(f"acctproc refused to sign: {printable(reply.reason)}")
        return reply.jws

    def _take_nonce(self) -> str:
        nonce, self._nonce = self._nonce, None
        if nonce is None:
            response = self.transport.head(self.directory.new_nonce)
            nonce = self._valid_nonce(response)
            if nonce is None:
                raise ProtocolError("newNonce: no usable Replay-Nonce header")
        return nonce

    def _keep_nonce(self, response: Response) -> None:
        self._nonce = self._valid_nonce(response)

    @staticmethod
    def _valid_nonce(response: Response) -> str | None:
        nonce = response.header("replay-nonce")
        if nonce is None or _NONCE.fullmatch(nonce) is None:
            return None
        return nonce
