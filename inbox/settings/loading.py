"""Reading the config file: strict YAML in, `Settings` or one `file: key.path: why` line per problem out.

A key given twice is an error with its line number, not a silent overwrite, and every pydantic
ValidationError is turned into plain one-line problems, all reported at once, so one run of the
service names every mistake in the file. It never writes anything, never reads a secret, and
never decides what is valid: that is the models' job.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ValidationError

from classifiers import RuleError, compile_rules
from inbox.settings.document import Settings
from inbox.settings.fields import Located
from inbox.settings.secrets import read_secret


class ConfigError(Exception):
    """The config file cannot be used. Each entry of `problems` is one line: file: key.path: why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# -- reading the file -----------------------------------------------------------------------------


# libyaml's parser where PyYAML was built with it (its wheels are): the same safe constructor and
# resolver, its scanning in C; reading the example config took 70 ms in the pure-Python one.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):
    """YAML's SafeLoader, except that a key given twice is an error instead of a silent overwrite."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, typing.Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f'the key "{key}" is given twice', key_node.start_mark
                )
            if isinstance(key, typing.Hashable):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_settings(path: str | Path, *, holiday_names: bool = True) -> Settings:
    """Read and validate a config file; raise ConfigError listing every problem found.
    `holiday_names=False`: see `Settings.validated` (for commands that read stored tickets only)."""
    source = str(path)
    data = _read_yaml(Path(path), "the config file")
    if data is None:
        raise ConfigError([f"{source}: the config file is empty"])
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: must be a mapping of sections (service:, smtp:, plans:, ...)"])
    if isinstance(data.get("rules"), list):
        data["rules"] = [_included(Path(path), index, entry, data.get("severities"))
                         for index, entry in enumerate(data["rules"])]
    try:
        return Settings.validated(data, source_path=Path(path), holiday_names=holiday_names)
    except ValidationError as error:
        raise ConfigError([f"{source}: {line}" for line in _describe_all(error)]) from None


def _read_yaml(path: Path, what: str) -> Any:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError([f"{source}: cannot read {what}: {error.strerror or error}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{source}: {what} is not UTF-8 text"]) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f"line {mark.line + 1}" if mark else "YAML"
        raise ConfigError([f"{source}: {line}: not valid YAML: {error.problem or error.context}"]) from None
    except yaml.YAMLError as error:
        raise ConfigError([f"{source}: not valid YAML: {str(error).splitlines()[0]}"]) from None


def _included(config: Path, index: int, entry: Any, severities: Any) -> Any:
    """`{include: PATH}` in the rules list becomes `{include: PATH, rules: [...]}`, read from PATH
    (relative to the config file) and checked there, so a bad rule is reported in its own file."""
    if not (isinstance(entry, dict) and set(entry) == {"include"}):
        return entry
    name = entry["include"]
    if not isinstance(name, str) or not name.strip():
        raise ConfigError([f"{config}: rules.{index}.include: must be the path of a rules file"])
    path = config.parent / name
    rules = _read_yaml(path, "the rules file")
    if rules is None:
        rules = []
    if not isinstance(rules, list):
        raise ConfigError([f"{path}: must be a list of rules (- name: ...)"])
    known = severities if isinstance(severities, list) else ["critical", "high", "medium", "low"]
    try:
        compile_rules(rules, [str(s).strip().lower() for s in known])
    except RuleError as error:
        raise ConfigError([f"{path}: {_line(('rules', *p), message)}" for p, message in error.problems]) from None
    return {"include": name, "rules": rules}


# -- turning pydantic's errors into our one-line problems -----------------------------------------

_PLAIN_MESSAGES = {
    "missing": "is required",
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "date_type": "must be a date such as 2026-12-24",
    "date_parsing": "must be a date such as 2026-12-24",
    "date_from_datetime_parsing": "must be a date such as 2026-12-24",
    "path_type": "must be a file or folder path",
    "string_pattern_mismatch": "is not in the expected form",
}


def _describe_all(error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors(include_url=False):
        loc = tuple(part for part in item["loc"] if part != "[key]")
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, Located):
            lines += [_line(loc + sub, message) for sub, message in cause.items]
        else:
            lines.append(_line(loc, _describe(item, loc)))
    return lines


def _line(loc: tuple[str | int, ...], message: str) -> str:
    return f"{'.'.join(str(part) for part in loc)}: {message}" if loc else message


def _describe(item: Any, loc: tuple[str | int, ...]) -> str:
    kind, ctx, value = item["type"], item.get("ctx", {}), item.get("input")
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", item["msg"]))
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} {'entry' if ctx.get('min_length') == 1 else 'entries'}"
    if kind == "literal_error":
        return f"must be {str(ctx.get('expected')).replace(chr(39), chr(34))}, not {_quote(value)}"
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"must be {'at least' if kind.startswith('greater') else 'at most'} {ctx.get('ge', ctx.get('le'))}"
    if kind == "string_pattern_mismatch" and loc[-1:] == ("tracking_prefix",):
        return "must be 2 to 10 uppercase letters or digits, such as SUP"
    if kind == "string_pattern_mismatch" and loc[-1:] == ("url",):
        return "must be a sqlite:/// or postgresql+psycopg:// URL"
    message = _PLAIN_MESSAGES.get(kind) or item["msg"][:1].lower() + item["msg"][1:]
    return message if kind == "missing" or isinstance(value, (dict, list)) else f"{message}, not {_quote(value)}"


def _quote(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _unknown_key(loc: tuple[str | int, ...]) -> str:
    model: Any = Settings
    for part in loc[:-1]:
        model = _step(_unwrap(model), part)
    model = _unwrap(model)
    allowed = list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    if close:
        return f'unknown key (did you mean "{close[0]}"?)'
    return f"unknown key (allowed: {', '.join(allowed)})" if allowed else "unknown key"


def _unwrap(annotation: Any) -> Any:
    """`X` from Annotated[X, ...] and from X | None."""
    while typing.get_origin(annotation) in (Annotated, typing.Union, types.UnionType):
        annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    return annotation


def _step(annotation: Any, part: str | int) -> Any:
    """The type found one key below `annotation`, for naming the keys allowed there."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return field.annotation if field else None
    args = typing.get_args(annotation)
    return args[-1] if args else None


def database_url(settings: Settings) -> str:
    """The database to use: the URL in the environment variable `database.url_env` names, else `database.url`."""
    env = settings.database.url_env
    if env is None:
        return settings.database.url
    url = read_secret(env)
    if not url:
        raise ConfigError([f"{settings.source_path}: database.url_env: environment variable {env} is not set"])
    if not url.startswith(("sqlite://", "postgresql://", "postgresql+")):
        raise ConfigError([f"{settings.source_path}: database.url_env: {env} does not hold a sqlite:// or "
                           "postgresql:// URL"])
    return url
