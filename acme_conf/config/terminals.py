"""The grammar's terminals that code refers to by name, and what a STRING means.

The grammar (grammar/acme-client.lark) defines them; these names must match.
"""

from __future__ import annotations

NEWLINE = "_NL"
STRING = "STRING"
MACRO = "MACRO"
INCLUDE = "INCLUDE"
EQUALS = "EQUALS"
LBRACE = "LBRACE"
RBRACE = "RBRACE"
END = "$END"  # lark's end of input

# How the configuration spells each terminal (keywords in their canonical form).
SPELLING = {
    "INCLUDE": "include",
    "AUTHORITY": "authority",
    "DOMAIN": "domain",
    "API_URL": "api url",
    "ACCOUNT_KEY": "account key",
    "CONTACT": "contact",
    "INSECURE": "insecure",
    "CA_FILE": "ca file",
    "EXTERNAL_ACCOUNT_BINDING": "external account binding",
    "PREVIOUS_ACCOUNT_KEY": "previous account key",
    "ALTERNATIVE_NAMES": "alternative names",
    "DOMAIN_NAME": "domain name",
    "DOMAIN_KEY": "domain key",
    "DOMAIN_CERTIFICATE": "domain certificate",
    "DOMAIN_CHAIN_CERTIFICATE": "domain chain certificate",
    "DOMAIN_FULL_CHAIN_CERTIFICATE": "domain full chain certificate",
    "SIGN_WITH": "sign with",
    "CHALLENGEDIR": "challengedir",
    "PROFILE": "profile",
    "PREFERRED_CHAIN": "preferred chain",
    "NO_RENEWAL_INFORMATION": "no renewal information",
    "CHALLENGE_HTTP_LISTEN": "challenge http-01 listen on",
    "CHALLENGE_DNS_PERSIST": "challenge dns-persist-01",
    "CHALLENGE_DNS_HOOK": "challenge dns-01 hook",
    "CHALLENGE_TLS_ALPN_LISTEN": "challenge tls-alpn-01 listen on",
    "HOOK_CHANGED": "hook changed",
    "HOOK_FAILED": "hook failed",
    "RSA": "rsa",
    "ECDSA": "ecdsa",
    "LBRACE": "{",
    "RBRACE": "}",
    "COMMA": ",",
    "EQUALS": "=",
}

# Not a grammar terminal: the lexer's name for a character that starts no token.
UNEXPECTED = "UNEXPECTED_CHARACTER"

_ESCAPABLE = frozenset(" \t\\")


def unquote(value: str) -> str:
    """The text a STRING token stands for: quotes and escapes removed (the lexer does this).

    In quotes, a backslash before the quote, a backslash, a blank or a tab
    stands for that character; before anything else it stands for itself.
    """
    quote = value[:1]
    if quote != '"' and quote != "'":
        return value
    inner = value[1:-1]
    if "\\" not in inner:
        return inner
    out = []
    i = 0
    while i < len(inner):
        c = inner[i]
        if c == "\\" and i + 1 < len(inner):
            following = inner[i + 1]
            if following == quote or following in _ESCAPABLE:
                c = following
                i += 1
        out.append(c)
        i += 1
    return "".join(out)
