"""Template memory and time bombs: each is refused before it is built, in little memory and time.

Issue 18, class 4: `{{ 'x' * 99999 * 99999 }}` passed the sandbox's checks and allocated about
9.6 GB for 12 s before the output limit refused it; an edited template is checked within 5 s of
its save, so one file could get the service killed. Here every construction that can build a
large value or run long (repetition, `+` in loops, `join`, format padding, the padding methods,
`expandtabs`, `range`, `|batch`, `|slice`, `|wordwrap`, `|indent`, `|center`, `|truncate`,
`|replace`, `|join`, `|format`, `|list`, nested loops, recursion by macros and `loop()`, ...)
is written into the acknowledgement's text body, then checked as `inbox templates check` checks
a file (every sample) and rendered as an email is. Each must be refused with its file, line and
why, using under 100 MB more memory (tracemalloc's peak) and under 2 s (perf_counter) each.

Each payload runs in a forked child whose address space is capped and whose time is limited, so a
regression fails the test (MemoryError, or killed) instead of taking the machine down.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import resource
import shutil
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from autoresponder.render import Renderer, TemplateError
from autoresponder.samples import sample_context, sample_contexts

SHIPPED = Path(__file__).resolve().parents[2] / "templates"
FILE = "acknowledgement/body.txt.j2"
WHERE = f"templates/{FILE}:2: "  # the payload is on the file's second line
MEMORY = 100_000_000  # bytes more than before the check or render, at the peak
SECONDS = 2.0
CHILD_SECONDS = 30  # a child still running then is killed: the bomb went off
HEADROOM = 1_500_000_000  # address space the child may add to what the fork gave it

S = "{% set s = 'x' * 99999 * 10 %}"  # a string of 999,990 characters: under the 1,000,000 a value may hold
NS = "{% set ns = namespace(l=[]) %}"


def kept(expression: str) -> str:
    """`expression` built anew on each of 100,000 turns and kept in a list: gigabytes in all."""
    return f"{S}{NS}{{% for i in range(100000) %}}{{% set ns.l = ns.l + [{expression}] %}}{{% endfor %}}{{{{ ns.l|length }}}}"


# (id, template text, what the refusal says): every construction of issue 18, class 4.
BOMBS = [
    ("repeat", "{{ 'x' * 99999 * 99999 }}", "would be 9,999,800,001 characters"),
    ("repeat-int-first", "{{ 99999 * 'x' * 99999 }}", "would be 9,999,800,001 characters"),
    ("repeat-chain", "{{ 'x' * 999 * 999 * 999 }}", "would be 997,002,999 characters"),
    ("repeat-list", "{{ [ticket] * 99999 * 99999 }}", "would be 9,999,800,001 characters or items"),
    ("plus-in-a-loop", NS + "{% for i in range(100000) %}{% set ns.l = ns.l + [i] %}{% endfor %}{{ ns.l|length }}",
     "bytes"),
    ("tilde-in-a-loop", "{% set ns = namespace(s='') %}{% for i in range(100000) %}{% set ns.s = ns.s ~ 'xxxxxxxxxx' %}"
                        "{% endfor %}{{ ns.s|length }}", "bytes"),
    ("concat-list-loop", kept("s ~ i"), "bytes"),
    ("join-method", S + "{{ s.join([s] * 99999) }}", "joining 99,999 items"),
    ("join-filter", S + "{{ ([s] * 99999)|join(s) }}", "joining 99,999 items"),
    ("percent-star", "{{ '%*d' % (999999999, 1) }}", r"taken from a value \(\*\)"),
    ("percent-key-width", "{{ '%(a)999999999s' % {'a': 1} }}", "format width or precision over 100,000"),
    ("percent-fields", S + "{{ ('%s' * 99999) % ((s,) * 99999) }}", "bytes"),
    ("format-width", "{{ '{0:a>999999999}'.format(1) }}", "format width or precision over 100,000"),
    ("format-nested-width", "{{ '{:>{}}'.format('x', 999999999) }}", "taken from a value"),
    ("format-fields", S + "{{ ('{0}' * 99999).format(s) }}", "bytes"),
    ("format-filter", S + "{{ ('%s' * 9999)|format(*([s] * 9999)) }}", "bytes"),
    ("many-arguments", S + "{{ ('%s' * 99999)|format(*([s] * 99999)) }}", "a call with 99,999 arguments"),
    ("format-filter-star", "{{ '%*s'|format(999999999, 'x') }}", r"taken from a value \(\*\)"),
    ("center", kept("(i ~ '').center(99999)"), "bytes"),
    ("ljust", kept("(i ~ '').ljust(99999)"), "bytes"),
    ("rjust", kept("(i ~ '').rjust(99999)"), "bytes"),
    ("zfill", kept("(i ~ '').zfill(99999)"), "bytes"),
    ("expandtabs", "{{ ('\\t' * 99999).expandtabs(99999) }}", "expandtabs"),
    ("range-reused", "{% set r = range(99999) %}{% for i in r %}{% for j in r %}{% endfor %}{% endfor %}",
     "loops turn more than 100,000 times"),
    ("batch", kept("[i]|batch(99999, 'x')|list"), "bytes|would go through"),
    ("slice", kept("[i]|slice(99999)|list"), "bytes|would go through"),
    ("wordwrap", S + "{{ ('x ' * 99999)|wordwrap(1, wrapstring=s) }}", r"\|wordwrap"),
    ("indent", S + "{{ ('x\\n' * 99999)|indent(s) }}", r"\|indent"),
    ("center-filter", kept("i|center(99999)"), "bytes"),
    ("truncate", kept("(s ~ i)|truncate(99999)"), "bytes"),
    ("replace-count", S + "{{ s|replace('x', s, 99999) }}", r"\|replace"),
    ("replace-method", S + "{{ s.replace('x', s) }}", "replace"),
    ("translate", S + "{{ s.translate({120: s}) }}", "translate"),
    ("list", kept("s|list"), "bytes"),
    ("slice-syntax", kept("s[i:]"), "bytes"),
    ("cycler-copy", "{% set l = ('x' * 9999)|list %}" + kept("cycler(*l)"), "bytes"),
    ("cycler-arguments", "{% set l = ('x' * 99999 * 10)|list %}" + kept("cycler(*l)"), "a call with 999,990 arguments"),
    ("print-list", S + "{{ [s] * 99999 }}", "the output would build"),
    ("string-filter", S + "{{ ([s] * 99999)|string }}", r"\|string"),
    ("tojson", S + "{{ ([s] * 99999)|tojson }}", r"\|tojson"),
    ("pprint", S + "{{ ([s] * 99999)|pprint }}", r"\|pprint"),
    ("print-namespace", S + "{% set n = namespace(l=[s] * 99999) %}{{ n }}", "a namespace cannot be printed"),
    ("set-block", S + "{% set x %}{% for i in range(99999) %}{{ s }}{% endfor %}{% endset %}{{ x|length }}", "bytes"),
    ("set-block-text", "{% set x %}{% for i in range(99999) %}" + "y" * 2000 + "{% endfor %}{% endset %}{{ x|length }}",
     "bytes"),
    ("macro-body", S + "{% macro m() %}{% for i in range(99999) %}{{ s }}{% endfor %}{% endmacro %}{{ m()|length }}",
     "bytes"),
    ("urlize-target", S + "{{ ('http://a.example ' * 9999)|urlize(target=s) }}", "urlize"),
    ("sum-lists", "{{ ([[1] * 99999] * 99999)|sum(start=[]) }}", r"\|sum adds numbers"),
    ("int-squaring", "{% set ns = namespace(n=99999) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}{% endfor %}",
     "over 4096 bits"),
    ("nested-loops", S + "{% for a in s %}{% for b in s %}{% for c in s %}{% endfor %}{% endfor %}{% endfor %}",
     "loops turn more than 100,000 times"),
    ("macro-recursion", "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
     "steps|takes longer than|recursion too deep"),
    ("loop-recursion", "{% for x in [0] * 99999 recursive %}{% if loop.depth < 3 %}{{ loop([0] * 99999) }}{% endif %}"
                       "{% endfor %}", "loops turn more than 100,000 times|takes longer than"),
]


def _measure(action: Any) -> tuple[str | None, float, int]:
    """(the refusal or None, seconds, peak bytes above the start) of one check or render."""
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    try:
        outcome = action()
        refusal = None if not outcome else str(outcome)
    except TemplateError as error:
        refusal = str(error)
    return refusal, time.perf_counter() - started, tracemalloc.get_traced_memory()[1] - before


def _child(directory: Path, conn: Any) -> None:
    """In the forked child: cap the address space, then check the file and render the email."""
    with open("/proc/self/statm") as statm:
        size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    resource.setrlimit(resource.RLIMIT_AS, (size + HEADROOM, size + HEADROOM))
    tracemalloc.start()
    renderer = Renderer(directory)
    check = _measure(lambda: renderer.verify(FILE, sample_contexts("acknowledgement")))
    render = _measure(lambda: renderer.render("acknowledgement", sample_context("acknowledgement")))
    conn.send({"check": check, "render": render})
    conn.close()


def _run(directory: Path) -> dict[str, tuple[str | None, float, int]]:
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(directory, theirs))
    child.start()
    theirs.close()
    if not ours.poll(CHILD_SECONDS):
        child.kill()
        child.join()
        pytest.fail(f"the check and render were still running after {CHILD_SECONDS} s: killed")
    try:
        result: dict[str, tuple[str | None, float, int]] = ours.recv()
    except EOFError:
        result = {}
    child.join()
    if not result:
        pytest.fail(f"the child died (exit code {child.exitcode}) before reporting")
    return result


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    directory = tmp_path / "templates"
    shutil.copytree(SHIPPED / "acknowledgement", directory / "acknowledgement")
    return directory


@pytest.mark.parametrize(("source", "why"), [(source, why) for _, source, why in BOMBS], ids=[i for i, _, _ in BOMBS])
def test_a_template_bomb_is_refused_before_it_is_built(templates: Path, source: str, why: str) -> None:
    """Checked with every sample and rendered: refused with file, line and why, under 100 MB and 2 s each."""
    (templates / FILE).write_text("Hello\n" + source + "\n", encoding="utf-8")
    outcome = _run(templates)
    for step in ("check", "render"):
        refusal, seconds, peak = outcome[step]
        assert refusal is not None, f"{step}: rendered"
        assert refusal.startswith(WHERE), f"{step}: {refusal}"
        assert re.search(why, refusal), f"{step}: {refusal}"
        assert "MemoryError" not in refusal, f"{step}: {refusal}"
        assert peak < MEMORY, f"{step}: {peak / 1e6:.0f} MB at the peak ({refusal})"
        assert seconds < SECONDS, f"{step}: {seconds:.2f} s ({refusal})"


# --- the deadline, on a clock the test moves -----------------------------------------------------


class Ticking:
    """A clock that moves 10 ms each time it is read: the sandbox reads it at every step."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.01
        return self.now


def test_a_render_that_runs_on_stops_at_its_deadline(templates: Path) -> None:
    """A macro that calls itself twice per level (2**40 calls, little memory) stops when the render's second is up."""
    (templates / FILE).write_text("Hello\n{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}"
                                  "{% endmacro %}{{ f(40) }}\n", encoding="utf-8")
    clock = Ticking()
    with pytest.raises(TemplateError, match=r"^templates/acknowledgement/body\.txt\.j2:2: the template takes longer"
                                            r" than 1 s to render$"):
        Renderer(templates, clock=clock).render("acknowledgement", sample_context("acknowledgement"))
    assert 1.0 < clock.now < 1.1  # stopped at the first step past the deadline


def test_a_check_has_one_deadline_for_all_the_samples_of_a_file(templates: Path) -> None:
    """A file each sample renders in a tenth of its time still cannot make a check of its 30 samples run past 1 s."""
    (templates / FILE).write_text("Hello\n{% for i in range(10) %}{{ ticket.tracking }}{% endfor %}\n",
                                  encoding="utf-8")
    renderer = Renderer(templates, clock=Ticking())
    assert "SUP-000123" in renderer.render("acknowledgement", sample_context("acknowledgement")).text
    refusal = renderer.verify(FILE, sample_contexts("acknowledgement"))
    assert refusal is not None
    assert str(refusal).startswith(f"{WHERE}the template takes longer than 1 s to render all the samples (with ")


def test_honest_big_emails_still_render() -> None:
    """A 300 KB engineer's reply (text and HTML, line by line) and a digest of 3,000 alerts fit the budget."""
    renderer = Renderer(SHIPPED)
    reply = sample_context("agent_reply")
    reply["reply"]["text"] = "\n".join(f"{n:06d} <ERROR> payment gateway & 'checkout' timed out" for n in range(6000))
    assert len(reply["reply"]["text"]) > 300_000
    email = renderer.render("agent_reply", reply)
    assert "005999 <ERROR>" in email.text and "005999 &lt;ERROR&gt;" in email.html
    digest = sample_context("digest")
    one = digest["digest"]["entries"][0]
    digest["digest"]["entries"] = [{**one, "tracking": f"SUP-{n:06d}"} for n in range(3000)]
    digest["digest"]["count"] = 3000
    sent = renderer.render("digest", digest)
    assert "SUP-002999" in sent.text and "SUP-002999" in sent.html
