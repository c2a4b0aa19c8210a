"""Template versions in the database: checked before stored, rolled back and reset as new versions,
read by every renderer on the database within one refresh; on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from autoresponder.samples import sample_context
from autoresponder.shipped import MANIFEST, folder_texts, shipped_texts
from inbox.app import App
from inbox.domain.template_versions import TemplateVersions
from inbox.store.tables import TemplateVersionRow
from tests.fakes import T0, make_app, make_settings

ROOT = Path(__file__).resolve().parents[2]
SUBJECT = "acknowledgement/subject.txt.j2"
ACME = "customers/acme/acknowledgement/subject.txt.j2"


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    return Path(shutil.copytree(ROOT / "templates", tmp_path / "templates"))


def new_app(tmp_path: Path, db_url: str, templates: Path, name: str = "a") -> App:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    return make_app(make_settings(folder, db_url, extra=f"templates: {{dir: \"{templates}\"}}\n"))


@pytest.fixture
def app(tmp_path: Path, db_url: str, templates: Path):
    made = new_app(tmp_path, db_url, templates)
    yield made
    made.close()


def ack_subject(app: App, customer: str | None = None) -> str:
    return app.renderer().render("acknowledgement", sample_context("acknowledgement"), customer=customer).subject


def test_the_implementation_keeps_the_protocol(app: App) -> None:
    """What the web is handed is a TemplateVersions, method for method."""
    versions: TemplateVersions = app.template_versions()
    for name in ("entries", "current", "history", "check", "save", "rollback", "reset"):
        assert callable(getattr(versions, name))


def test_a_new_database_sends_the_files_and_lists_every_default(app: App) -> None:
    """Never saved: version 0, the folder's file; every kind's three files listed, none customised."""
    versions = app.template_versions()
    current = versions.current(SUBJECT)
    assert (current.version, current.origin) == (0, "default")
    assert current.text == (ROOT / "templates" / SUBJECT).read_text()
    entries = versions.entries()
    assert len(entries) == 54 and not any(e.customised or e.current or e.problem for e in entries)


def test_a_save_is_checked_stored_and_sent(app: App) -> None:
    versions = app.template_versions()
    outcome = versions.save(SUBJECT, "Got it: {{ ticket.subject }}\r\n", author="ada", message="shorter")
    assert outcome.saved and outcome.problems == ()
    assert outcome.version is not None and (outcome.version.version, outcome.version.origin) == (1, "save")
    assert outcome.version.text == "Got it: {{ ticket.subject }}\n"  # LF line ends
    assert ack_subject(app) == "Got it: Checkout fails with error 502 since this morning"
    [entry] = [e for e in versions.entries() if e.path == SUBJECT]
    assert (entry.customised, entry.current, entry.author, entry.at) == (True, 1, "ada", T0)
    assert [v.version for v in versions.history(SUBJECT)] == [1, 0]


@pytest.mark.parametrize("broken, line, reason", [
    ("{% if ticket.severity %}\nno end", 2, "endif"),
    ("{{ ticket.subject }}\n{% if ticket.severity == 'low' and ticket.status == 'pending' %}{{ nope }}{% endif %}", 2,
     "'nope' is undefined (with severity low, status pending)"),
    ("Line one\nBcc: x@example.com", 2, "the subject is not one line"),
])
def test_a_broken_save_is_refused_with_file_and_line_and_nothing_stored(
        app: App, broken: str, line: int, reason: str) -> None:
    """Every severity and status is tried: a text that fails on one only is refused too."""
    versions = app.template_versions()
    outcome = versions.save(SUBJECT, broken, author="ada", message="oops")
    assert not outcome.saved
    [problem] = outcome.problems
    assert (problem.file, problem.line) == (f"templates/{SUBJECT}", line) and reason in problem.reason
    with app.sessions() as session:
        assert session.execute(select(func.count()).select_from(TemplateVersionRow)).scalar_one() == 0
    assert versions.current(SUBJECT).version == 0


@pytest.mark.parametrize("path", [
    "../etc/passwd", "acknowledgement/../../x/subject.txt.j2", "/etc/passwd", "acknowledgement/subject.txt",
    "acknowledgment/subject.txt.j2", "plans/gold/acknowledgement/subject.txt.j2",
    "customers/nobody/acknowledgement/subject.txt.j2", "customers/acme/digest/subject.txt.j2",
    "customers/acme/acknowledgement/x/subject.txt.j2", "", "acknowledgement/subject.txt.j2\0",
])
def test_only_known_paths_are_saved(app: App, path: str, templates: Path) -> None:
    """A path names a known kind, file, plan and customer, or it is refused with the reason."""
    versions = app.template_versions()
    outcome = versions.save(path, "Hello", author="ada", message="")
    assert not outcome.saved and outcome.problems and outcome.problems[0].reason
    with pytest.raises(LookupError):
        versions.history(path)
    assert versions.check({path: "x"})[0].line is None


def test_rollback_and_reset_are_new_versions(app: App) -> None:
    versions = app.template_versions()
    first = versions.save(SUBJECT, "One: {{ ticket.subject }}", author="ada", message="1").version
    versions.save(SUBJECT, "Two: {{ ticket.subject }}", author="bob", message="2")
    back = versions.rollback(SUBJECT, 1, author="cy")
    assert back.version is not None and (back.version.version, back.version.origin, back.version.text) == (
        3, "rollback", first.text)
    assert ack_subject(app).startswith("One: ")
    assert not versions.rollback(SUBJECT, 9, author="cy").saved
    reset = versions.reset(SUBJECT, author="cy")
    assert reset.version is not None and (reset.version.version, reset.version.origin) == (4, "reset")
    assert reset.version.text == shipped_texts()[SUBJECT]
    assert [(v.version, v.origin, v.author) for v in versions.history(SUBJECT)] == [
        (4, "reset", "cy"), (3, "rollback", "cy"), (2, "save", "bob"), (1, "save", "ada"), (0, "default", "default")]
    assert [v.version for v in versions.audit("acknowledgement")] == [4, 3, 2, 1]
    assert versions.audit("closed") == []


def test_an_override_is_created_used_and_reset_away(app: App) -> None:
    """A new customer override applies to that customer only; resetting it (no shipped file)
    stores a removal, and the default applies again."""
    versions = app.template_versions()
    assert versions.current(ACME).version == 0  # the text that applies now: the default
    assert versions.save(ACME, "For Acme: {{ ticket.subject }}", author="ada", message="").saved
    assert ack_subject(app, "acme").startswith("For Acme: ")
    assert not ack_subject(app, "globex").startswith("For Acme: ")
    assert [e.scope for e in versions.entries() if e.path == ACME] == ["customer:acme"]
    removed = versions.reset(ACME, author="ada")
    assert removed.version is not None and (removed.version.version, removed.version.text) == (2, "")
    assert not ack_subject(app, "acme").startswith("For Acme: ")
    assert ACME not in [e.path for e in versions.entries()]
    assert versions.current(ACME).text == versions.current(SUBJECT).text
    assert versions.rollback(ACME, 1, author="ada").saved and ack_subject(app, "acme").startswith("For Acme: ")


def test_a_save_that_breaks_nothing_new_is_not_blocked_by_an_old_problem(app: App, templates: Path) -> None:
    """A file broken on disk is reported by check, but blocks only saves of itself."""
    (templates / "closed" / "body.txt.j2").write_text("{{ ticket.nope }}")
    versions = app.template_versions()
    assert any(p.file == "templates/closed/body.txt.j2" for p in versions.check({}))
    assert versions.save(SUBJECT, "Fine: {{ ticket.subject }}", author="ada", message="").saved
    refused = versions.save("closed/body.txt.j2", "{{ ticket.nope }}", author="ada", message="")
    assert not refused.saved and refused.problems[0].file == "templates/closed/body.txt.j2"
    [entry] = [e for e in versions.entries() if e.path == "closed/body.txt.j2"]
    assert entry.problem is not None and "nope" in entry.problem.reason


def test_a_save_on_one_instance_is_sent_by_another_after_one_refresh(tmp_path: Path, db_url: str,
                                                                      templates: Path) -> None:
    """Two apps on one database (each its own renderer): the other's next render after its watch's
    scan (one scheduler turn) uses the saved text."""
    one, two = new_app(tmp_path, db_url, templates, "one"), new_app(tmp_path, db_url, templates, "two")
    try:
        watch = two.template_watch()
        watch.scan()
        before = ack_subject(two)
        assert one.template_versions().save(SUBJECT, "Saved on one: {{ ticket.subject }}", author="ada",
                                            message="").saved
        assert ack_subject(two) == before  # not yet: no turn since
        assert watch.scan() is True
        assert ack_subject(two).startswith("Saved on one: ")
        assert watch.scan() is False  # nothing new: one cheap question, no check
    finally:
        one.close()
        two.close()


def test_a_hostile_version_forced_into_the_database_cannot_escape_the_sandbox(app: App) -> None:
    """Save refuses it; written straight into the table, rendering refuses it too (TemplateError,
    never the attribute), and the last good version keeps being sent."""
    hostile = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    versions = app.template_versions()
    assert not versions.save(SUBJECT, hostile, author="mallory", message="").saved
    watch = app.template_watch()
    watch.scan()
    good = ack_subject(app)
    with app.sessions() as session, session.begin():
        session.execute(TemplateVersionRow.__table__.insert().values(
            path=SUBJECT, version=1, text=hostile, author="mallory", message="", at=T0, origin="save"))
    assert watch.scan() is True
    assert ack_subject(app) == good
    [refusal] = app.renderer().problems()
    assert refusal.error.path == f"templates/{SUBJECT}" and "unsafe" in refusal.error.reason
    assert "subclasses" not in good


def test_preview_renders_candidate_texts_without_storing_them(app: App) -> None:
    preview = app.preview("acknowledgement", None, "acme", {ACME: "Candidate for {{ ticket.customer }}"})
    assert ("Subject", "[SUP-000123] Candidate for Acme Corp") in preview.headers
    assert preview.files["subject"] == f"templates/{ACME}"
    assert app.preview("acknowledgement", None, "acme").files["subject"] == f"templates/{SUBJECT}"
    with app.sessions() as session:
        assert session.execute(select(func.count()).select_from(TemplateVersionRow)).scalar_one() == 0


def test_concurrent_saves_of_one_path_get_consecutive_versions(tmp_path: Path, db_url: str, templates: Path) -> None:
    one, two = new_app(tmp_path, db_url, templates, "one"), new_app(tmp_path, db_url, templates, "two")
    try:
        assert one.template_versions().save(SUBJECT, "A {{ ticket.subject }}", author="a", message="").saved
        assert two.template_versions().save(SUBJECT, "B {{ ticket.subject }}", author="b", message="").saved
        assert [v.version for v in one.template_versions().history(SUBJECT)] == [2, 1, 0]
    finally:
        one.close()
        two.close()


def test_the_shipped_manifest_is_the_templates_folder() -> None:
    """`python -m autoresponder.shipped` after editing templates/: the defaults a reset returns to."""
    assert shipped_texts() == folder_texts(ROOT / "templates"), f"run python -m autoresponder.shipped ({MANIFEST})"


def test_a_save_that_breaks_a_file_importing_it_is_refused(app: App) -> None:
    """Only a file that stands alone is not rendered again at a save: one that imports the saved
    file is, so a change that breaks it is refused, with the importing file named."""
    versions = app.template_versions()
    assert versions.save("solved/body.txt.j2", "{% macro sign() %}The team{% endmacro %}Solved.",
                         author="ada", message="").saved
    assert versions.save("closed/body.txt.j2", "{% from 'solved/body.txt.j2' import sign %}Closed. {{ sign() }}",
                         author="ada", message="").saved
    refused = versions.save("solved/body.txt.j2", "Solved, no macro.", author="ada", message="")
    assert not refused.saved and [p.file for p in refused.problems] == ["templates/closed/body.txt.j2"]
    assert "sign" in refused.problems[0].reason


def test_every_hostile_template_is_refused_by_save_and_by_render_from_the_database(app: App) -> None:
    """test_render's sandbox escapes and bombs, as saved versions: save refuses each with file and
    line; forced into the table, the renderer (which reads the table) raises a TemplateError naming
    the file and line, and nothing of Python's internals comes out."""
    from autoresponder.render import TemplateError
    from inbox.store import template_versions as store
    from tests.unit.test_render import HOSTILE

    versions, path = app.template_versions(), "acknowledgement/body.txt.j2"
    for number, source in enumerate(HOSTILE, 1):
        outcome = versions.save(path, "Hello\n" + source + "\n", author="mallory", message="")
        assert not outcome.saved, source
        assert (outcome.problems[0].file, outcome.problems[0].line) == (f"templates/{path}", 2), source
        with app.sessions() as session, session.begin():
            store.append(session, path, "Hello\n" + source + "\n", author="mallory", message="", at=T0, origin="save")
        assert app.template_source().refresh()
        with pytest.raises(TemplateError) as caught:
            app.renderer().render("acknowledgement", sample_context("acknowledgement"))
        assert str(caught.value).startswith(f"templates/{path}:2: "), source


def test_a_save_on_this_instance_clears_the_refusal_at_the_next_turn(app: App, templates: Path) -> None:
    """A file broken on disk is refused (shown in /healthz); a good version saved through this same
    instance is checked at the next turn, and the refusal goes."""
    (templates / "closed" / "body.txt.j2").write_text("{{ ticket.nope }}")
    watch = app.template_watch()
    assert watch.scan() is True
    assert [r.error.path for r in app.renderer().problems()] == ["templates/closed/body.txt.j2"]
    assert app.template_versions().save("closed/body.txt.j2", "Closed.", author="ada", message="fix").saved
    assert watch.scan() is True
    assert app.renderer().problems() == [] and watch.problems == []


@pytest.mark.parametrize("bad, reason", [
    ("x" * 100_001, "longer than 100000"), ("Hello\0", "NUL"), ("Hello \ud800", "surrogate"), (None, "cannot be removed"),
    (b"bytes", "not a string"),
])
def test_a_text_that_cannot_be_stored_is_refused_before_any_render(app: App, bad: object, reason: str) -> None:
    versions = app.template_versions()
    outcome = versions.save(SUBJECT, bad, author="ada", message="")  # type: ignore[arg-type]
    assert not outcome.saved and reason in outcome.problems[0].reason
    assert reason in versions.check({SUBJECT: bad})[0].reason  # type: ignore[dict-item]
    assert not versions.save(SUBJECT, "Fine", author=" ", message="").saved  # an author is needed
