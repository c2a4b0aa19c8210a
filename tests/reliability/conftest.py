"""The people tests' desk (an Acme ticket SUP-000001, its TAM, a DKIM key published for example.com)
serves the spoofing tests too: `desk` and `key` are tests/staff_kit.py's, registered by
tests/conftest.py's `pytest_plugins`. `app` is a plain app on the test's database."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from inbox.app import App
from tests.fakes import make_app, make_settings


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Iterator[App]:
    """An app on the test's database, closed after the test."""
    app = make_app(make_settings(tmp_path, db_url))
    yield app
    app.close()
