"""Reading the Dockerfile, docker-compose.yml and .dockerignore as Docker reads them, for the tests
that check them (test_deploy.py, test_docker_files.py): Docker does not run on our machines.

Plain parsing, no judgement: the tests decide what the files must say. Compose's variable
interpolation lives in tests/durability/compose_kit.py, beside the code that runs the services.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERIGNORE = ROOT / ".dockerignore"


def dockerfile(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """The instructions, continuation lines joined and comments dropped: [("FROM", "python:... AS build"), ...]."""
    steps: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction is dropped too, as Docker does
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        word, _, rest = (pending + line).strip().partition(" ")
        steps.append((word.upper(), rest.strip()))
        pending = ""
    return steps


def final_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last:]


def exec_form(value: str) -> list[str]:
    """A JSON-array CMD or HEALTHCHECK CMD: the shell form would not receive SIGTERM."""
    parsed = json.loads(value)
    assert isinstance(parsed, list) and all(isinstance(part, str) for part in parsed), value
    return parsed


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore's `patterns` leave `path` (relative, with /) out of the build context:
    the last pattern that matches the path or one of its parent folders decides (`!` lets it back
    in); `*` and `?` stop at a slash, `**` crosses them (moby/patternmatcher)."""
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _regex(pattern.removeprefix("!").strip("/"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def dockerignore(path: Path = DOCKERIGNORE) -> list[str]:
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i:end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)
