"""Fixtures shared by the integration tests."""

from tests.seed_kit import seed  # noqa: F401 - a fixture: a desk on one shipped example config
