"""The people tests' desk (an Acme ticket SUP-000001, its TAM, a DKIM key published for example.com)
serves the spoofing tests too."""

from tests.integration.test_people import desk, key  # noqa: F401 - fixtures, registered by import
