"""smtp.trusted_peers: anyone who reaches the SMTP listener directly can write an
Authentication-Results naming the trusted host, so when the setting lists the MTA's networks,
only mail from those peers has such a header believed; from any other peer it is ignored (the
bytes are kept as they came). Empty, the default, is the old behaviour: any peer.

Acme's ticket SUP-000001 is open at low; its account manager's mail is unsigned, so only the
`mx.test` pass on top of it can prove the sender.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from inbox.domain.ticket import Outcome
from inbox.settings import SmtpSettings
from tests.fakes import mail
from tests.integration.test_smtp import listening, rows, send
from tests.sla_kit import T0, Desk
from tests.staff_kit import PEOPLE, TAM, reply

AT = T0 + timedelta(minutes=5)
VOUCHED = b"Authentication-Results: mx.test; dkim=pass header.d=example.com\r\n" + reply(TAM, "#escalate\n\nPer the call.")


def config(trusted_peers: str) -> str:
    """The people desk, believing mx.test, with the listener's trusted peers set."""
    vouching = PEOPLE.replace("trusted_authserv_ids: [], verify_dkim: true", "trusted_authserv_ids: [mx.test], verify_dkim: true")
    assert vouching != PEOPLE
    return vouching + f"smtp: {{{{host: 127.0.0.1, trusted_peers: {trusted_peers}}}}}\n"


@pytest.fixture
def make(tmp_path: Path, db_url: str):
    desks: list[Desk] = []

    def build(trusted_peers: str) -> Desk:
        desks.append(Desk(tmp_path, db_url, config(trusted_peers)))
        assert desks[-1].feed(mail(), at=T0) == Outcome.OPENED
        return desks[-1]

    yield build
    for desk in desks:
        desk.close()


@pytest.mark.parametrize(("peer", "severity"), [
    ("203.0.113.7", "low"),  # anyone on the internet who found the port
    ("10.1.2.3", "medium"),  # the MTA
    ("::ffff:10.1.2.3", "medium"),  # the MTA, as a dual-stack listener sees it
    ("2001:db8::25", "low"),
])
def test_only_a_listed_peers_authentication_results_are_believed(make, peer: str, severity: str) -> None:
    """With trusted_peers [10.0.0.0/8], the same vouched #escalate escalates from 10.1.2.3 and from
    nowhere else; elsewhere it is refused as not authenticated."""
    desk = make("[10.0.0.0/8]")
    assert desk.feed(VOUCHED, at=AT, peer=peer) == Outcome.APPENDED
    assert desk.ticket().severity == severity
    refused = desk.events(kind="escalation_refused")
    assert (refused == []) == (severity == "medium")
    if refused:
        assert refused[0].detail["lines"][0]["reason"].startswith("not authenticated")


def test_mail_that_did_not_come_by_smtp_is_not_judged_by_peer(make) -> None:
    """IMAP and files have no SMTP peer: trusted_peers says nothing about them, as before."""
    desk = make("[10.0.0.0/8]")
    assert desk.feed(VOUCHED, at=AT, peer=None) == Outcome.APPENDED
    assert desk.ticket().severity == "medium"


@pytest.mark.parametrize(("trusted", "severity"), [("[10.0.0.0/8]", "low"), ("[127.0.0.1, '::1']", "medium")])
async def test_the_listener_records_the_peer_it_judges_by(make, trusted: str, severity: str) -> None:
    """Over a real loopback socket: the raw row records 127.0.0.1 beside the bytes, unchanged, and
    the vouched #escalate escalates only when 127.0.0.1 is listed."""
    desk = make(trusted)
    async with listening(desk.app) as door:
        code, _ = await send(door.port, VOUCHED, sender=TAM)
    assert code == 250
    row = rows(desk.app)[-1]
    assert (row.peer, row.data) == ("127.0.0.1", VOUCHED)
    assert desk.ingest(AT)[Outcome.APPENDED] == 1
    assert desk.ticket().severity == severity


def test_peer_checks() -> None:
    """Empty believes everyone; a listed network holds its addresses, IPv4-mapped IPv6 as IPv4;
    anything that is not an address (a unix socket, "unknown") is not listed."""
    assert SmtpSettings().trusted_peers == [] and SmtpSettings().believes_results_from("203.0.113.7")
    smtp = SmtpSettings(trusted_peers=["10.0.0.0/8", "192.0.2.25", "fd00::/8"])
    believed = ["10.255.0.1", "192.0.2.25", "::ffff:192.0.2.25", "fd12::1", "fd12::1%eth0", None]
    ignored = ["192.0.2.26", "11.0.0.1", "fe80::1", "unknown", "", "/run/inbox.sock"]
    assert [smtp.believes_results_from(p) for p in believed] == [True] * len(believed)
    assert [smtp.believes_results_from(p) for p in ignored] == [False] * len(ignored)


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "mx.example.com", "10.0.0.0/8,"])
def test_a_peer_that_is_not_a_network_is_refused_at_load(bad: str) -> None:
    """A typo in trusted_peers fails at start, naming the value, instead of trusting nobody or everybody."""
    with pytest.raises(ValidationError, match="is not an IP address or network"):
        SmtpSettings(trusted_peers=[bad])
    assert SmtpSettings(trusted_peers=["10.1.2.3/8"]).trusted_peers[0].with_prefixlen == "10.0.0.0/8"
