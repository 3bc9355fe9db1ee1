"""revokeproc warms up before its jail: every sample leaf is judged in acquire (ARCHITECTURE.md).

With today's cryptography, judging a certificate after the jail loads
nothing new, so the guard cannot show the warm-up is needed (that is
tests/unit/test_warm_up.py's revokeproc case: it must import nothing, with
or without).  The warm-up stays because a release may change that; this
test keeps it there: the real acquire, given a certificate file, judges the
samples of every key type and a file that is no certificate before it
returns, that is, before run_role calls sandbox.enter.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from acme_conf import certstatus, samples
from acme_conf.proc import revokeproc
from acme_conf.proc.spec import ChildSpec, RevokeSettings


def test_acquire_judges_every_sample_before_it_returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    judged: list[bytes] = []
    real: Callable[..., certstatus.Examined] = certstatus.examine_certificate

    def recording(contents: bytes, *args: object) -> certstatus.Examined:
        judged.append(contents)
        return real(contents, *args)

    monkeypatch.setattr(certstatus, "examine_certificate", recording)
    certificate = tmp_path / "cert.pem"
    certificate.write_bytes(samples.SAMPLES[0].bundle)
    net, key = socket.socketpair(), socket.socketpair()
    spec = ChildSpec(
        "revokeproc", "warm.example.test", 0, False, (("netproc", net[1].detach()), ("keyproc", key[1].detach())),
        RevokeSettings(str(certificate), samples.NAMES, False, False),
    )
    held = revokeproc.acquire(spec)  # its channels now own the detached ends
    try:
        assert held.contents == samples.SAMPLES[0].bundle and held.judge is not None
        assert judged[: len(samples.SAMPLES)] == [sample.bundle for sample in samples.SAMPLES]
        assert b"not a certificate" in judged[len(samples.SAMPLES):]
    finally:
        for channel in (held.net, held.key):
            if channel is not None:
                channel.close()
        net[0].close()
        key[0].close()
