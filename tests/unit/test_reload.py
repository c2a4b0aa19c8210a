"""A reload's merge of the running settings and the file read again, and the one current desk it sets."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from inbox.reload import ConfigReload, merge
from inbox.settings import ConfigError, Settings, load_settings
from inbox.tickets import Contracts, CurrentDesk, Desk

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
BASE: dict[str, Any] = yaml.safe_load((CONFIG_DIR / "inbox.yaml").read_text())
BASE.pop("rules", None)  # its include is relative to config/


def _write(path: Path, port: int = 2525, domain: str = "acme.com", sender: str = "support@example.com") -> Path:
    data = copy.deepcopy(BASE)
    data["smtp"] = {"host": "127.0.0.1", "port": port}
    data["outbound"]["from_address"] = sender
    data["customers"][0]["domains"] = [domain]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_merge_keeps_running_sections_and_derives_its_lookups_afresh(tmp_path: Path) -> None:
    """What either side had derived (and cached) from its own sections never leaks into the merge."""
    old = load_settings(_write(tmp_path / "inbox.yaml"))
    assert old.customer_for("pat@acme.com") is not None  # the lookups are built, and kept, on `old`
    new = load_settings(_write(tmp_path / "new.yaml", port=2999, domain="initech.test", sender="help@other.test"))
    assert new.own_domain == "other.test"  # derived from `outbound`, which only a restart applies

    merged = merge(old, new)

    assert merged.smtp == old.smtp and merged.smtp.port == 2525  # a listener change waits for a restart
    assert merged.own_domain == "example.com"
    assert merged.customer_for("pat@acme.com") is None
    assert merged.customer_for("pat@initech.test") is not None
    assert merged.source_path == old.source_path == tmp_path / "inbox.yaml"


def test_the_source_path_is_given_at_construction_never_by_the_file(tmp_path: Path) -> None:
    """Settings built in code have no source path; a file that names one is refused."""
    assert Settings.validated(copy.deepcopy(BASE)).source_path is None
    assert Settings.validated(copy.deepcopy(BASE), source_path=tmp_path / "x.yaml").source_path == tmp_path / "x.yaml"
    path = tmp_path / "inbox.yaml"
    path.write_text(yaml.safe_dump({**BASE, "source_path": "/etc/passwd"}, sort_keys=False))
    with pytest.raises(ConfigError) as refused:
        load_settings(path)
    assert any(problem.startswith(f"{path}: source_path: unknown key") for problem in refused.value.problems)


def test_a_reload_sets_the_current_desk_and_a_refused_file_leaves_it(tmp_path: Path) -> None:
    """Parts that read the current desk get the reloaded one; after a broken file, still the one before."""
    path = _write(tmp_path / "inbox.yaml")
    settings = load_settings(path)
    current = CurrentDesk(Desk(settings, Contracts(settings), "secret"))
    reload = ConfigReload(path, current)

    _write(path, domain="initech.test")
    assert reload().applied == ["customers"]
    reloaded = current.get()
    assert reloaded.settings.customer_for("pat@initech.test") is not None and reloaded.secret == "secret"

    path.write_text(path.read_text() + "severities: [urgent]\n")  # a key given twice
    assert reload().refused
    assert current.get() is reloaded
