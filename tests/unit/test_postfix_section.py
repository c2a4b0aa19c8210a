"""The README's Postfix section pastes as it stands, and says what the example config says.

Each file of the section is a fenced block whose first line names it (`# /etc/postfix/main.cf`).
Read as Postfix and OpenDKIM read them: main.cf has no trailing comments (a `#` after a value is
part of the value: a fatal "bad numerical configuration" for a number, more milter names for
`smtpd_milters`), every logical line is `name = value`, master.cf lines have their eight fields.
Then they are held to config/inbox.example.yaml: the size limit below `max_message_bytes` with
room for Postfix's counting, unknown addresses refused at RCPT, milters that fail safe, the
transport at the listener's port, OpenDKIM writing the authserv-id inbox trusts and removing
forged ones. Where Postfix and OpenDKIM are installed (CI installs them), `postconf`, `postmap`
and `opendkim -n` read the same blocks.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from inbox.ingest.authenticate import _AUTHSERV_ID  # what inbox reads as a header's authserv-id
from inbox.settings import Settings, load_settings
from tests.conftest import missing_service
from tests.dkim_kit import make_key

pytestmark = pytest.mark.servers  # `make quick` leaves it out: it starts a real server or tool

ROOT = Path(__file__).resolve().parents[2]
SECTION = "### Putting Postfix (or another MTA) in front"
EXAMPLE = ROOT / "config" / "inbox.example.yaml"
# Headroom between Postfix's count and inbox's (README, "Sizes"): 2 % for a listener that counts
# the stuffed dots (1.3 % at most for 76-character lines), 64 KiB for the headers Postfix and its
# milters add on the way (Received, Authentication-Results: under 2 KiB together).
SIZE_SHARE, HEADER_ROOM = 0.98, 65_536
MAIN, MASTER, TRANSPORT = "/etc/postfix/main.cf", "/etc/postfix/master.cf", "/etc/postfix/transport"
RECIPIENTS, HEADER_CHECKS, OPENDKIM = "/etc/postfix/relay_recipients", "/etc/postfix/header_checks", "/etc/opendkim.conf"


def section_blocks(readme: Path = ROOT / "README.md") -> dict[str, list[list[str]]]:
    """The section's fenced blocks by the file their first line names, each as its lines."""
    text = readme.read_text(encoding="utf-8")
    start = text.index(SECTION + "\n")
    end = text.find("\n### ", start + len(SECTION))
    blocks: dict[str, list[list[str]]] = {}
    for body in re.findall(r"^```[^\n]*\n(.*?)^```$", text[start:end if end > 0 else None], re.MULTILINE | re.DOTALL):
        lines = body.rstrip("\n").split("\n")
        match = re.match(r"# (/etc/\S+)", lines[0])
        if match:
            blocks.setdefault(match.group(1), []).append(lines)
    return blocks


def is_comment(line: str) -> bool:
    """Postfix and OpenDKIM skip blank lines and lines whose first non-blank character is `#`."""
    return not line.strip() or line.lstrip().startswith("#")


def main_cf(lines: list[str]) -> dict[str, str]:
    """main.cf's parameters as postconf(5) reads them: `name = value`, a line that starts with
    white space continues the one before, and a `#` anywhere else is part of the value."""
    params: dict[str, str] = {}
    name = None
    for line in lines:
        if is_comment(line):
            continue
        if line[0].isspace():
            assert name is not None, f"a continuation with nothing to continue: {line!r}"
            params[name] += " " + line.strip()
            continue
        match = re.fullmatch(r"([a-z][a-z0-9_]*)\s*=\s*(.*)", line)
        assert match, f"main.cf: not `name = value`: {line!r}"
        name = match.group(1)
        assert name not in params, f"main.cf sets {name} twice"
        params[name] = match.group(2).rstrip()
    for name, value in params.items():
        assert "#" not in value, f"main.cf has no trailing comments: {name} = {value!r}"
    return params


def master_cf(lines: list[str]) -> dict[str, dict[str, str]]:
    """master.cf's services ("name/type") with their `-o name=value` overrides (master(5))."""
    services: dict[str, dict[str, str]] = {}
    current = None
    for line in lines:
        if is_comment(line):
            continue
        words = line.split()
        if line[0].isspace():
            assert current is not None and words[0] == "-o" and len(words) == 2, f"master.cf: {line!r}"
            key, equals, value = words[1].partition("=")
            assert equals and re.fullmatch(r"[a-z][a-z0-9_]*", key) and "#" not in value, f"master.cf: {line!r}"
            services[current][key] = value
            continue
        assert len(words) == 8, f"master.cf: a service line has 8 fields: {line!r}"
        assert words[1] in ("inet", "unix", "unix-dgram", "fifo", "pass") and words[7] == "smtpd", line
        assert all(field in ("-", "y", "n") for field in words[2:5]), f"private, unpriv, chroot: {line!r}"
        current = f"{words[0]}/{words[1]}"
        services[current] = {}
    return services


def table(lines: list[str]) -> dict[str, str]:
    """A lookup table (transport, relay_recipients): `key value`, the value may hold spaces."""
    entries: dict[str, str] = {}
    for line in lines:
        if is_comment(line):
            continue
        key, _, value = line.strip().partition(" ")
        assert key and value.strip() and "#" not in line, f"table line {line!r}"
        entries[key] = value.strip()
    return entries


def opendkim_conf(lines: list[str]) -> dict[str, str]:
    """opendkim.conf(5): `Name value` a line."""
    params: dict[str, str] = {}
    for line in lines:
        if is_comment(line):
            continue
        name, _, value = line.strip().partition(" ")
        assert value.strip() and "#" not in line, f"opendkim.conf: {line!r}"
        params[name] = value.strip()
    return params


def next_hops(nexthop: str) -> list[tuple[str, int]]:
    """`[10.0.0.11]:2525, [10.0.0.12]:2525` as (host, port) pairs: MX lookups off, ports given."""
    hops = []
    for hop in re.split(r"[,\s]+", nexthop.strip()):
        match = re.fullmatch(r"\[([^\]]+)\]:(\d+)", hop)
        assert match, f"next hop {hop!r}: write [host]:port (no MX lookup, the listener's port)"
        hops.append((match.group(1), int(match.group(2))))
    return hops


def python_regexp(postfix_rule: str) -> tuple[re.Pattern[str], str]:
    """A regexp_table(5) line (`/pattern/ ACTION`, case-insensitive) as a Python pattern; the
    section's pattern uses no POSIX feature but `[:space:]`, which Python spells out."""
    match = re.fullmatch(r"/(.+)/\s+(\S+)", postfix_rule)
    assert match, postfix_rule
    return re.compile(match.group(1).replace("[:space:]", r" \t\r\n\f\v"), re.IGNORECASE), match.group(2)


@pytest.fixture(scope="module")
def blocks() -> dict[str, list[list[str]]]:
    found = section_blocks()
    missing = {MAIN, MASTER, TRANSPORT, RECIPIENTS, HEADER_CHECKS, OPENDKIM} - set(found)
    assert not missing, f"the Postfix section has no block for {sorted(missing)}"
    return found


@pytest.fixture(scope="module")
def example() -> Settings:
    return load_settings(EXAMPLE)


@pytest.fixture(scope="module")
def main(blocks: dict[str, list[list[str]]]) -> dict[str, str]:
    (lines,) = blocks[MAIN]
    return main_cf(lines)


@pytest.fixture(scope="module")
def dkim_conf(blocks: dict[str, list[list[str]]]) -> dict[str, str]:
    (lines,) = blocks[OPENDKIM]
    return opendkim_conf(lines)


def test_the_parsers_refuse_what_broke_postfix() -> None:
    """The old block's trailing comments, and lines that are not `name = value`, are refused."""
    with pytest.raises(AssertionError, match="trailing comments"):
        main_cf(["message_size_limit = 26214400            # no more than smtp.max_message_bytes"])
    with pytest.raises(AssertionError, match="trailing comments"):
        main_cf(["smtpd_milters = inet:127.0.0.1:8891,", "   inet:127.0.0.1:8893   # OpenDMARC"])
    with pytest.raises(AssertionError, match="not `name = value`"):
        main_cf(["relay_domains example.com"])
    with pytest.raises(AssertionError, match="8 fields"):
        master_cf(["127.0.0.1:10025 inet n - n - smtpd"])
    with pytest.raises(AssertionError):
        next_hops("smtp:[127.0.0.1]:2525, smtp:[10.0.0.12]:2525")  # one transport name, not one a hop


def test_main_cf_reads_as_postfix_reads_it_and_its_numbers_parse(main: dict[str, str], example: Settings) -> None:
    """Every line is `name = value`, a continuation or a comment of its own; the size is a number
    safely below inbox's, so Postfix refuses at its door what inbox would refuse after it."""
    for name, value in main.items():
        if value[:1].isdigit():  # a number, or a time such as 300s: nothing may follow it
            assert re.fullmatch(r"\d+[smhdw]?", value), f"{name} = {value!r} does not parse as a number"
    limit = main["message_size_limit"]
    assert re.fullmatch(r"\d+", limit), f"message_size_limit = {limit!r} is not a number"
    ceiling = int(example.smtp.max_message_bytes * SIZE_SHARE) - HEADER_ROOM
    assert 0 < int(limit) <= ceiling, f"message_size_limit {limit} > {ceiling} (max_message_bytes less the margin)"


def test_unknown_addresses_are_refused_at_rcpt(main: dict[str, str], blocks: dict[str, list[list[str]]],
                                               example: Settings) -> None:
    """relay_recipient_maps lists every address the desk takes, in a domain Postfix relays: any
    other address is refused while the sender is connected, never bounced later (backscatter)."""
    assert main["relay_recipient_maps"] == f"hash:{RECIPIENTS}"
    (lines,) = blocks[RECIPIENTS]
    listed = set(table(lines))
    relayed = set(re.split(r"[,\s]+", main["relay_domains"]))
    for address in example.addresses:
        assert address in listed, f"{address} is not in {RECIPIENTS}: Postfix would refuse the desk's mail"
        assert address.rpartition("@")[2] in relayed
    assert main["recipient_delimiter"] == "+", "support+acme@ is looked up as support@, as inbox matches it"


def test_milters_fail_safe(main: dict[str, str], blocks: dict[str, list[list[str]]], dkim_conf: dict[str, str],
                           example: Settings) -> None:
    """Inbound: a dead OpenDKIM lets mail through (inbox verifies DKIM itself); no milter for
    mail that does not come over SMTP; inbox's own mail on a listener with an action of its own."""
    assert main["milter_default_action"] == "accept"
    assert example.authentication.verify_dkim, "accepting without a verdict is safe only while inbox verifies"
    assert main["non_smtpd_milters"] == ""
    port, _, host = dkim_conf["Socket"].removeprefix("inet:").partition("@")
    assert main["smtpd_milters"] == f"inet:{host}:{port}", "smtpd_milters names OpenDKIM's socket"
    (lines,) = blocks[MASTER]
    services = master_cf(lines)
    assert len(services) == 1
    ((name, options),) = services.items()
    listen_host, _, listen_port = name.removesuffix("/inet").rpartition(":")
    assert options["milter_default_action"] in ("tempfail", "accept")
    assert options["smtpd_milters"] == main["smtpd_milters"]
    assert listen_host in dkim_conf["InternalHosts"].split(","), "OpenDKIM signs what this listener takes"
    told = re.search(r"`outbound: \{transport: smtp, host: ([\d.]+), port: (\d+)\}`", _section_text())
    assert told and told.groups() == (listen_host, listen_port), "the README points outbound at this listener"


def test_the_transport_reaches_the_listener_of_every_instance(blocks: dict[str, list[list[str]]],
                                                              example: Settings) -> None:
    """One instance: each desk address to the listener's address and port. Several: one transport
    with a list of next hops (Postfix 3.5 and later), each at the listener's port."""
    single, several = blocks[TRANSPORT]
    entries = table(single)
    for address in example.addresses:
        assert entries[address] == f"smtp:[{example.smtp.host}]:{example.smtp.port}"
    (key, value), = table(several).items()
    assert key in example.addresses and value.startswith("smtp:")
    hops = next_hops(value.removeprefix("smtp:"))
    assert len(hops) >= 2 and len(set(hops)) == len(hops)
    assert {port for _, port in hops} == {example.smtp.port}


def test_opendkim_writes_the_trusted_id_removes_forgeries_and_signs(dkim_conf: dict[str, str], example: Settings) -> None:
    """AuthservID is the id inbox trusts; arriving headers of that id are all removed; verify
    mode for what arrives, signing for the domain inbox sends from."""
    assert dkim_conf["AuthservID"] in example.authentication.trusted_authserv_ids
    assert dkim_conf["AuthservID"] in re.split(r"[,\s]+", dkim_conf["RemoveARFrom"])
    assert dkim_conf["RemoveARAll"].lower()[:1] in ("y", "t", "1"), "by default only those with a DKIM result go"
    assert set(dkim_conf["Mode"]) == {"s", "v"}
    assert dkim_conf["Domain"] == example.outbound.from_email.rpartition("@")[2]
    assert dkim_conf["Selector"] and dkim_conf["KeyFile"].startswith("/")


def forgeries(authserv_id: str) -> list[str]:
    """Headers a sender could write that inbox would read as `authserv_id`'s own: every one must go."""
    upper = authserv_id.upper()
    return [f"Authentication-Results: {authserv_id}; dkim=pass header.d=acme.com",
            f"authentication-results:{upper};dmarc=pass header.from=acme.com",
            f'Authentication-Results: (ours) "{authserv_id}"; spf=pass smtp.mailfrom=acme.com',
            f"Authentication-Results:\n\t{authserv_id}\n\t; dkim=pass header.d=acme.com",
            f"Authentication-Results: {authserv_id} 1; dkim=pass header.d=acme.com",
            f"Authentication-Results: {authserv_id}(c); dkim=pass"]


def inbox_reads(header: str) -> str:
    value = header.partition(":")[2]
    match = _AUTHSERV_ID.match(value)
    return match.group(1).lower() if match else ""


def test_header_checks_remove_every_forgery_inbox_would_believe(main: dict[str, str], blocks: dict[str, list[list[str]]],
                                                                example: Settings) -> None:
    """Whatever spelling the forger picks, a header inbox would read as from a trusted id is
    removed by Postfix itself, so a dead OpenDKIM (milter_default_action = accept) lets none through;
    other hosts' headers stay."""
    assert main["header_checks"] == f"regexp:{HEADER_CHECKS}"
    (lines,) = blocks[HEADER_CHECKS]
    rules = [python_regexp(line) for line in lines if not is_comment(line)]
    for trusted in example.authentication.trusted_authserv_ids:
        for header in forgeries(trusted):
            assert inbox_reads(header) == trusted, f"not a forgery inbox would believe: {header!r}"
            assert any(p.search(header) and action == "IGNORE" for p, action in rules), f"kept: {header!r}"
        for other in (f"Authentication-Results: {trusted}.evil.example; dkim=pass",
                      "Authentication-Results: mx.google.com; dkim=pass"):
            assert inbox_reads(other) != trusted and not any(p.search(other) for p, _ in rules), other


def _section_text() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    return text[start:text.index("\n### ", start)]


# -- the same blocks read by Postfix 3.7 and OpenDKIM themselves ------------------------------------

def _tool(name: str, package: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        missing_service(f"{name} (Debian package {package})")
    assert found
    return found


@pytest.fixture()
def postfix_dir(tmp_path: Path, blocks: dict[str, list[list[str]]]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """The section's Postfix files in a config directory of their own, and a runner of Postfix's
    tools on it (`-c DIR`): nothing of the machine's own Postfix is read or changed."""
    for path in (MAIN, MASTER, TRANSPORT, RECIPIENTS, HEADER_CHECKS):
        (tmp_path / Path(path).name).write_text("\n".join(blocks[path][0]) + "\n", encoding="utf-8")

    def run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([_tool(tool, "postfix"), "-c", str(tmp_path), *args], check=False,
                              capture_output=True, text=True, timeout=30)

    return run


def test_postconf_reads_main_cf_and_master_cf_without_a_warning(postfix_dir: Callable[..., subprocess.CompletedProcess[str]],
                                                                  main: dict[str, str]) -> None:
    """`postconf -n` knows every parameter (no "unused parameter": a typo would be one) and reads
    each value as written; `postconf -M` and `-P` read the master.cf service and its overrides."""
    shown = postfix_dir("postconf", "-n")
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    read = dict(line.split(" = ", 1) if " = " in line else (line.rstrip(" ="), "") for line in shown.stdout.splitlines())
    for name, value in main.items():
        assert read[name] == value, f"postconf reads {name} as {read[name]!r}"
    services = postfix_dir("postconf", "-M")
    assert services.returncode == 0 and services.stderr == "" and "smtpd" in services.stdout, services.stderr
    overrides = postfix_dir("postconf", "-P")
    assert overrides.returncode == 0 and overrides.stderr == "", overrides.stderr
    assert "/inet/milter_default_action = tempfail" in overrides.stdout


def test_postmap_builds_the_tables_and_routes_the_desk(postfix_dir: Callable[..., subprocess.CompletedProcess[str]],
                                                       tmp_path: Path, example: Settings) -> None:
    """postmap reads main.cf's numbers first (a trailing comment there is fatal), builds both
    tables, and finds each desk address in them."""
    for name in ("transport", "relay_recipients"):
        built = postfix_dir("postmap", f"hash:{tmp_path / name}")
        assert built.returncode == 0 and built.stderr == "", built.stderr
    for address in example.addresses:
        route = postfix_dir("postmap", "-q", address, f"hash:{tmp_path / 'transport'}")
        assert route.stdout.strip() == f"smtp:[{example.smtp.host}]:{example.smtp.port}", route.stderr
        known = postfix_dir("postmap", "-q", address, f"hash:{tmp_path / 'relay_recipients'}")
        assert known.returncode == 0, f"{address} is not a known recipient"
    stranger = postfix_dir("postmap", "-q", "nobody@example.com", f"hash:{tmp_path / 'relay_recipients'}")
    assert stranger.returncode == 1, "an unknown address is not in the list, so Postfix refuses it at RCPT"


def test_postfix_itself_removes_every_forgery(postfix_dir: Callable[..., subprocess.CompletedProcess[str]],
                                              tmp_path: Path, example: Settings) -> None:
    """Postfix's own regexp engine, not Python's, removes each forged header and keeps others."""
    checks = f"regexp:{tmp_path / 'header_checks'}"
    for trusted in example.authentication.trusted_authserv_ids:
        for header in forgeries(trusted):
            found = postfix_dir("postmap", "-q", header, checks)
            assert found.stdout.strip() == "IGNORE", f"Postfix keeps {header!r}: {found.stderr}"
        kept = postfix_dir("postmap", "-q", f"Authentication-Results: {trusted}.evil.example; dkim=pass", checks)
        assert kept.returncode == 1 and kept.stdout == ""


def test_opendkim_accepts_its_block(blocks: dict[str, list[list[str]]], tmp_path: Path) -> None:
    """`opendkim -n` parses the block (it refuses an unknown name, a bad mode, a missing key);
    only the key is one made here."""
    opendkim = _tool("opendkim", "opendkim")
    key = tmp_path / "inbox.private"
    key.write_bytes(make_key().private_pem)
    key.chmod(0o600)
    (lines,) = blocks[OPENDKIM]
    text = "\n".join(re.sub(r"^(KeyFile\s+)\S+", rf"\g<1>{key}", line) for line in lines) + "\n"
    # The test's key lies under /tmp, which anyone may write to: OpenDKIM rightly refuses such a
    # path unless told; /etc/opendkim/keys is no such place.
    text += "RequireSafeKeys         no\n"
    conf = tmp_path / "opendkim.conf"
    conf.write_text(text, encoding="utf-8")
    checked = subprocess.run([opendkim, "-n", "-x", str(conf)], check=False, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr
    conf.write_text(text.replace("Mode                    sv", "Mode                    sz"), encoding="utf-8")
    refused = subprocess.run([opendkim, "-n", "-x", str(conf)], check=False, capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0, "opendkim -n refuses a bad block (so the pass above means something)"
