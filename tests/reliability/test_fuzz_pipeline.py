"""Fuzzing the ingest pipeline with mutated real-world mails from ../shared/corpus, on both databases.

Each case draws one message of the corpus (read in place at test time, never copied here) and a
list of mutations: flipped, inserted and deleted bytes, truncation, duplicated or dropped header
lines, a moved or mangled header/body separator, NULs, CR-only / LF-only / mixed line ends, bogus
charset names, corrupted MIME boundaries, two mails spliced together, base64 / quoted-printable
garbage, one enormous header line (up to 200 KB) and a deeply nested multipart prefix. Every
mail stays under 2 MB.

What must hold for every mutated mail:

* storing it and processing it raises nothing out of `RawStore.put` or `IngestWorker.run_batch`;
* the pipeline itself raises nothing either: the worker turns any exception of `ingest_one` into
  a FAILED row (state "failed", retried after a back-off, see inbox/store/rawqueue.py), and
  since `rawqueue.claim` takes failed rows again once `next_attempt_at` is due, a FAILED row is
  *pending*, left behind. So is RECEIVED and PROCESSING. QUARANTINED is final for the queue
  (only `inbox ingest --retry-failed` brings it back) but is reached only through a pipeline
  failure (a PermanentError, or too many attempts), so it is a failure here too. The only
  acceptable state is therefore "processed", with an outcome among the final ones of
  `inbox.domain.ticket.Outcome` (opened, appended, duplicate, auto_reply, bounce, refused);
* the database stays consistent: every raw row has an outcome, a processed row that opened or
  joined a ticket names it, and there are never more tickets than raw rows.

The database cases share one App per backend (building one per case would cost more than the
case); the pure case runs `parse`, `detect_automation` and the severity classifier only.
Both are derandomized, so CI runs the same cases every time; the number run is printed.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from classifiers import CustomerView, RuleSet, classify, compile_rules
from inbox.app import App
from inbox.domain.message import Automation
from inbox.domain.ticket import Outcome
from inbox.ingest.automation import detect_automation
from inbox.ingest.parse import parse
from inbox.ingest.drain import IngestWorker
from inbox.rawstore import RawItem
from inbox.receive.files import read_messages
from inbox.store import rawqueue
from inbox.store.tables import RawMessage, Ticket
from tests.conftest import CORPUS, missing_service
from tests.fakes import make_app, make_settings
from tests.reliability.mutations import Corpus, fresh_message_id, mutated_mail

FINAL = {o.value for o in Outcome} - {Outcome.FAILED.value}
WITH_TICKET = {Outcome.OPENED.value, Outcome.APPENDED.value}
DB_EXAMPLES = 400  # measured on 2 cores: ~12 s on SQLite, ~20 s on PostgreSQL
PURE_EXAMPLES = 2_000  # measured on 2 cores: ~30 s

CASES: Counter[str] = Counter()  # fuzz cases run, per test: the README quotes these figures
SLOWEST: dict[str, tuple[float, list[str]]] = {}  # per test: the slowest case and its mutations
OUTCOMES: dict[str, Counter[str]] = {}  # per test: what the mails came to


# --- the corpus, read in place -------------------------------------------------------------------

@functools.cache
def _messages() -> Corpus:
    files = sorted(
        p for p in CORPUS.rglob("*")
        if p.is_file() and "_license" not in p.parts and p.name not in {"README.md", "README"}
    )
    return Corpus((source.replace(f"{CORPUS}/", ""), data) for source, data in read_messages(files))


@pytest.fixture
def corpus() -> Corpus:
    """Every message of the corpus; a skip without it (a failure under CI=true)."""
    if not CORPUS.is_dir():
        missing_service(f"the mail corpus at {CORPUS}")
    messages = _messages()
    assert len(messages) > 1000, f"only {len(messages)} messages in {CORPUS}"
    return messages


Count = Callable[[float, list[str], list[str]], None]


@pytest.fixture
def counted(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> Iterator[Count]:
    """Counts this test's cases (and notes the slowest); prints the figures at the end, with or without -s."""
    name = request.node.name
    started = time.perf_counter()

    def count(seconds: float, done: list[str], outcomes: list[str]) -> None:
        CASES[name] += 1
        OUTCOMES.setdefault(name, Counter()).update(outcomes)
        if seconds > SLOWEST.get(name, (0.0, []))[0]:
            SLOWEST[name] = (seconds, done)

    yield count
    slowest, done = SLOWEST.get(name, (0.0, []))
    with capsys.disabled():
        print(f"\n{name}: fuzz cases run: {CASES[name]} in {time.perf_counter() - started:.1f} s; "
              f"{dict(OUTCOMES.get(name, {}))}; slowest case {slowest:.2f} s: {done}")


# --- the pipeline, on a real database ------------------------------------------------------------

def _consistency(session: Session) -> tuple[dict[str, int], int, int, int]:
    """Rows per state, raw rows, raw rows without an outcome, tickets."""
    count = select(func.count()).select_from
    return (rawqueue.depth(session), session.execute(count(RawMessage)).scalar_one(),
            session.execute(count(RawMessage).where(RawMessage.outcome.is_(None))).scalar_one(),
            session.execute(count(Ticket)).scalar_one())


class Pipeline:
    """One App and its worker, shared by all of a test's cases."""

    def __init__(self, app: App, worker: IngestWorker, backend: str) -> None:
        self.app, self.worker, self.backend = app, worker, backend

    def __repr__(self) -> str:
        return f"<the ingest pipeline on {self.backend}>"


@pytest.fixture
def pipeline(db_url: str, tmp_path: Path) -> Iterator[Pipeline]:
    """One App and one worker for all of a test's cases on this backend; at the end, the whole
    queue is checked once more: every row processed, each with an outcome."""
    app = make_app(make_settings(tmp_path, db_url))
    worker = app.worker()
    yield Pipeline(app, worker, db_url.partition(":")[0])
    worker.close()
    try:
        with app.sessions() as session:
            depth, raws, without_outcome, tickets = _consistency(session)
    finally:
        app.close()
    assert set(depth) <= {rawqueue.PROCESSED}, depth
    assert without_outcome == 0 and tickets <= raws, (without_outcome, tickets, raws)


@settings(max_examples=DB_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(data=st.data())
def test_mutated_mails_end_processed_and_nothing_is_left_pending(
    pipeline: Pipeline, corpus: Corpus, counted: Count, data: st.DataObject
) -> None:
    """Every mutated mail is stored and processed without an exception and ends in a final outcome:
    no row received, processing, failed (pending a retry) or quarantined; the database stays consistent.
    One to three mails per case, processed as one batch, as the worker takes them from the queue.

    The rows checked are this case's own, so that a failure found earlier does not make every
    later case (and every replay while hypothesis shrinks) fail too; `pipeline` checks them all."""
    drawn = data.draw(st.lists(mutated_mail(corpus, fresh_message_id), min_size=1, max_size=3), label="mails")
    done = [f"mail {i + 1}: {m.source}: {step}" for i, m in enumerate(drawn) for step in m.done]
    app, worker = pipeline.app, pipeline.worker
    started = time.perf_counter()
    refs = app.rawstore.put_many([RawItem(m.data, f"fuzz:{m.source}") for m in drawn])
    results = worker.run_batch(sorted({r.id for r in refs}))
    counted(time.perf_counter() - started, done, [o.value for _, o in results])

    with app.sessions() as session:
        for ref in refs:
            row = session.get(RawMessage, ref.id)
            assert row.outcome is not None, f"mutations {done}: raw {row.id} has no outcome ({row.state})"
            assert (row.state, row.outcome) in {(rawqueue.PROCESSED, o) for o in FINAL}, (
                f"mutations {done}: raw {row.id} is {row.state}/{row.outcome}: {row.last_error}")
            if row.outcome in WITH_TICKET:
                assert row.ticket_id is not None and session.get(Ticket, row.ticket_id) is not None, done
        _, raws, _, tickets = _consistency(session)
    assert all(outcome is not Outcome.FAILED for _, outcome in results), (done, results)
    assert tickets <= raws, (tickets, raws)


# --- parse and classify only, many more cases --------------------------------------------------

SEVERITIES = ["critical", "high", "medium", "low"]
DEFAULT_RULES = Path(__file__).resolve().parents[2] / "config" / "rules" / "default.yaml"
ACME = CustomerView("acme", "standard", stated_may_raise=True, stated_up_to="high")


@functools.cache
def _default_rules() -> RuleSet:
    """The shipped rules, compiled as the service compiles them."""
    return compile_rules(yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8")), SEVERITIES)


@settings(max_examples=PURE_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(data=st.data())
def test_mutated_mails_parse_and_classify_without_exception(
    corpus: Corpus, counted: Count, data: st.DataObject
) -> None:
    """`parse`, `detect_automation` and the severity rules take every mutated mail: no exception escapes."""
    mutated = data.draw(mutated_mail(corpus), label="mail")
    mail, done = mutated.data, [f"{mutated.source}: {step}" for step in mutated.done]
    started = time.perf_counter()
    parsed = parse(mail)
    verdict = detect_automation(parsed, is_own_message_id=lambda mid: False, own_addresses=["support@example.com"])
    severity = classify(parsed, ACME, _default_rules(), SEVERITIES).severity
    counted(time.perf_counter() - started, done, [verdict.kind.value])
    assert isinstance(verdict.kind, Automation), done
    assert severity in SEVERITIES, (done, severity)
