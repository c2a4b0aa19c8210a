"""The benchmarks' config is a valid config: a bench that cannot start measures nothing, and
nothing else runs bench/ in the suite (the SMTP and IMAP benches once broke on a new key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.ingest import config_text
from inbox.settings import load_settings


@pytest.mark.parametrize("rules", [False, True])
def test_the_bench_config_loads(tmp_path: Path, rules: bool) -> None:
    path = tmp_path / "inbox.yaml"
    path.write_text(config_text(f"sqlite:///{tmp_path}/bench.db", tmp_path, rules))
    settings = load_settings(path)
    assert settings.outbound.maildir == tmp_path / "sent"
    assert bool(settings.rules) is rules
    assert [len(p.assignment) for p in settings.plans.values()] == [1 if rules else 0]
