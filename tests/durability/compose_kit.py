"""docker-compose.yml, run on loopback: what the compose file deploys, as a test can start it here.

Docker does not run on our machines, so the several-instances test proves the compose file by
running its own words: each service's `command` and `environment` as written, and its config
(config/docker.yaml) with only the network addresses moved to loopback ports and a real SMTP
sink. Everything else (secrets by variable, the desk, the rules) stays as the container has it.
It never edits the compose file or the config folder; it writes its translations elsewhere.
The compose file takes its secrets from the deployer's environment (`${VAR:?...}`, no default):
`compose_service` interpolates them as compose does, from DEPLOYER_ENV unless given others.
Used by tests/durability/test_two_instances.py; a check that the compose file and config stay
in step (tests/unit/test_deploy.py) can reuse `compose_service` and `loopback_config`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import yaml
from aiosmtpd.controller import Controller

from tests.integration.test_serve_outbound import Sink

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
VENV_BIN = ROOT / ".venv" / "bin"
# The .env a deployer writes beside the compose file (README, "In Docker"): test values only.
DEPLOYER_ENV: Mapping[str, str] = {
    "POSTGRES_PASSWORD": "9f2c4e6a8b0d1f3e5a7c9b2d4f6e8a0c",
    "INBOX_SECRET": "3b" * 32,
    "INBOX_ADMIN_TOKEN": "c0ffee" * 6,
}
# Compose's interpolation: $$, ${VAR}, ${VAR:?message}, ${VAR?message}, ${VAR:-default}, ${VAR-default}, $VAR.
_VARIABLE = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[?-])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass(frozen=True)
class ComposeService:
    """One compose service as a process: its command (argv) and its environment, verbatim."""

    name: str
    argv: tuple[str, ...]
    environment: Mapping[str, str]
    config: Path  # the host file mounted at the container path INBOX_CONFIG names


@dataclass(frozen=True)
class Loopback:
    """Where a translated instance listens and sends, on 127.0.0.1."""

    smtp_port: int
    http_port: int
    relay_host: str
    relay_port: int
    imap: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Instance:
    """A compose service translated to loopback: run `argv` with `environment` (cwd ROOT)."""

    argv: tuple[str, ...]
    environment: dict[str, str]
    config: Path
    where: Loopback


def loopback_instance(name: str, target_dir: Path, where: Loopback, *, database_url: str,
                      extra: Mapping[str, str] | None = None, compose_file: Path = COMPOSE_FILE) -> Instance:
    """Compose service `name` as a process here: its command verbatim, its environment with only
    INBOX_DATABASE_URL and INBOX_CONFIG overridden (the latter to its config, translated by
    `loopback_config` into `target_dir`), plus `extra` variables the compose file does not set."""
    service = compose_service(name, compose_file)
    config = loopback_config(service.config, target_dir / service.config.name, where)
    env = loopback_environment(service, {"INBOX_DATABASE_URL": database_url, "INBOX_CONFIG": str(config)}, extra)
    return Instance(argv=service.argv, environment=env, config=config, where=where)


def compose_service(name: str, compose_file: Path = COMPOSE_FILE,
                    variables: Mapping[str, str] = DEPLOYER_ENV) -> ComposeService:
    """Service `name` of the compose file, its `x-inbox` anchor merged in by YAML's `<<`, its
    environment interpolated from `variables` as compose does from the deployer's."""
    document = yaml.safe_load(compose_file.read_text(encoding="utf-8"))
    service = document["services"][name]
    command = service["command"]
    # The exec form only: a string command would be split by compose's own shell-like rules.
    if not (isinstance(command, list) and all(isinstance(part, str) for part in command)):
        raise ValueError(f"{compose_file}: services.{name}.command: expected a list of strings, got {command!r}")
    environment = {str(k): interpolate(str(v), variables) for k, v in service["environment"].items()}
    return ComposeService(name=name, argv=tuple(command), environment=environment,
                          config=_host_path(compose_file, service, environment["INBOX_CONFIG"]))


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """`value` with its variables replaced as compose replaces them; a required one that is unset
    (or empty, for `:?`) is refused with its message, as compose refuses to start."""

    def one(match: re.Match[str]) -> str:
        dollar, braced, operator, argument, bare = match.groups()
        if dollar:
            return "$"
        name = braced or bare
        found = variables.get(name)
        unset = found is None or (found == "" and operator is not None and operator.startswith(":"))
        if operator in ("?", ":?") and unset:
            raise ValueError(f"required variable {name} is missing a value: {argument}")
        if operator in ("-", ":-") and unset:
            return argument
        return found or ""

    return _VARIABLE.sub(one, value)


def _host_path(compose_file: Path, service: Mapping[str, Any], container_path: str) -> Path:
    """The host file behind `container_path`, through the service's bind mounts (`./config:/app/config:ro`)."""
    for volume in service.get("volumes", []):
        source, _, rest = str(volume).partition(":")
        target = rest.split(":")[0]
        if source.startswith(".") and container_path.startswith(target.rstrip("/") + "/"):
            return (compose_file.parent / source / container_path[len(target.rstrip("/")) + 1:]).resolve()
    raise ValueError(f"{compose_file}: no bind mount holds {container_path}")


def loopback_config(source: Path, target: Path, where: Loopback) -> Path:
    """Write `source` (config/docker.yaml) to `target` with only its addresses changed: SMTP and
    HTTP on 127.0.0.1 at the given ports, outbound mail to the relay, and `where.imap` as its
    mailboxes. Relative rule includes become absolute, so they resolve from the new place."""
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    config["smtp"] = {**config["smtp"], "host": "127.0.0.1", "port": where.smtp_port}
    config["http"] = {**config["http"], "host": "127.0.0.1", "port": where.http_port}
    config["outbound"] = {**config["outbound"], "host": where.relay_host, "port": where.relay_port}
    config["imap"] = [dict(mailbox) for mailbox in where.imap]
    config["rules"] = [_absolute_include(source, rule) for rule in config.get("rules", [])]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return target


def _absolute_include(source: Path, rule: Any) -> Any:
    """`{include: rules/default.yaml}` read from where `source` is, not from where its copy is written."""
    if isinstance(rule, dict) and set(rule) == {"include"}:
        return {"include": str((source.parent / rule["include"]).resolve())}
    return rule


def loopback_environment(service: ComposeService, overrides: Mapping[str, str],
                         extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The compose environment with `overrides` replacing some of its values and `extra` adding
    variables it does not have, on a PATH that finds this checkout's `inbox` first (the image's
    /opt/inbox/bin). An override of a variable the compose file does not set is refused: a typo
    would otherwise test a deployment nobody runs. Nothing else of the caller's environment leaks
    in, so the process sees what the container would."""
    unknown = sorted(set(overrides) - set(service.environment))
    if unknown:
        raise ValueError(f"services.{service.name}.environment does not set {', '.join(unknown)}")
    clashing = sorted(set(extra or {}) & set(service.environment))
    if clashing:
        raise ValueError(f"{', '.join(clashing)} is set by the compose file: pass it as an override")
    return {"PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            **service.environment, **overrides, **(extra or {})}


def message_ids(sink: Sink) -> list[str]:
    """The Message-ID of every email the sink received, without angle brackets, in order of arrival."""
    with sink.lock:
        received = list(sink.received)
    return [str(message_from_bytes(data, policy=default_policy)["Message-ID"]).strip().strip("<>")
            for _, _, data in received]


def start_sink(port: int) -> tuple[Sink, Controller]:
    """The serve test's aiosmtpd sink, started on 127.0.0.1:`port`; stop the controller when done."""
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    return sink, controller
