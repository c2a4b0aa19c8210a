"""Fixtures shared by the integration tests."""

from tests.people_kit import make_desk  # noqa: F401 - a fixture: a desk on the people tests' config
from tests.seed_kit import seed  # noqa: F401 - a fixture: a desk on one shipped example config
