"""acme-client: an ACME client that reads OpenBSD's acme-client.conf(5)."""

__version__ = "0.1.0"
