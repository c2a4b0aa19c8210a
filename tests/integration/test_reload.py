"""SIGHUP reloads the config: the desk's rules at once, sockets at the next restart, a broken file never."""

from __future__ import annotations

import logging
import os
import signal
import smtplib
from pathlib import Path

import pytest

from inbox.reload import ConfigReload
from inbox.settings import load_settings
from inbox.store.migrate import upgrade
from inbox.store import tickets as store
from tests.durability.serve import ServeProcess, free_port
from tests.fakes import mail, make_app, make_settings, write_config

NEW_CUSTOMER = """
  - {id: initech, name: Initech, plan: standard, domains: [initech.test]}
"""


def _add_customer(config: Path) -> None:
    text = config.read_text()
    anchor = "unknown_senders:"
    config.write_text(text.replace(anchor, NEW_CUSTOMER.lstrip("\n") + anchor, 1))


@pytest.fixture
def app(db_url: str, tmp_path: Path):
    app = make_app(make_settings(tmp_path, db_url))
    yield app
    app.close()


def _reload(app) -> ConfigReload:
    path = app.settings.source_path
    assert path is not None
    return ConfigReload(path, app.current_desk())


def _customer_of(app, data: bytes) -> str | None:
    worker = app.worker()
    ref = app.rawstore.put(data, "test")
    worker.drain([ref.id])
    with app.sessions() as session:
        ticket = store.list_tickets(session)[-1]
        return ticket.customer_id


def test_a_new_customer_counts_from_the_next_mail(app) -> None:
    worker, outbound = app.worker(), app.outbound()
    reload = _reload(app)
    before = app.desk()
    _add_customer(app.settings.source_path)

    done = reload()

    assert done.applied == ["customers"] and done.at_restart == [] and not done.refused
    assert app.desk() is not before and app.desk().secret == before.secret  # Message-IDs signed before stay ours
    outbound.run_once(app.clock.now())  # the outbound side built before the reload, at its next turn
    assert outbound.dispatcher.desk is app.desk()
    ref = app.rawstore.put(mail(sender="Pat <pat@initech.test>", message_id="<r1@initech.test>"), "test")
    worker.drain([ref.id])  # the worker built before the reload
    with app.sessions() as session:
        (ticket,) = store.list_tickets(session)
        assert ticket.customer_id == "initech"


def test_listener_and_database_changes_wait_for_a_restart(app) -> None:
    reload = _reload(app)
    config = app.settings.source_path
    running_port, running_url = app.settings.smtp.port, app.settings.database.url
    config.write_text(config.read_text() + "smtp: {host: 127.0.0.1, port: 2999}\n")
    _add_customer(config)

    done = reload()

    assert done.at_restart == ["smtp"] and done.applied == ["customers"]
    settings = app.desk().settings  # the settings in effect
    assert settings.smtp.port == running_port and settings.database.url == running_url
    assert settings.customer("initech") is not None and settings.source_path == config


def test_a_broken_file_is_refused_whole_and_the_desk_goes_on(app, caplog: pytest.LogCaptureFixture) -> None:
    reload = _reload(app)
    before = app.desk()
    config = app.settings.source_path
    _add_customer(config)
    config.write_text(config.read_text() + "severities: [urgent]\n")  # a key given twice

    with caplog.at_level(logging.ERROR, logger="inbox.reload"):
        done = reload()

    assert done.refused and done.applied == []
    assert app.desk() is before and app.desk().settings.customer("initech") is None
    assert any("given twice" in r.getMessage() and "still running" in r.getMessage() for r in caplog.records)


def test_serve_reloads_on_sighup(tmp_path: Path) -> None:
    """End to end: `inbox serve` takes a new customer on HUP; a broken file after that changes nothing."""
    smtp_port = free_port()
    config = write_config(tmp_path, f"sqlite:///{tmp_path}/inbox.db", extra=f"""
        smtp: {{host: 127.0.0.1, port: {smtp_port}}}
        http: {{host: 127.0.0.1, port: {free_port()}}}
        """)
    app = make_app(load_settings(config))
    upgrade(app.durable_engine)
    log = tmp_path / "serve.log"
    server = ServeProcess(config, smtp_port, log)
    try:
        server.start()
        _add_customer(config)
        assert server.proc is not None
        os.kill(server.proc.pid, signal.SIGHUP)
        assert server.wait_until(lambda: "customers now in effect" in log.read_text(), 30), log.read_text()[-2000:]
        _send(smtp_port, mail(sender="pat@initech.test", message_id="<hup1@initech.test>", subject="after HUP"))

        config.write_text(config.read_text() + "severities: [urgent]\n")
        assert server.proc is not None
        os.kill(server.proc.pid, signal.SIGHUP)
        assert server.wait_until(lambda: "config reload refused" in log.read_text(), 30)
        _send(smtp_port, mail(sender="pat@initech.test", message_id="<hup2@initech.test>", subject="after a typo"))

        def both_in() -> bool:
            with app.sessions() as session:
                return store.count_tickets(session) == 2

        assert server.wait_until(both_in, 60)
        assert server.terminate() == 0
    finally:
        server.kill()
    with app.sessions() as session:
        assert {t.customer_id for t in store.list_tickets(session)} == {"initech"}
    app.close()


def _send(port: int, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.sendmail("pat@initech.test", ["support@example.com"], data)
