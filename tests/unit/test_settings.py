"""The config file: the shipped ones load, every mistake is one exact line, and the lookups work."""

import copy
from collections.abc import Callable
from datetime import date, time
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from inbox.settings import (END_OF_DAY, ConfigError, Settings, load_settings, read_secret)
from inbox.sla.durations import Duration, Unit

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
BASE: dict[str, Any] = yaml.safe_load((CONFIG_DIR / "inbox.yaml").read_text())
BASE.pop("rules", None)  # its include is relative to config/, and these tests write their file elsewhere


def write_config(tmp_path: Path, change: Callable[[dict[str, Any]], None] = lambda data: None) -> Path:
    """Write the shipped local config, altered by `change`, to a file under tmp_path."""
    data = copy.deepcopy(BASE)
    change(data)
    path = tmp_path / "inbox.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def problems_of(path: Path) -> list[str]:
    """The problem lines load_settings reports for the file at `path`."""
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return caught.value.problems


def loaded(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Settings:
    """Settings from the shipped local config altered by `change`."""
    return load_settings(write_config(tmp_path, change))


# -- the shipped files --------------------------------------------------------------------------


def test_shipped_local_config_loads_with_the_documented_values() -> None:
    """config/inbox.yaml loads and holds the newcomer defaults the contract names."""
    settings = load_settings(CONFIG_DIR / "inbox.yaml")
    assert settings.service.name == "Example Support"
    assert settings.service.tracking_prefix == "SUP"
    assert settings.database.url == "sqlite:///var/inbox.db"
    assert (settings.smtp.host, settings.smtp.port) == ("127.0.0.1", 2525)
    assert settings.imap == []
    assert settings.outbound.transport == "maildir"
    assert settings.outbound.maildir == Path("var/sent")
    assert (settings.http.host, settings.http.port) == ("127.0.0.1", 8025)
    assert settings.addresses == ["support@example.com"]
    assert settings.calendars["pacific"].timezone == "America/Los_Angeles"
    assert settings.calendars["always"].always_open
    assert settings.unknown_senders.plan == "standard"
    assert settings.agents == ["engineer@example.com"]
    assert settings.source_path == CONFIG_DIR / "inbox.yaml"


def test_shipped_example_config_loads() -> None:
    """config/inbox.example.yaml, which documents every key, is itself a valid config."""
    settings = load_settings(CONFIG_DIR / "inbox.example.yaml")
    assert settings.imap[0].password_env == "INBOX_IMAP_PASSWORD"
    assert settings.plans["standard"].targets["critical"].calendar == "always"
    assert settings.calendars["pacific"].holidays is not None
    assert settings.calendars["pacific"].holidays.subdivision == "CA"


def test_targets_and_lifecycle_parse_into_durations() -> None:
    """Target and lifecycle text becomes Duration values; a missing target stays None."""
    plan = load_settings(CONFIG_DIR / "inbox.yaml").plans["standard"]
    critical, low = plan.targets["critical"], plan.targets["low"]
    assert critical.response == Duration(4, Unit.BUSINESS_HOURS)
    assert critical.resolution == Duration(1, Unit.WEEKS)
    assert low.response == Duration(2, Unit.BUSINESS_DAYS)
    assert low.workaround is None
    assert plan.lifecycle.auto_solve_after == Duration(7, Unit.DAYS)
    assert plan.lifecycle.auto_solve_follow_ups == 3
    assert plan.assignment[0].when is not None and plan.assignment[0].when.severity == "critical"
    assert plan.assignment[1].when is None


def test_derived_values() -> None:
    """lowest_severity is the last severity and own_domain comes from the from address."""
    settings = load_settings(CONFIG_DIR / "inbox.yaml")
    assert settings.lowest_severity == "low"
    assert settings.own_domain == "example.com"
    assert settings.outbound.from_email == "support@example.com"


def test_settings_are_frozen() -> None:
    """Loaded settings cannot be changed by the code that reads them."""
    settings = load_settings(CONFIG_DIR / "inbox.yaml")
    with pytest.raises(pydantic.ValidationError):
        settings.service.name = "Other"  # type: ignore[misc]


# -- one exact line per problem -----------------------------------------------------------------


def test_bad_duration_names_file_key_path_and_text(tmp_path: Path) -> None:
    """A target that is not a duration is reported at its full key path."""
    path = write_config(tmp_path, lambda d: d["plans"]["standard"]["targets"]["critical"].update(response="4 bizness hours"))
    assert problems_of(path) == [f'{path}: plans.standard.targets.critical.response: "4 bizness hours" is not a duration']


def test_unknown_key_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    """A typo'd key is refused, and the nearest real key is suggested."""
    path = write_config(tmp_path, lambda d: d["service"].update(tracking_prefx="SUP"))
    assert problems_of(path) == [f'{path}: service.tracking_prefx: unknown key (did you mean "tracking_prefix"?)']


def test_unknown_key_deep_in_an_optional_section(tmp_path: Path) -> None:
    """Unknown keys are refused inside lists and optional sections too."""
    path = write_config(tmp_path, lambda d: d["calendars"]["pacific"]["holidays"].update(contry="US"))
    assert problems_of(path) == [f'{path}: calendars.pacific.holidays.contry: unknown key (did you mean "country"?)']


def test_unknown_calendar_of_a_plan(tmp_path: Path) -> None:
    """A plan naming a calendar that does not exist is an error listing the known ones."""
    path = write_config(tmp_path, lambda d: d["plans"]["standard"].update(calendar="pacfic"))
    assert problems_of(path) == [f'{path}: plans.standard.calendar: unknown calendar "pacfic" (known: always, pacific)']


def test_unknown_calendar_of_a_target(tmp_path: Path) -> None:
    """A target's own calendar must exist too."""
    path = write_config(tmp_path, lambda d: d["plans"]["standard"]["targets"]["low"].update(calendar="nights"))
    assert problems_of(path) == [
        f'{path}: plans.standard.targets.low.calendar: unknown calendar "nights" (known: always, pacific)'
    ]


def test_unknown_plan_of_a_customer_has_the_list_index_in_its_path(tmp_path: Path) -> None:
    """A customer on a plan that does not exist is reported as customers.N.plan."""
    path = write_config(tmp_path, lambda d: d["customers"][0].update(plan="gold"))
    assert problems_of(path) == [f'{path}: customers.0.plan: unknown plan "gold" (known: standard)']


def test_unknown_severity_in_targets(tmp_path: Path) -> None:
    """Targets may only be set for configured severities, which are listed in order."""
    path = write_config(tmp_path, lambda d: d["plans"]["standard"]["targets"].update(urgent={"response": "1 hour"}))
    assert problems_of(path) == [
        f'{path}: plans.standard.targets.urgent: unknown severity "urgent" (known: critical, high, medium, low)'
    ]


def test_bad_timezone(tmp_path: Path) -> None:
    """A time zone zoneinfo does not know is an error."""
    path = write_config(tmp_path, lambda d: d["calendars"]["pacific"].update(timezone="Mars/Olympus"))
    assert problems_of(path) == [
        f'{path}: calendars.pacific.timezone: "Mars/Olympus" is not an IANA time zone such as "America/Los_Angeles"'
    ]


@pytest.mark.parametrize(
    ("hours", "where", "message"),
    [
        ({"mon-fri": "17:00-08:00"}, "hours.mon-fri", '"17:00-08:00" ends before it starts'),
        ({"mon-fri": "08:00-17:00", "fri": "16:00-18:00"}, "hours.fri", "16:00-18:00 overlaps 08:00-17:00 on Friday"),
        ({"mon": "08:00-12:00, 11:00-13:00"}, "hours.mon", "11:00-13:00 overlaps 08:00-12:00 on Monday"),
        ({"mon-fry": "08:00-17:00"}, "hours.mon-fry", '"fry" is not a day (use mon, tue, wed, thu, fri, sat, sun)'),
        ({"mon-fri": "8-17"}, "hours.mon-fri", '"8-17" is not a range of times such as "08:00-17:00"'),
        ({"mon": "24:00-24:00"}, "hours.mon", '"24:00-24:00" is not a range of times such as "08:00-17:00"'),
        ({}, "hours", "opens no hours at all"),
        ("24x5", "hours", 'must be "24x7" or a mapping of days to hours, such as {mon-fri: "08:00-17:00"}'),
    ],
)
def test_bad_hours(tmp_path: Path, hours: Any, where: str, message: str) -> None:
    """Inverted, overlapping, unparseable or empty opening hours are refused at the offending key."""
    path = write_config(tmp_path, lambda d: d["calendars"]["pacific"].update(hours=hours))
    assert problems_of(path) == [f"{path}: calendars.pacific.{where}: {message}"]


def test_unknown_holiday_country(tmp_path: Path) -> None:
    """A country the holidays package does not know is an error."""
    path = write_config(tmp_path, lambda d: d["calendars"]["pacific"]["holidays"].update(country="ZZ"))
    assert problems_of(path) == [
        f'{path}: calendars.pacific.holidays.country: "ZZ" is not a country the holidays package knows (use a code such as "US")'
    ]


def test_unknown_holiday_subdivision(tmp_path: Path) -> None:
    """A subdivision the country does not have is an error."""
    path = write_config(tmp_path, lambda d: d["calendars"]["pacific"]["holidays"].update(subdivision="XX"))
    assert problems_of(path) == [
        f'{path}: calendars.pacific.holidays.subdivision: "XX" is not a subdivision of US the holidays package knows'
    ]


def test_a_caller_that_asks_no_holiday_skips_the_holiday_names_and_nothing_else(tmp_path: Path) -> None:
    """`load_settings(holiday_names=False)` (what `tickets list` and `tickets show` load) takes an
    unknown country and subdivision as written; every other problem is still refused, and the
    default (every other command) still refuses the names."""
    path = write_config(tmp_path, lambda d: d["calendars"]["pacific"]["holidays"].update(country=" zz ", subdivision="XX"))
    holidays = load_settings(path, holiday_names=False).calendars["pacific"].holidays
    assert holidays is not None and (holidays.country, holidays.subdivision) == ("ZZ", "XX")
    assert problems_of(path) == [
        f'{path}: calendars.pacific.holidays.country: " zz " is not a country the holidays package knows (use a code such as "US")'
    ]
    both = write_config(tmp_path, lambda d: (d["calendars"]["pacific"]["holidays"].update(country="ZZ"),
                                             d["calendars"]["pacific"].update(hours={"mon-fri": "17:00-08:00"})))
    with pytest.raises(ConfigError) as refused:
        load_settings(both, holiday_names=False)
    assert [line.split(": ")[1] for line in refused.value.problems] == ["calendars.pacific.hours.mon-fri"]


def test_missing_file(tmp_path: Path) -> None:
    """A file that is not there is one ConfigError line naming it."""
    path = tmp_path / "absent.yaml"
    assert problems_of(path) == [f"{path}: cannot read the config file: No such file or directory"]


def test_yaml_syntax_error_has_a_line_number(tmp_path: Path) -> None:
    """Broken YAML is one line naming the file and the line where parsing failed."""
    path = tmp_path / "broken.yaml"
    path.write_text("service:\n  name: x\naddresses: [a@b.com\n")
    # libyaml's words where PyYAML has it (its wheels do), the pure-Python parser's otherwise
    assert problems_of(path) in ([f"{path}: line 4: not valid YAML: did not find expected ',' or ']'"],
                                 [f"{path}: line 4: not valid YAML: expected ',' or ']', but got '<stream end>'"])


def test_duplicate_key_is_an_error_not_an_overwrite(tmp_path: Path) -> None:
    """A key given twice is refused instead of the first one being silently dropped."""
    path = tmp_path / "twice.yaml"
    path.write_text("service: {name: A}\nplans: {}\nservice: {name: B}\n")
    assert problems_of(path) == [f'{path}: line 3: not valid YAML: the key "service" is given twice']


def test_empty_file(tmp_path: Path) -> None:
    """An empty file is reported as such."""
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert problems_of(path) == [f"{path}: the config file is empty"]


def test_missing_required_section(tmp_path: Path) -> None:
    """A required section left out is named."""
    path = write_config(tmp_path, lambda d: d.pop("outbound"))
    assert problems_of(path) == [f"{path}: outbound: is required"]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Several cross-reference problems come back together, one line each."""

    def break_two(data: dict[str, Any]) -> None:
        data["plans"]["standard"]["calendar"] = "nope"
        data["customers"][0]["plan"] = "gold"

    path = write_config(tmp_path, break_two)
    problems = problems_of(path)
    assert problems == [
        f'{path}: plans.standard.calendar: unknown calendar "nope" (known: always, pacific)',
        f'{path}: customers.0.plan: unknown plan "gold" (known: standard)',
    ]
    assert all("\n" not in line and "pydantic" not in line for line in problems)


def test_a_contact_cannot_belong_to_two_customers(tmp_path: Path) -> None:
    """The same contact under two customers is refused at the second one."""
    path = write_config(
        tmp_path, lambda d: d["customers"].append({"id": "other", "plan": "standard", "contacts": ["Alice@Acme.com"]})
    )
    assert problems_of(path) == [f'{path}: customers.1.contacts.0: alice@acme.com already belongs to customer "acme"']


def test_customer_ids_are_unique(tmp_path: Path) -> None:
    """Two customers with one id are refused."""
    path = write_config(tmp_path, lambda d: d["customers"].append({"id": "acme", "plan": "standard", "domains": ["b.com"]}))
    assert problems_of(path) == [f'{path}: customers.1.id: "acme" is already the id of another customer']


def test_customer_needs_domains_or_contacts(tmp_path: Path) -> None:
    """A customer no mail could ever match is refused."""
    path = write_config(tmp_path, lambda d: d["customers"].append({"id": "ghost", "plan": "standard"}))
    assert problems_of(path) == [f"{path}: customers.1: needs domains or contacts, or no mail can be matched to it"]


@pytest.mark.parametrize("choice", [{"plan": "standard", "reject": True}, {}])
def test_unknown_senders_needs_exactly_one_choice(tmp_path: Path, choice: dict[str, Any]) -> None:
    """unknown_senders is either a plan or reject: true, never both or neither."""
    path = write_config(tmp_path, lambda d: d.update(unknown_senders=choice))
    assert problems_of(path) == [f"{path}: unknown_senders: give either plan: NAME or reject: true, not both and not neither"]


def test_unknown_senders_plan_must_exist(tmp_path: Path) -> None:
    """The plan for unknown senders must be a configured plan."""
    path = write_config(tmp_path, lambda d: d.update(unknown_senders={"plan": "free"}))
    assert problems_of(path) == [f'{path}: unknown_senders.plan: unknown plan "free" (known: standard)']


def test_a_secret_pasted_where_its_variable_name_belongs_is_refused(tmp_path: Path) -> None:
    """*_env keys take a variable name, so a pasted password is an error, not a stored secret."""
    path = write_config(tmp_path, lambda d: d["http"].update(admin_token_env="hunter2!"))
    assert problems_of(path) == [
        f"{path}: http.admin_token_env: must be the name of an environment variable that holds the secret, not the secret"
    ]


def test_wrong_literal_and_type_name_the_bad_value(tmp_path: Path) -> None:
    """Type and choice errors quote the value given and never carry pydantic's URLs."""
    def break_two(data: dict[str, Any]) -> None:
        data["outbound"]["transport"] = "smpt"
        data["smtp"]["port"] = "abc"

    path = write_config(tmp_path, break_two)
    assert problems_of(path) == [
        f'{path}: smtp.port: must be a whole number, not "abc"',
        f'{path}: outbound.transport: must be "smtp" or "maildir", not "smpt"',
    ]


def test_config_error_text_is_its_problems() -> None:
    """str(ConfigError) is its problem lines, so printing it tells the whole story."""
    error = ConfigError(["a.yaml: x: bad", "a.yaml: y: worse"])
    assert str(error) == "a.yaml: x: bad\na.yaml: y: worse"


# -- parsed forms -------------------------------------------------------------------------------


def test_addresses_contacts_domains_and_agents_are_lower_cased(tmp_path: Path) -> None:
    """Addresses and domains are compared lower-case, so they are stored that way."""

    def shout(data: dict[str, Any]) -> None:
        data["addresses"] = ["Support@Example.COM"]
        data["agents"] = ["Engineer@Example.com"]
        data["customers"][0].update(domains=["ACME.com"], contacts=["Alice@ACME.com"], account_managers=["TAM@example.com"])

    settings = loaded(tmp_path, shout)
    customer = settings.customers[0]
    assert settings.addresses == ["support@example.com"]
    assert settings.agents == ["engineer@example.com"]
    assert (customer.domains, customer.contacts, customer.account_managers) == (
        ["acme.com"], ["alice@acme.com"], ["tam@example.com"]
    )


def test_opening_hours_parse_into_weekday_spans(tmp_path: Path) -> None:
    """Day ranges, lists, wrapping ranges, split days and a 24:00 end all land on the right weekdays."""
    hours = {"sun-tue": "08:00-12:00, 13:00-17:00", "wed,fri": "00:00-24:00"}
    calendar = loaded(tmp_path, lambda d: d["calendars"]["pacific"].update(hours=hours)).calendars["pacific"]
    split = ((time(8), time(12)), (time(13), time(17)))
    assert calendar.weekly == {0: split, 1: split, 2: ((time(0), END_OF_DAY),), 3: (), 4: ((time(0), END_OF_DAY),), 5: (), 6: split}
    assert not calendar.always_open


def test_24x7_is_always_open_unless_it_has_holidays(tmp_path: Path) -> None:
    """"24x7" opens every day all day; holidays make it a calendar that closes on those days."""
    settings = loaded(tmp_path, lambda d: d["calendars"]["pacific"].update(hours="24x7"))
    assert settings.calendars["always"].always_open
    assert settings.calendars["always"].weekly[6] == ((time(0), END_OF_DAY),)
    assert not settings.calendars["pacific"].always_open


def test_holiday_dates_include_the_country_and_the_extras() -> None:
    """A calendar's closed dates are its country's holidays plus its extra dates."""
    calendar = load_settings(CONFIG_DIR / "inbox.yaml").calendars["pacific"]
    closed = calendar.holiday_dates([2026])
    assert {date(2026, 7, 3), date(2026, 12, 24), date(2026, 12, 25)} <= closed  # July 4th is a Saturday
    assert date(2026, 12, 23) not in closed
    assert load_settings(CONFIG_DIR / "inbox.yaml").calendars["always"].holiday_dates([2026]) == frozenset()


def test_policy_with_its_own_severity_names_loads(tmp_path: Path) -> None:
    """A Viakoo-style contract (serious/major/minor, monthly updates, 24x7 critical) is expressible."""

    def viakoo(data: dict[str, Any]) -> None:
        data["severities"] = ["Serious", "major", "minor"]
        data["plans"]["standard"]["targets"] = {
            "serious": {"response": "4 hours", "update": "24 hours", "workaround": "48 hours", "resolution": "1 week",
                        "calendar": "always"},
            "major": {"response": "8 hours", "update": "1 week", "workaround": "30 days"},
            "minor": {"response": "24 hours", "update": "30 days"},
        }
        data["plans"]["standard"]["assignment"] = [{"when": {"severity": "serious"}, "team": ["oncall@example.com"]}]

    settings = loaded(tmp_path, viakoo)
    assert settings.severities == ["serious", "major", "minor"]
    assert settings.lowest_severity == "minor"
    assert settings.plans["standard"].targets["major"].update == Duration(1, Unit.WEEKS)


def test_customer_name_defaults_to_its_id(tmp_path: Path) -> None:
    """A customer without a name is called by its id."""
    settings = loaded(tmp_path, lambda d: d["customers"][0].pop("name"))
    assert settings.customers[0].name == "acme"


def test_rules_compile_at_load_and_a_bad_rule_is_a_config_error(tmp_path: Path) -> None:
    """rules are compiled once at load; a broken regex or unknown severity names its key path."""
    rules = [{"name": "outage", "when": {"subject": "down"}, "raise_to": "critical"}]
    assert loaded(tmp_path, lambda d: d.update(rules=rules)).rule_set.names == ("outage",)
    bad = [{"name": "x", "when": {"subject_regex": "[oops"}}, {"name": "y", "raise_to": "urgent"}]
    lines = problems_of(write_config(tmp_path, lambda d: d.update(rules=bad)))
    assert any(line.endswith("rules.0.when.subject_regex: not a valid regular expression: unterminated character set "
                             "at position 0") for line in lines), lines
    assert any('rules.1.raise_to: "urgent" is not a severity' in line for line in lines), lines


def test_rules_include_a_file_relative_to_the_config_and_report_its_problems_there(tmp_path: Path) -> None:
    """`include:` reads rules from a file beside the config; a bad rule there is named with that file."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "mine.yaml").write_text("- {name: billing, when: {text: invoice}, category: billing}\n")
    settings = loaded(tmp_path, lambda d: d.update(rules=[{"include": "rules/mine.yaml"}, {"name": "b", "stop": True}]))
    assert settings.rule_set.names == ("billing", "b")
    (tmp_path / "rules" / "mine.yaml").write_text("- {name: billing, raise_to: bogus}\n")
    lines = problems_of(write_config(tmp_path, lambda d: d.update(rules=[{"include": "rules/mine.yaml"}])))
    assert lines == [f'{tmp_path / "rules" / "mine.yaml"}: rules.0.raise_to: "bogus" is not a severity '
                     "(known: critical, high, medium, low, or highest, highest-N, lowest)"]
    missing = problems_of(write_config(tmp_path, lambda d: d.update(rules=[{"include": "rules/none.yaml"}])))
    assert len(missing) == 1 and "cannot read the rules file" in missing[0]


def test_shipped_config_includes_the_default_rules() -> None:
    """config/inbox.yaml applies the default rule set from config/rules/default.yaml."""
    settings = load_settings(CONFIG_DIR / "inbox.yaml")
    assert "production-down" in settings.rule_set.names and "billing" in settings.rule_set.names


# -- lookups ------------------------------------------------------------------------------------


def test_customer_for_finds_contacts_domains_and_subdomains(tmp_path: Path) -> None:
    """customer_for matches a contact first, then a listed domain or any subdomain of it."""

    def two_customers(data: dict[str, Any]) -> None:
        data["customers"].append({"id": "partner", "plan": "standard", "contacts": ["dave@acme.com"]})

    settings = loaded(tmp_path, two_customers)
    assert settings.customer_for("Alice@Acme.com").id == "acme"  # type: ignore[union-attr]
    assert settings.customer_for("dave@acme.com").id == "partner"  # type: ignore[union-attr]
    assert settings.customer_for("zoe@acme.com").id == "acme"  # type: ignore[union-attr]
    assert settings.customer_for("zoe@eu.ops.acme.com").id == "acme"  # type: ignore[union-attr]
    assert settings.customer_for("zoe@notacme.com") is None
    assert settings.customer_for("zoe@acme.com.evil.org") is None
    assert settings.customer_for("stranger@example.org") is None


def test_is_support_address_ignores_case_and_plus_tags() -> None:
    """support+tag@ and any case match a configured address; other mailboxes do not."""
    settings = load_settings(CONFIG_DIR / "inbox.yaml")
    assert settings.is_support_address("support@example.com")
    assert settings.is_support_address("SUPPORT@Example.com")
    assert settings.is_support_address("support+acme@example.com")
    assert not settings.is_support_address("sales@example.com")
    assert not settings.is_support_address("support@example.org")
    assert not settings.is_support_address("supporter+x@example.com")


def test_is_agent_ignores_case() -> None:
    """Configured agents are recognised whatever the case; customers are not agents."""
    settings = load_settings(CONFIG_DIR / "inbox.yaml")
    assert settings.is_agent("Engineer@Example.com")
    assert not settings.is_agent("alice@acme.com")


def test_read_secret_comes_from_the_named_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret is read from the environment; unnamed, unset or empty gives None."""
    monkeypatch.setenv("INBOX_TEST_TOKEN", "s3cret")
    monkeypatch.setenv("INBOX_TEST_EMPTY", "")
    monkeypatch.delenv("INBOX_TEST_UNSET", raising=False)
    assert read_secret("INBOX_TEST_TOKEN") == "s3cret"
    assert read_secret("INBOX_TEST_EMPTY") is None
    assert read_secret("INBOX_TEST_UNSET") is None
    assert read_secret(None) is None


@pytest.mark.parametrize("name", ["inbox.yaml", "inbox.example.yaml"])
def test_dumped_settings_load_back_equal(tmp_path: Path, name: str) -> None:
    """model_dump writes durations and hours as config text, so the dump is a config that loads equal."""
    settings = load_settings(CONFIG_DIR / name)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    assert load_settings(path).model_dump() == settings.model_dump()


def test_processed_folder_must_differ_from_folder(tmp_path: Path) -> None:
    """A mailbox whose processed folder is the folder it reads would loop: refused with its key path."""
    mailbox = {"name": "main", "host": "imap.example.com", "username": "support@example.com",
               "password_env": "INBOX_IMAP_PASSWORD", "folder": "INBOX", "processed_folder": "INBOX"}
    path = write_config(tmp_path, lambda d: d.update(imap=[mailbox]))
    assert problems_of(path) == [f'{path}: imap.0.processed_folder: must differ from folder "INBOX"']


def test_staff_names_are_names_never_addresses(tmp_path: Path) -> None:
    """staff_names gives customers a name to read for one of our people: an address there is refused, with its key."""
    path = write_config(tmp_path, lambda d: d.update(staff_names={"Engineer@Example.com": " Dana  Engineer ",
                                                                  "tam@example.com": "Terry <tam@example.com>"}))
    assert problems_of(path) == [f'{path}: staff_names.tam@example.com: "Terry <tam@example.com>" is not a display'
                                 ' name (a name such as "Dana Engineer", no address)']
    settings = load_settings(write_config(tmp_path, lambda d: d.update(staff_names={"Engineer@Example.com": " Dana  Engineer "})))
    assert settings.shown_name("ENGINEER@example.com") == "Dana Engineer"
    assert settings.is_staff("engineer@example.com") and not settings.is_staff("alice@acme.com")
    assert settings.shown_name("tam@example.com") == settings.service.name  # no name: the service's


@pytest.mark.parametrize("interval", [0, -5])
def test_the_scheduler_interval_is_at_least_one_second(tmp_path: Path, interval: int) -> None:
    """outbound.interval_seconds defaults to 5; 0 or a negative would spin the sender: refused."""
    assert load_settings(write_config(tmp_path)).outbound.interval_seconds == 5
    assert loaded(tmp_path, lambda d: d["outbound"].update(interval_seconds=60)).outbound.interval_seconds == 60
    path = write_config(tmp_path, lambda d: d["outbound"].update(interval_seconds=interval))
    assert problems_of(path) == [f"{path}: outbound.interval_seconds: must be at least 1"]


def test_named_admins_load_and_one_name_is_one_person(tmp_path: Path) -> None:
    """admins: names people with a token variable each; a name taken twice, or "admin" beside
    http.admin_token_env, is refused; a pasted token where the variable belongs too."""
    settings = loaded(tmp_path, lambda d: d.update(admins=[{"name": "Anna Smith", "token_env": "INBOX_TOKEN_ANNA"}]))
    assert [(a.name, a.token_env) for a in settings.admins] == [("Anna Smith", "INBOX_TOKEN_ANNA")]
    twice = write_config(tmp_path, lambda d: d.update(admins=[{"name": "anna", "token_env": "A"},
                                                              {"name": "anna", "token_env": "B"}]))
    assert problems_of(twice) == [f'{twice}: admins.1.name: admin name "anna" is taken '
                                  '(by another admin, or by http.admin_token_env\'s "admin")']
    shared = write_config(tmp_path, lambda d: d.update(admins=[{"name": "admin", "token_env": "A"}]))
    assert 'admins.0.name: admin name "admin" is taken' in problems_of(shared)[0]
    pasted = write_config(tmp_path, lambda d: d.update(admins=[{"name": "anna", "token_env": "hunter2!"}]))
    assert "admins.0.token_env: must be the name of an environment variable" in problems_of(pasted)[0]
    odd = write_config(tmp_path, lambda d: d.update(admins=[{"name": "<b>x</b>", "token_env": "A"}]))
    assert "admins.0.name" in problems_of(odd)[0]
