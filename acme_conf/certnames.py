"""The names a certificate is for, compared the way renewal and checking need."""

from __future__ import annotations

from cryptography import x509


def certificate_names(certificate: x509.Certificate) -> frozenset[str]:
    """The DNS names (lower-case) and IP addresses (RFC 5952 form) in the subjectAltName.

    ValueError when the extensions do not parse, as for the rest of a malformed certificate.
    """
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return frozenset()
    except (x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as error:
        raise ValueError(f"malformed extensions: {error}") from None
    dns = (name.lower() for name in extension.value.get_values_for_type(x509.DNSName))
    ips = (str(address) for address in extension.value.get_values_for_type(x509.IPAddress))
    return frozenset((*dns, *ips))
