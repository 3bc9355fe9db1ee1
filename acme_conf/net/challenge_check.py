"""The self-check: before the CA is told to look, netproc asks our own web server for the challenge file.

`challengedir PATH check ADDRESS [port PORT]`: the web server that serves
PATH runs on this machine, so netproc asks it at ADDRESS for
`http://NAME/.well-known/acme-challenge/TOKEN` (the Host header naming the
domain, as the CA's request would), once chngproc has written the file.
Anything but the key authorization (a 404, another body, no answer) fails
the domain in one line before the CA is asked: a web server that does not
serve the directory costs no failed authorization.  A redirect is not
followed (the CA would follow it, possibly elsewhere): it is noted and the
CA asked all the same.  What the server says is only compared and counted,
never printed, apart from its status code and a sanitised redirect target.
"""

# No `from __future__ import annotations`: as in transport.py.

import http.client
import logging

from acme_conf.acme.text import printable
from acme_conf.errors import ProcessFailure
from acme_conf.net.transport import connect_address

TIMEOUT = 5.0  # a local web server answers in milliseconds; one that hangs is as good as none
MAX_ANSWER = 1024  # a key authorization is 87 characters; what follows is not read
REDIRECTS = (301, 302, 303, 307, 308)

log = logging.getLogger("acme_conf")


class _ConnectionTo(http.client.HTTPConnection):
    """Plain HTTP to a given address, naming the domain in the Host header."""

    def __init__(self, name: str, address: str, port: int) -> None:
        super().__init__(name, port, timeout=TIMEOUT)
        self._address = address

    def connect(self) -> None:
        self.sock = connect_address(self._address, self.port, self.timeout)


def check_served(web_server: tuple[str, int], name: str, token: str, key_authorization: str) -> None:
    """Return when the web server serves `token`'s file with `key_authorization` (or redirects); else ProcessFailure.

    `name` is the identifier the CA would ask for (an IPv6 address in
    brackets in the Host header); `token` was checked to be base64url.
    """
    address, port = web_server
    host = f"[{name}]" if ":" in name else name
    url = f"http://{host}/.well-known/acme-challenge/{token}"
    where = f"the web server at {address} port {port}"
    connection = _ConnectionTo(host, address, port)
    try:
        # Host as the CA's request on port 80 names it: the domain alone, whatever port is asked here
        connection.request("GET", f"/.well-known/acme-challenge/{token}", headers={"Host": host, "Connection": "close"})
        answer = connection.getresponse()
        status, location = answer.status, answer.getheader("Location") or ""
        body = answer.read(MAX_ANSWER)
    except (OSError, http.client.HTTPException) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise ProcessFailure(f"{name}: self-check: {where} did not answer {url} ({printable(reason, 80)}); the CA was not asked") from None
    finally:
        connection.close()
    if status in REDIRECTS:
        log.warning("%s: self-check: %s redirects %s to %s: not followed; the CA is asked all the same", name, where, url, printable(location, 200))
        return
    if status != 200:
        raise ProcessFailure(f"{name}: self-check: {where} answers {url} with {status}, not the challenge file; the CA was not asked")
    if body.strip() != key_authorization.encode():
        raise ProcessFailure(
            f"{name}: self-check: {where} answers {url} with {len(body)} bytes that are not the challenge file"
            " (is it serving another directory?); the CA was not asked"
        )
    log.info("%s: self-check: %s serves the challenge file", name, where)
