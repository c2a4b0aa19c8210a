"""Secrets by the name of the environment variable that holds them, as the config file gives them.

The only place the settings package reads a secret's value. It never logs, caches or stores
one: callers ask when they need it, so the config and the loaded settings hold only names.
"""

from __future__ import annotations

import os


def read_secret(env_name: str | None) -> str | None:
    """The secret held by environment variable `env_name`; None when unnamed, unset or empty."""
    if not env_name:
        return None
    return os.environ.get(env_name) or None
