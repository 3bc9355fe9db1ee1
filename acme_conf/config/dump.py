"""The plan as canonical acme-client.conf text (what `acme-client -nv` prints).

Canonical: every setting spelled out, defaults included, in one fixed order;
authorities first, then domains, each in file order.  Reading the output
back gives the same plan, so dumping it again gives the same text.
Handles, authority and domain names are written bare when they are plain
words, other values always in double quotes.
"""

from __future__ import annotations

import re

from .plan import Authority, DnsHook, DomainJob, FileAccess, Plan, RunHook, key_spelling
from .terminals import SPELLING

# A subset of the grammar's unquoted words (tests check it against the
# grammar): host names, IP addresses and simple names.
_BARE = re.compile(r"[A-Za-z0-9_:][A-Za-z0-9_.:-]*")

# Every word of every keyword, which a bare word must not be: `domain name {`
# would read as the keyword "domain name", not as a block with handle "name".
KEYWORDS = frozenset(word for spelling in SPELLING.values() for word in spelling.split() if word.isalpha())


def dump(plan: Plan) -> str:
    """The configuration text of `plan`."""
    # a plan reduced to some domains (-nv HANDLE) keeps its run hooks on its jobs
    hooks = plan.run_hooks
    blocks = [_run_hooks(hooks)] if hooks else []
    blocks.extend(_authority(authority) for authority in plan.authorities)
    blocks.extend(_domain(job) for job in plan.domains)
    return "\n".join(blocks)


def _authority(authority: Authority) -> str:
    lines = [
        f"authority {_word(authority.name)} {{",
        f"\tapi url {_quoted(authority.api_url)}",
        f"\taccount key {_quoted(str(authority.account_key))} {key_spelling(authority.account_keytype, authority.account_key_size)}",
    ]
    if authority.contact is not None:
        lines.append(f"\tcontact {_quoted(authority.contact)}")
    if authority.ca_file is not None:
        lines.append(f"\tca file {_quoted(str(authority.ca_file))}")
    if authority.previous_account_key is not None:
        lines.append(f"\tprevious account key {_quoted(str(authority.previous_account_key))}")
    if authority.binding is not None:
        binding = authority.binding
        lines.append(
            f"\texternal account binding {_quoted(binding.kid)} {_quoted(str(binding.mac_key_file))} {binding.algorithm}"
        )
    if authority.insecure:
        lines.append("\tinsecure")
    lines.append("}\n")
    return "\n".join(lines)


def _domain(job: DomainJob) -> str:
    lines = [f"domain {_word(job.handle)} {{", f"\tdomain name {_word(job.names[0])}"]
    if len(job.names) > 1:
        lines.append(f"\talternative names {{ {', '.join(_word(n) for n in job.names[1:])} }}")
    lines.append(
        f"\tdomain key {_quoted(str(job.domain_key))} {key_spelling(job.keytype, job.key_size)}{_access(job.access('domain key'))}"
    )
    for output, path in (
        ("certificate", job.certificate),
        ("chain", job.chain),
        ("full chain", job.fullchain),
        ("combined", job.combined),
    ):
        if path is not None:
            keyword = "domain certificate" if output == "certificate" else f"domain {output} certificate"
            lines.append(f"\t{keyword} {_quoted(str(path))}{_access(job.access(output))}")
    lines.append(f"\tsign with {_word(job.authority.name)}")
    if job.dns_persist:
        lines.append("\tchallenge dns-persist-01")
    elif job.dns_hook is not None:
        lines.append(_hook(job.dns_hook))
    elif job.uses_challengedir and job.challenge_check is not None:
        address, port = job.challenge_check
        lines.append(f"\tchallengedir {_quoted(str(job.challengedir))} check {_quoted(address)} port {port}")
    elif job.uses_challengedir:
        lines.append(f"\tchallengedir {_quoted(str(job.challengedir))}")
    if job.profile is not None:
        lines.append(f"\tprofile {_quoted(job.profile)}")
    if job.preferred_chain is not None:
        lines.append(f"\tpreferred chain {_quoted(job.preferred_chain)}")
    if not job.renewal_information:
        lines.append("\tno renewal information")
    if job.responder is not None:
        lines.append(f"\tchallenge http-01 listen on {_quoted(job.responder[0])} port {job.responder[1]}")
    if job.tls_alpn is not None:
        lines.append(f"\tchallenge tls-alpn-01 listen on {_quoted(job.tls_alpn[0])} port {job.tls_alpn[1]}")
    lines.append("}\n")
    return "\n".join(lines)


def _access(access: FileAccess) -> str:
    """What follows an output file's path: its owner, group and mode as given, or nothing."""
    text = ""
    if access.owner is not None:
        text += f" owner {_word(access.owner)}"
    if access.group is not None:
        text += f" group {_word(access.group)}"
    if access.mode is not None:
        text += f" mode {access.mode:04o}"
    return text


def _hook(hook: DnsHook) -> str:
    """The `challenge dns-01 hook` line, every value spelled out."""
    line = f"\tchallenge dns-01 hook {_quoted(str(hook.program))}"
    if hook.user is not None:
        line += f" user {_word(hook.user)}"
    line += f" timeout {hook.timeout}"
    if hook.resolver is not None:
        line += f" resolver {_quoted(hook.resolver[0])} port {hook.resolver[1]}"
    return line + f" wait {hook.wait}"


def _run_hooks(hooks: tuple[RunHook, ...]) -> str:
    """The `hook changed` and `hook failed` lines, every value spelled out."""
    lines = []
    for hook in hooks:
        line = f"hook {hook.event} {_quoted(str(hook.program))}" + "".join(f" {_quoted(word)}" for word in hook.arguments)
        if hook.user is not None:
            line += f" user {_word(hook.user)}"
        lines.append(line + f" timeout {hook.timeout}\n")
    return "".join(lines)


def _word(text: str) -> str:
    if _BARE.fullmatch(text) and text not in KEYWORDS:
        return text
    return _quoted(text)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
