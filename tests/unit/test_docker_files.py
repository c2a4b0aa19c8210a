"""The Docker files an operator would sign: what goes into the image is pinned and checked, what
comes out of the compose file is private and secret-free.

Docker does not run here, so the files are read (tests/unit/docker_kit.py) and held to each point:
base images by digest, every dependency installed from a lock with hashes that still satisfies
pyproject.toml, a build context of only what the image copies, ports on the host's loopback,
secrets only from the deployer's environment, named volumes, a pg_dump of the server's major
version, and one `migrate` run that the instances wait for. test_deploy.py checks the same files
against the config and the CLI.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.durability.compose_kit import DEPLOYER_ENV, interpolate
from tests.unit.docker_kit import COMPOSE, DOCKERFILE, ROOT, dockerfile, dockerignore, exec_form, ignored

LOCK, BUILD_LOCK = ROOT / "requirements.lock", ROOT / "requirements-build.lock"
# name:full.version[-variant]@sha256:<64 hex>: the tag says which release, the digest fixes its bytes.
PINNED = re.compile(r"[a-z0-9./_-]+:v?\d+\.\d+(\.\d+)?[a-z0-9.-]*@sha256:[0-9a-f]{64}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)
REQUIRED = re.compile(r"\$\{([A-Z_][A-Z0-9_]*):\?[^}]+\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def steps() -> list[tuple[str, str]]:
    return dockerfile()


def locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """A pip requirements file with hashes: {name: (version, hashes)}; every entry is `==` and hashed."""
    entries: dict[str, tuple[str, list[str]]] = {}
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    for line in text.splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        requirement, *options = line.split("--hash=")
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;]+)(\s*;.*)?", requirement.strip())
        assert match, f"{path.name}: not pinned with ==: {line!r}"
        hashes = [option.strip() for option in options]
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), f"{path.name}: {line!r}"
        entries[canonicalize_name(match.group(1))] = (match.group(2), hashes)
    return entries


def runs(steps: list[tuple[str, str]]) -> list[list[str]]:
    """Each shell command of each RUN (split at &&), as words."""
    return [shlex.split(part) for word, rest in steps if word == "RUN" for part in rest.split("&&")]


def test_every_base_image_is_pinned_by_digest(steps: list[tuple[str, str]], compose: dict[str, Any]) -> None:
    """Every FROM and every compose image but the one it builds: a full version tag and a digest."""
    froms = [rest.split()[0] for word, rest in steps if word == "FROM"]
    assert len(froms) >= 2
    images = [service["image"] for service in compose["services"].values() if "build" not in service]
    for image in froms + images:
        assert PINNED.fullmatch(image), f"{image} is not pinned by a full version tag and a sha256 digest"
    assert not any(word == "ARG" and "@sha256" in rest for word, rest in steps), "pins stand in the FROM lines"


def test_the_image_installs_only_from_the_locks_with_hashes(steps: list[tuple[str, str]]) -> None:
    """Every pip that reaches an index installs from a lock with --require-hashes; the others take
    only the wheels built here (--no-index) or the service's own source; `pip check` ends the build."""
    pips = [words for words in runs(steps) if words and Path(words[0]).name == "pip"]
    assert pips, "the Dockerfile runs pip"
    locks = set()
    for words in pips:
        verb = next(w for w in words if w in ("install", "wheel", "check", "download", "uninstall"))
        targets = _positional(words[words.index(verb) + 1:])
        if verb == "check":
            continue
        assert verb in ("install", "wheel"), words
        if "-r" in words:
            assert "--require-hashes" in words and "--no-deps" in words and not targets, f"unhashed: {words}"
            locks.add(words[words.index("-r") + 1])
        elif "--no-index" in words:
            assert targets and all(t.startswith("/wheels/") for t in targets), f"not only the wheels built here: {words}"
        else:
            assert targets == ["."] and {"--no-deps", "--no-build-isolation"} <= set(words), f"from the index: {words}"
    assert locks == {LOCK.name, BUILD_LOCK.name}
    copied = {w for word, rest in steps if word == "COPY" for w in shlex.split(rest)[:-1]}
    assert {LOCK.name, BUILD_LOCK.name} <= copied
    assert any(words[-1] == "check" for words in pips), "pip check: the lock still satisfies pyproject.toml"


def _positional(words: list[str]) -> list[str]:
    """The words that are not options nor the values of pip's options that take one."""
    taking = {"-r", "-w", "-c", "--python", "--requirement", "--wheel-dir", "--constraint"}
    found, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in taking:
            skip = True
        elif not word.startswith("-"):
            found.append(word)
    return found


def test_the_locks_pin_and_hash_what_pyproject_asks_and_no_test_tool() -> None:
    """Every runtime dependency of pyproject.toml is locked at a version its specifier allows
    (a lock older than pyproject fails here, before a build would); the test extra is left out;
    the build backend has a lock of its own."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    runtime = locked(LOCK)
    for line in project["project"]["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in runtime, f"{requirement.name} is not in {LOCK.name}: refresh it (README, In Docker)"
        assert requirement.specifier.contains(runtime[name][0], prereleases=True), \
            f"{LOCK.name} pins {name}=={runtime[name][0]}, pyproject.toml asks {requirement.specifier}"
    runtime_names = {canonicalize_name(Requirement(line).name) for line in project["project"]["dependencies"]}
    for line in project["project"]["optional-dependencies"]["test"]:
        name = canonicalize_name(Requirement(line).name)
        assert name in runtime_names or name not in runtime, f"the test tool {name} is in the image's lock"
    build = locked(BUILD_LOCK)
    for line in project["build-system"]["requires"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in build and requirement.specifier.contains(build[name][0]), f"{name} in {BUILD_LOCK.name}"
    header = LOCK.read_text(encoding="utf-8").splitlines()[:3]
    command = next(line.strip("# ").strip() for line in header if line.lstrip("# ").startswith("uv pip compile"))
    assert "--generate-hashes" in command and command in (ROOT / "README.md").read_text(encoding="utf-8"), \
        "the README says how the lock is refreshed, with the command that made it"


def test_the_locks_refuse_what_is_not_pinned_and_hashed(tmp_path: Path) -> None:
    """The lock reader itself refuses an unpinned line and a line without a hash."""
    loose = tmp_path / "loose.lock"
    loose.write_text("aiosmtpd>=1.4 \\\n    --hash=sha256:" + "0" * 64 + "\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="not pinned"):
        locked(loose)
    loose.write_text("aiosmtpd==1.4.6\n", encoding="utf-8")
    with pytest.raises(AssertionError):
        locked(loose)


def test_every_published_port_is_on_loopback(compose: dict[str, Any]) -> None:
    """Short or long syntax, every published port is bound to 127.0.0.1 (the admin pages go behind
    a reverse proxy, the listener behind the MTA)."""
    published = 0
    for name, service in compose["services"].items():
        for port in service.get("ports", ()):
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1" and port.get("published"), f"{name}: {port}"
            else:
                assert str(port).startswith("127.0.0.1:") and str(port).count(":") == 2, f"{name} publishes {port}"
            published += 1
    assert published


def test_secrets_come_only_from_the_deployers_environment(compose: dict[str, Any]) -> None:
    """No literal secret (no `change-me`): every password, secret, token or key, and the password in
    the database URL, is a required `${VAR:?message}`, so compose refuses to start without it."""
    for path in (COMPOSE, DOCKERFILE):
        assert "change-me" not in path.read_text(encoding="utf-8").lower(), f"{path.name} holds a placeholder secret"
    required = set()
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            value = str(value)
            if SECRET_NAME.search(key):
                assert REQUIRED.fullmatch(value), f"{name}: {key} is not a required variable: {value!r}"
            for url_password in re.findall(r"://[^:/@]+:([^@]*)@", value):
                assert REQUIRED.fullmatch(url_password), f"{name}: {key} carries a literal password"
            required |= set(REQUIRED.findall(value))
            with pytest.raises(ValueError, match="required variable") if REQUIRED.search(value) else nullcontext():
                interpolate(value, {})
    assert required == set(DEPLOYER_ENV), "the README's .env and the test deployer name the same secrets"
    assert not any(word == "ENV" and SECRET_NAME.search(rest) for word, rest in dockerfile()), "no secret in the image"


def test_volumes_are_named_or_the_admins_files_read_only(compose: dict[str, Any], steps: list[tuple[str, str]]) -> None:
    """No anonymous volume: none in the Dockerfile, and every compose volume is a named one that the
    file declares, or a read-only bind mount of the repository's config or templates."""
    assert not any(word == "VOLUME" for word, _ in steps)
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes", ()):
            source, _, rest = str(volume).partition(":")
            assert rest, f"{name}: {volume} is an anonymous volume"
            if source.startswith("."):
                assert rest.endswith(":ro") and (ROOT / source).is_dir(), f"{name}: {volume}"
            else:
                assert source in declared, f"{name}: volume {source} is not declared under volumes:"


def test_pg_dump_is_of_the_servers_major_version(steps: list[tuple[str, str]], compose: dict[str, Any]) -> None:
    """pg_dump refuses a server newer than itself: the image installs the client of the compose
    PostgreSQL's major version (PGDG) and checks it did."""
    server = re.match(r"postgres:(\d+)\.", compose["services"]["postgres"]["image"])
    assert server
    (major,) = [rest.partition("=")[2] for word, rest in steps if word == "ARG" and rest.startswith("PG_MAJOR=")]
    assert major == server.group(1), f"pg_dump {major} for PostgreSQL {server.group(1)}"
    commands = runs(steps)
    assert ["/usr/share/postgresql-common/pgdg/apt.postgresql.org.sh", "-y"] in commands
    assert any("postgresql-client-${PG_MAJOR}" in words for words in commands)
    assert any(words[:2] == ["pg_dump", "--version"] for words in commands), "the build fails on another version"


def test_migrate_runs_once_and_the_instances_wait_for_it(compose: dict[str, Any], steps: list[tuple[str, str]]) -> None:
    """A one-shot `migrate` service runs `inbox db upgrade`; every other service of the image
    starts only after it exited 0 and never migrates itself."""
    services = compose["services"]
    migrate = services["migrate"]
    assert migrate["command"] == ["inbox", "db", "upgrade"] and migrate.get("restart") == "no"
    assert not migrate.get("ports")
    instances = [name for name, service in services.items() if "build" in service and name != "migrate"]
    assert len(instances) >= 2
    for name in instances:
        service = services[name]
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
        assert "upgrade" not in " ".join(service["command"]), f"{name} migrates at start"
    (cmd,) = [rest for word, rest in steps if word == "CMD"]
    assert "upgrade" not in exec_form(cmd)


def test_the_build_context_is_only_what_the_image_copies(steps: list[tuple[str, str]]) -> None:
    """.dockerignore names the virtualenv, the history and the service's disk, and leaves out
    everything else a checkout holds; every path the Dockerfile copies stays in."""
    patterns = dockerignore()
    assert {".venv", ".git", "var"} <= set(patterns)
    for path in (".venv/bin/python", ".git/HEAD", "var/inbox.sqlite3", "var/sent/new/1", ".env", "tests/conftest.py",
                 "bench/storm.py", "inbox/__pycache__/cli.cpython-311.pyc", "config/inbox.sqlite3",
                 ".pytest_cache/v/x", "inbox.egg-info/PKG-INFO", "Makefile", "docker-compose.yml"):
        assert ignored(path, patterns), f"{path} would go into the build context"
    for word, rest in steps:
        if word == "COPY" and not rest.startswith("--from"):
            for source in shlex.split(rest)[:-1]:
                assert not ignored(source, patterns), f"COPY {source}: left out by .dockerignore"
                inside = [p for p in (ROOT / source).rglob("*") if p.is_file() and "__pycache__" not in p.parts] \
                    if (ROOT / source).is_dir() else []
                for path in inside[:200]:
                    relative = path.relative_to(ROOT).as_posix()
                    assert not ignored(relative, patterns), f"{relative} is copied but left out of the context"


def test_the_ignore_matcher_reads_as_docker_does() -> None:
    """The last matching line decides, `!` lets a path back in, `*` stops at a slash, `**` does not."""
    assert ignored("a/b.txt", ["*"]) and not ignored("a/b.txt", ["*", "!a"])
    assert ignored("a/__pycache__/x.pyc", ["*", "!a", "**/__pycache__"])
    assert not ignored("a/b/c.txt", ["a/*.txt"]) and ignored("a/c.txt", ["a/*.txt"])
    assert ignored("a/b/c.txt", ["a/**/*.txt"]) and ignored("a/c.txt", ["a/**/*.txt"])

