"""The Dockerfile and docker-compose.yml say what the code does: Docker does not run here, so
both files are read and checked against the config schema (config/docker.yaml loads, every
variable it names is set, the ports are the ones it listens on) and against the CLI (every
command parses, the one-shot migrate service runs before the instances serve).
tests/unit/test_docker_files.py checks what an operator asks of them (pins, hashes, secrets)."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from inbox.app import MIN_TOKEN
from inbox.cli_args import grammar
from inbox.service import JOIN_SECONDS
from inbox.settings import Settings, load_settings
from tests.durability.compose_kit import DEPLOYER_ENV, compose_service, interpolate
from tests.unit.docker_kit import COMPOSE, ROOT, dockerfile, exec_form, final_stage

INSTANCES = ("inbox-1", "inbox-2")
MAILPIT_SMTP = 1025  # the port Mailpit takes mail on


def inbox_command(argv: list[str]) -> list[str]:
    """An exec-form command that runs `inbox`, as its arguments: no shell between docker and it."""
    assert argv and argv[0] == "inbox", f"{argv} does not run inbox"
    return argv[1:]


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for word, rest in stage:
        if word == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                found[key] = value
    return found


@pytest.fixture(scope="module")
def image() -> list[tuple[str, str]]:
    return final_stage(dockerfile())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def settings(image: list[tuple[str, str]]) -> Settings:
    """The config the image starts with, read from the repository's copy of it."""
    container_path = env_of(image)["INBOX_CONFIG"]
    assert container_path.startswith("/app/config/"), container_path
    return load_settings(ROOT / "config" / container_path.removeprefix("/app/config/"))


def named_variables(settings: Settings) -> set[str]:
    """Every environment variable the config names: secrets, the database URL, IMAP passwords."""
    names = {settings.service.secret_env, settings.database.url_env, settings.http.admin_token_env,
             settings.outbound.password_env, *(mailbox.password_env for mailbox in settings.imap)}
    return {name for name in names if name}


def test_a_multi_stage_image_that_runs_as_a_user_of_its_own(image: list[tuple[str, str]]) -> None:
    steps = dockerfile()
    assert sum(word == "FROM" for word, _ in steps) >= 2
    assert any(word == "COPY" and rest.startswith("--from=build") for word, rest in image), "the final stage builds"
    users = [rest for word, rest in image if word == "USER"]
    assert users and users[-1] not in ("root", "0"), users
    assert any(word == "RUN" and "useradd" in rest and users[-1] in rest.split() for word, rest in image)
    for word, rest in steps:
        if word == "COPY" and not rest.startswith("--from"):
            *sources, _ = shlex.split(rest)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"


def test_it_serves_and_migrate_runs_first(image: list[tuple[str, str]], compose: dict[str, Any]) -> None:
    """The image serves, in exec form; migrating is the one-shot `migrate` service's job, which
    the compose file runs once and the instances wait for."""
    (cmd,) = [rest for word, rest in image if word == "CMD"]
    assert exec_form(cmd) == ["inbox", "serve"]
    assert grammar().parse_args(inbox_command(exec_form(cmd))).command == "serve"
    migrate = compose_service("migrate", COMPOSE)
    parsed = grammar().parse_args(inbox_command(list(migrate.argv)))
    assert (parsed.command, parsed.action) == ("db", "upgrade")
    assert compose["services"]["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_health_ports_and_volumes_match_the_config(image: list[tuple[str, str]], settings: Settings) -> None:
    (health,) = [rest for word, rest in image if word == "HEALTHCHECK"]
    options, _, command = health.partition("CMD ")
    probe = exec_form(command)
    assert probe[:2] == ["python", "-c"]
    compile(probe[2], "HEALTHCHECK", "exec")
    assert f"http://127.0.0.1:{settings.http.port}/healthz" in probe[2]
    assert "--timeout" in options and "--interval" in options
    exposed = {int(port) for word, rest in image if word == "EXPOSE" for port in rest.split()}
    assert exposed == {settings.smtp.port, settings.http.port}
    assert settings.smtp.host == settings.http.host == "0.0.0.0"  # reachable through the published ports
    assert [rest for word, rest in image if word == "WORKDIR"][-1] == "/app"
    copied = {shlex.split(rest)[-1] for word, rest in image if word == "COPY" and not rest.startswith("--from")}
    assert str(settings.templates.dir) in copied, "the image has the templates its config names"
    assert settings.database.url_env, "the image gets its database URL from the environment"


def test_compose_runs_two_instances_on_one_postgresql(compose: dict[str, Any], image: list[tuple[str, str]],
                                                       settings: Settings) -> None:
    services = compose["services"]
    assert set(INSTANCES) <= set(services)
    (cmd,) = [rest for word, rest in image if word == "CMD"]
    postgres = services["postgres"]
    urls, secrets, published = set(), set(), []
    for name in INSTANCES:
        service, process = services[name], compose_service(name, COMPOSE)
        assert list(process.argv) == exec_form(cmd), f"{name}: the same command as the image"
        grammar().parse_args(inbox_command(list(process.argv)))
        env = process.environment
        assert env["INBOX_CONFIG"] == env_of(image)["INBOX_CONFIG"]
        missing = named_variables(settings) - set(env)
        assert not missing, f"{name}: the config names {sorted(missing)}, which compose does not set"
        assert process.config == ROOT / "config" / "docker.yaml"
        url = make_url(env[settings.database.url_env])
        assert url.drivername == "postgresql+psycopg" and url.host == "postgres"
        server = {key: interpolate(str(value), DEPLOYER_ENV) for key, value in postgres["environment"].items()}
        assert (url.username, url.password, url.database) == (
            server["POSTGRES_USER"], server["POSTGRES_PASSWORD"], server["POSTGRES_DB"])
        assert len(env[settings.http.admin_token_env]) >= MIN_TOKEN, "a shorter token leaves the pages off"
        urls.add(str(url))
        secrets.add(env[settings.service.secret_env])
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        ports = [str(p).split(":") for p in service["ports"]]
        # The admin pages and a listener anyone could forge Authentication-Results to: loopback only.
        assert all(len(p) == 3 and p[0] == "127.0.0.1" for p in ports), f"{name} publishes {ports}"
        assert {int(container) for *_, container in ports} == {settings.smtp.port, settings.http.port}
        published += [int(host) for _, host, _ in ports]
        mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in service["volumes"]}
        assert {"/app/config", "/app/templates", "/app/var"} <= set(mounts)
        for target in ("/app/config", "/app/templates"):
            assert (COMPOSE.parent / mounts[target]).is_dir()
        assert mounts["/app/var"] in compose["volumes"], f"{name}: var is a named volume"
        assert _seconds(service["stop_grace_period"]) > JOIN_SECONDS, "serve drains before docker kills it"
    assert len(urls) == 1 and len(secrets) == 1, "both instances share one database and one Message-ID key"
    assert len(published) == len(set(published)), "two instances cannot publish the same host port"
    assert "healthcheck" in postgres


def test_outgoing_mail_goes_to_the_compose_mail_catcher(compose: dict[str, Any], settings: Settings) -> None:
    assert settings.outbound.transport == "smtp"
    assert settings.outbound.host in compose["services"]
    assert settings.outbound.port == MAILPIT_SMTP
    assert "mailpit" in compose["services"][settings.outbound.host]["image"]


def _seconds(value: str) -> int:
    assert value.endswith("s"), value
    return int(value[:-1])


def test_every_published_port_is_on_the_hosts_loopback(compose: dict[str, Any]) -> None:
    """No service of the compose file publishes a port on the host's other interfaces: the admin
    pages, the mail catcher's page and a listener that trusts what it is told stay on 127.0.0.1."""
    published = {name: [str(p) for p in service.get("ports", ())] for name, service in compose["services"].items()}
    assert any(published.values())
    for name, ports in published.items():
        for port in ports:
            assert port.startswith("127.0.0.1:") and port.count(":") == 2, f"{name} publishes {port}"
