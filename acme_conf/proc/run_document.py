"""The run hook's standard input: what the run did, as one JSON document (schema in acme-client.conf(5), HOOKS).

Built by the parent from the plan and the chains' results only: nothing a
child or the CA sent reaches it but a result's `reason`, a sanitised line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from acme_conf.config.plan import DomainJob
from acme_conf.proc.reports import ChainResult

VERSION = 1  # a field added keeps it; one removed or changed in meaning raises it
RESULTS = ("changed", "unchanged", "failed")


def result_word(result: ChainResult) -> str:
    """"failed", "changed" or "unchanged": what became of one domain."""
    return "failed" if result.failed else "changed" if result.changed else "unchanged"


def domain_entry(job: DomainJob, result: ChainResult) -> dict[str, object]:
    """One domain: its handle, names, authority, result, why, and the files its certificate is kept in."""
    files = {"certificate": job.certificate, "chain": job.chain, "fullchain": job.fullchain, "combined": job.combined}
    return {
        "handle": job.handle,
        "names": list(job.names),
        "authority": job.authority.name,
        "result": result_word(result),
        "reason": result.reason,
        "files": {kind: str(path) for kind, path in files.items() if path is not None},
    }


def run_document(event: str, status: int, jobs: Sequence[DomainJob], results: Sequence[ChainResult]) -> bytes:
    """The document for the `event` hook ("changed" or "failed") of a run that ended with `status`.

    Domains are listed under their result, each list in the order of the run's domains.
    """
    by_handle = {result.handle: result for result in results}
    document: dict[str, object] = {"version": VERSION, "hook": event, "status": status}
    lists: dict[str, list[dict[str, object]]] = {word: [] for word in RESULTS}
    for job in jobs:
        result = by_handle.get(job.handle)
        if result is not None:
            lists[result_word(result)].append(domain_entry(job, result))
    document.update(lists)
    return json.dumps(document, indent=2, ensure_ascii=True).encode("ascii") + b"\n"
