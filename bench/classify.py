"""Classification benchmark: `classifiers.classify` over real and generated mail, with the
shipped rules and with 500 rules.

Mails are parsed once up front (`inbox.ingest.parse`), from every file under
../shared/corpus/ (skipped when the folder is missing) and from `bench.mailgen`; only
`classify` is timed. The 500-rule set is the default rules plus generated ones (words,
phrases, prefixes, regexes, from, customer and plan conditions, some with `unless`),
from a fixed seed so runs compare.

    .venv/bin/python bench/classify.py [--count 2000] [--rules 500] [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.mailgen import WORDS, generate  # noqa: E402
from classifiers import CustomerView, RuleSet, classify, compile_rules  # noqa: E402
from inbox.domain.message import ParsedMessage  # noqa: E402
from inbox.ingest.parse import parse  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
DEFAULT_RULES = ROOT / "config" / "rules" / "default.yaml"
SEVERITIES = ["critical", "high", "medium", "low"]
# Words beyond mailgen's, so generated rules both hit and miss.
EXTRA = ("outage refund breach escalate urgent failure disk network billing customer portal api token "
         "license renewal migration firewall printer camera agent störung сбой deadline").split()
SYLLABLES = "ka lo mi ne ru sa ti vo ze ber dan fel gor hin jul mar pet quo sil tor".split()
CUSTOMERS = {"acme.com": CustomerView("acme", "standard", stated_may_raise=True, stated_up_to="high"),
             "globex.test": CustomerView("globex", "enterprise", stated_may_raise=True)}
UNKNOWN = CustomerView(None, "standard")

Case = tuple[ParsedMessage, CustomerView]


def corpus_mails() -> list[bytes]:
    """Every file of the shared corpus (licences and READMEs left out), as bytes."""
    if not CORPUS.is_dir():
        return []
    return [path.read_bytes() for path in sorted(CORPUS.rglob("*"))
            if path.is_file() and "_license" not in path.parts and not path.name.startswith("README")]


def cases(raw: Sequence[bytes]) -> list[Case]:
    """Parsed mails with the customer each one's sender would be."""
    out = []
    for data in raw:
        parsed = parse(data)
        out.append((parsed, CUSTOMERS.get(parsed.from_addr.rpartition("@")[2], UNKNOWN)))
    return out


def generated_rules(count: int, seed: int = 11) -> list[dict[str, Any]]:
    """`count` rules of varied shapes over a vocabulary that the mails partly share."""
    rng = random.Random(seed)
    # Mostly words these mails rarely or never contain, as in a real rule set where most rules
    # miss most mail; one in twenty from mailgen's own words, so some rules hit.
    made_up = ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))) for _ in range(400)]
    rare = EXTRA + made_up

    def word() -> str:
        return rng.choice(WORDS) if rng.random() < 0.05 else rng.choice(rare)

    def terms() -> list[str]:
        found = []
        for _ in range(rng.randint(1, 5)):
            shape = rng.random()
            if shape < 0.55:
                found.append(word())
            elif shape < 0.8:
                found.append(f"{word()} {word()}")
            else:
                found.append(word()[:4] + "*")
        return found

    rules: list[dict[str, Any]] = []
    for index in range(count):
        when: dict[str, Any] = {}
        kind = index % 10
        if kind < 6:
            when[("subject", "body", "text")[kind % 3]] = terms()
        elif kind == 6:
            key = ("subject_regex", "body_regex", "text_regex")[index % 3]
            when[key] = rf"\b{word()}\W+(?:\w+\W+){{0,3}}{word()}\b" if index % 2 else rf"{word()}[-_ ]?\d{{2,4}}"
        elif kind == 7:
            when["from"] = rng.sample(["acme.com", "globex.test", "bob@acme.com", "initech.test", "example.org"], 2)
            when["text"] = terms()
        elif kind == 8:
            when["customer"] = rng.choice(["acme", "globex", "none"])
            when["body"] = terms()
        else:
            when["plan"] = rng.choice(["standard", "enterprise"])
            when["has_attachment"] = rng.random() < 0.5
            when["subject"] = terms()
        rule: dict[str, Any] = {"name": f"generated-{index}", "when": when}
        if rng.random() < 0.2:
            rule["unless"] = {"text": terms()}
        action = rng.random()
        if action < 0.4:
            rule["category"] = rng.choice(["technical-problem", "billing", "feature-request", "general-enquiry"])
        elif action < 0.8:
            rule["raise_to"] = rng.choice(["highest", "highest-1", "highest-2"])
        else:
            rule["severity"] = rng.choice(["highest-1", "lowest"])
        rules.append(rule)
    return rules


def run(mails: list[Case], rules: RuleSet) -> tuple[float, int]:
    """Seconds to classify every mail, and how many rules matched in all."""
    hits = 0
    started = time.perf_counter()
    for message, customer in mails:
        hits += len(classify(message, customer, rules, SEVERITIES).hits)
    return time.perf_counter() - started, hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000, help="generated mails")
    parser.add_argument("--rules", type=int, default=500, help="rules in the large set (default rules included)")
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs each")
    args = parser.parse_args()

    default_raw = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    default = compile_rules(default_raw, SEVERITIES)
    started = time.perf_counter()
    large = compile_rules(default_raw + generated_rules(max(args.rules - len(default_raw), 0)), SEVERITIES)
    compiled_in = time.perf_counter() - started

    sets: list[tuple[str, list[Case]]] = []
    corpus = corpus_mails()
    if corpus:
        sets.append(("corpus", cases(corpus)))
    else:
        print(f"corpus skipped: {CORPUS} is missing")
    sets.append(("generated", cases(generate(args.count))))
    print(f"{len(large)} rules compiled in {compiled_in * 1000:.0f} ms; best of {args.runs} runs")

    print(f"{'mail set':<12}{'rules':>7}{'mails':>8}{'seconds':>10}{'mails/s':>10}{'rules/s':>14}{'µs/mail':>10}"
          f"{'hits/mail':>11}")
    for name, mails in sets:
        for rules in (default, large):
            seconds, hits = min(run(mails, rules) for _ in range(args.runs))
            rate = len(mails) / seconds
            print(f"{name:<12}{len(rules):>7}{len(mails):>8}{seconds:>10.3f}{rate:>10.0f}"
                  f"{rate * len(rules):>14,.0f}{seconds / len(mails) * 1e6:>10.1f}{hits / len(mails):>11.1f}")
    print("rules/s = mails x rules / seconds (no rule stops the run); hits/mail = rules matched per mail")


if __name__ == "__main__":
    main()
