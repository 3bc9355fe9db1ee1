"""HTTPS for netproc: pinned trust, addresses from dnsproc, bounded bodies.

Trust is the ssl.SSLContext built before the jail from one CA bundle; no
environment variable can widen it.  Host names are resolved by dnsproc and
the connection is made to the address it returns, while TLS verification
and the Host header keep the name.  Connections are kept alive and reused.
"""

# No `from __future__ import annotations`: typing.NamedTuple would compile each
# field's annotation text at start-up.

import http.client
import logging
import socket
import ssl
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import urlsplit

from acme_conf.acme.identifiers import is_ip
from acme_conf.acme.text import printable
from acme_conf.errors import ProcessFailure

MAX_BODY = 1024 * 1024
TIMEOUT = 30.0

log = logging.getLogger("acme_conf")

Resolver = Callable[[str], tuple[str, ...]]


class TransportError(ProcessFailure):
    """The CA could not be reached, or answered outside HTTP's rules or our limits."""


class Response(NamedTuple):
    """One HTTP response, read in full."""

    url: str
    status: int
    headers: tuple[tuple[str, str], ...]  # names in lower case, in order received
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def all_headers(self, name: str) -> tuple[str, ...]:
        """Every value of header `name` (lower case), in order: Link may come several times."""
        return tuple(value for key, value in self.headers if key == name)



class _AddressedConnection(http.client.HTTPSConnection):
    """An HTTPS connection to a given address that verifies and names a host."""

    def __init__(self, host: str, port: int, address: str, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=TIMEOUT, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = connect_address(self._address, self.port, self.timeout)
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def connect_address(address: str, port: int, timeout: float | None) -> socket.socket:
    """A TCP connection to `address` (IPv4 or IPv6) and `port`, never a name to resolve."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        # http.client sends headers and body in two writes; without
        # TCP_NODELAY, Nagle and delayed ACKs hold the body ~40 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


class Transport:
    """Keep-alive HTTPS requests to the CA's host(s) on the allowed ports."""

    def __init__(self, context: ssl.SSLContext, resolve: Resolver, ports: tuple[int, ...], user_agent: str) -> None:
        self._context = context
        self._resolve = resolve
        self._ports = ports
        self._user_agent = user_agent
        self._connections: dict[tuple[str, int], http.client.HTTPSConnection] = {}
        self._addresses: dict[str, tuple[str, ...]] = {}

    def get(self, url: str) -> Response:
        return self.request("GET", url, None, None)

    def head(self, url: str) -> Response:
        return self.request("HEAD", url, None, None)

    def post(self, url: str, body: bytes, content_type: str) -> Response:
        return self.request("POST", url, body, content_type)

    def request(self, method: str, url: str, body: bytes | None, content_type: str | None) -> Response:
        host, port, target = split_url(url, self._ports)
        headers = {"User-Agent": self._user_agent, "Accept-Encoding": "identity"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        key = (host, port)
        for attempt in (1, 2):
            reused = key in self._connections
            connection = self._connection(host, port)
            try:
                connection.request(method, target, body=body, headers=headers)
                raw = connection.getresponse()
                response = read_response(url, raw)
            except (
                http.client.RemoteDisconnected,
                ConnectionResetError,
                ConnectionAbortedError,
                BrokenPipeError,
                ssl.SSLEOFError,
            ):
                self._drop(key)
                if reused and attempt == 1:
                    continue  # the server closed an idle kept-alive connection
                raise TransportError(f"{printable(url)}: connection closed by the server") from None
            except ssl.SSLCertVerificationError as error:
                self._drop(key)
                raise TransportError(f"{host}: TLS certificate not trusted: {printable(error.verify_message)}") from None
            except (OSError, http.client.HTTPException) as error:
                self._drop(key)
                raise TransportError(f"{printable(url)}: {printable(error)}") from None
            if raw.will_close:
                self._drop(key)
            log.debug("%s %s: %d", method, printable(url), response.status)
            return response
        raise TransportError(f"{printable(url)}: connection closed by the server")

    def close(self) -> None:
        for key in list(self._connections):
            self._drop(key)

    def _connection(self, host: str, port: int) -> http.client.HTTPSConnection:
        key = (host, port)
        connection = self._connections.get(key)
        if connection is None:
            connection = self._open(host, port)
            self._connections[key] = connection
        return connection

    def _open(self, host: str, port: int) -> http.client.HTTPSConnection:
        """A connected connection to the first address of `host` that answers."""
        addresses = (host,) if is_ip(host) else self._addresses_of(host)
        failure: OSError | None = None
        for address in addresses:
            connection = _AddressedConnection(host, port, address, self._context)
            try:
                connection.connect()
            except ssl.SSLCertVerificationError as error:
                raise TransportError(f"{host}: TLS certificate not trusted: {printable(error.verify_message)}") from None
            except OSError as error:
                failure = error
                connection.close()
                continue
            return connection
        reason = printable(failure.strerror or failure) if failure else "no address"
        raise TransportError(f"cannot connect to {host} port {port}: {reason}")

    def _addresses_of(self, host: str) -> tuple[str, ...]:
        if host not in self._addresses:
            self._addresses[host] = self._resolve(host)
        return self._addresses[host]

    def _drop(self, key: tuple[str, int]) -> None:
        connection = self._connections.pop(key, None)
        if connection is not None:
            connection.close()


def split_url(url: str, ports: tuple[int, ...]) -> tuple[str, int, str]:
    """Host, port and request target of an https URL on one of `ports`; TransportError otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:
        raise TransportError(f"malformed URL {printable(url)}") from None
    if parts.scheme != "https" or not parts.hostname:
        raise TransportError(f"refusing non-https URL {printable(url)}")
    if port not in ports:
        raise TransportError(f"{printable(url)}: port {port} is not the CA's (allowed: {', '.join(map(str, ports))})")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, port, target


def read_response(url: str, raw: http.client.HTTPResponse) -> Response:
    """The whole response, within MAX_BODY; TransportError for one too large or cut short."""
    declared = raw.getheader("Content-Length")
    if declared is not None and declared.isascii() and declared.isdigit():
        if len(declared) > 12 or int(declared) > MAX_BODY:
            raise TransportError(f"{printable(url)}: response of {printable(declared, 20)} bytes is over the {MAX_BODY} byte limit")
    body = raw.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise TransportError(f"{printable(url)}: response is over the {MAX_BODY} byte limit")
    if raw.length:  # http.client counts down Content-Length; what is left never came
        raise TransportError(f"{printable(url)}: response cut short ({raw.length} bytes missing)")
    headers = tuple((name.lower(), value) for name, value in raw.getheaders())
    return Response(url, raw.status, headers, body)
