"""Pure domain rules: tracking numbers, signed Message-IDs, threading evidence, participants."""

from __future__ import annotations

import re
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from inbox.domain.msgid import (is_own_message_id, looks_like_ours, make_digest_message_id, make_message_id,
                                stable_message_id, verify_message_id)
from inbox.domain.tracking import count_tracking_numbers, find_tracking_numbers, format_tracking
from inbox.ingest.thread import Candidate, ParticipantCheck, Via, candidates


def test_tracking_format_is_zero_padded() -> None:
    """Tracking numbers are PREFIX-000123."""
    assert format_tracking("SUP", 123) == "SUP-000123"
    assert format_tracking("SUP", 1234567) == "SUP-1234567"


def test_tracking_found_anywhere_any_case() -> None:
    """The prefix is found in any position and any case, each number once, first mention first."""
    assert find_tracking_numbers("SUP", "Re: [sup-000042] and SUP-7, again Sup-000042") == [42, 7]
    assert find_tracking_numbers("SUP", "Re:SUP-000042:") == [42]


def _first_written(prefix: str) -> re.Pattern[str]:
    """The pattern as first written (the look-behind before the prefix): the reference the faster one keeps to."""
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(prefix)}-(\d{{1,12}})(?![0-9A-Za-z])", re.IGNORECASE)


def _tracking_as_first_written(prefix: str, text: str) -> list[int]:
    return list(dict.fromkeys(int(m.group(1)) for m in _first_written(prefix).finditer(text)))


@settings(max_examples=600)
@given(st.sampled_from(["SUP", "A.B", "x", "12", "K1", "SS"]),
       st.lists(st.sampled_from(["SUP", "sup", "A.B", "AxB", "x", "X", "-", "1", "2", "12", "0042", "a", "[", " ", "\n",
                                 "\u017f", "\u212a", "\u0131", "\u0130", "k", "s", "S", "SUPSUP-", "9-", "12-", "K1-"]),
                max_size=14))
def test_tracking_pattern_finds_what_the_first_one_found(prefix: str, pieces: list[str]) -> None:
    """The search starts at the hyphen and checks the prefix behind it: the same numbers, as
    often, in the same order, in any text (the long s, the Kelvin sign and the dotless i match
    letters under IGNORECASE; an all-digit prefix can chain: "12-12-5")."""
    text = "".join(pieces)
    assert find_tracking_numbers(prefix, text) == _tracking_as_first_written(prefix, text)
    assert count_tracking_numbers(prefix, text) == Counter(int(m.group(1)) for m in _first_written(prefix).finditer(text))


def test_a_mention_never_lends_its_digits_to_the_next() -> None:
    """With an all-digit prefix, "12-12-5" names ticket 12 once: the second "12" belongs to the first mention."""
    assert find_tracking_numbers("12", "12-12-5") == [12]
    assert count_tracking_numbers("12", "12-12-5 and 12-5") == Counter({12: 1, 5: 1})


def test_tracking_not_found_inside_other_tokens() -> None:
    """Other prefixes and numbers running into letters are not tracking numbers."""
    assert find_tracking_numbers("SUP", "XSUP-000001 SUP-000002x SUPPORT-3 SUP-") == []


@settings(max_examples=200)
@given(st.integers(min_value=1, max_value=10**9))
def test_tracking_round_trip(number: int) -> None:
    """Every number written into a subject is read back."""
    assert find_tracking_numbers("SUP", f"Re: [{format_tracking('SUP', number)}] hi") == [number]


def test_signed_message_id_verifies_only_with_the_secret() -> None:
    """Our ids prove their ticket under our secret; altered or foreign ids prove nothing."""
    mid = make_message_id("SUP-000042", "example.com", "s3cret")
    assert verify_message_id(mid, "s3cret") == "SUP-000042"
    assert verify_message_id(f"<{mid}>", "s3cret") == "SUP-000042"
    assert verify_message_id(mid, "other") is None
    assert verify_message_id(mid.replace("SUP-000042", "SUP-000043"), "s3cret") is None
    assert verify_message_id("abc@example.com", "s3cret") is None
    assert looks_like_ours(mid) and not looks_like_ours("abc@example.com")


def test_a_digests_id_is_ours_but_names_no_ticket() -> None:
    """A staff digest's id proves the mail came from us (a loop is caught) yet threads into no ticket,
    whatever the desk's tracking prefix: its tag is longer than any prefix may be."""
    mid = make_digest_message_id(42, "example.com", "s3cret")
    assert is_own_message_id(mid, "s3cret") and looks_like_ours(mid)
    assert verify_message_id(mid, "s3cret") is None
    assert not is_own_message_id(mid, "other") and not is_own_message_id(mid.replace("-42.", "-43."), "s3cret")
    ticket = make_message_id("SUP-000042", "example.com", "s3cret")
    assert is_own_message_id(ticket, "s3cret") and verify_message_id(ticket, "s3cret") == "SUP-000042"


def test_stable_message_id_depends_only_on_hash() -> None:
    """The made-up id of a message without one is the same for the same bytes."""
    assert stable_message_id("ab" * 32) == stable_message_id("ab" * 32) != stable_message_id("cd" * 32)


def test_candidates_order_signed_then_known_then_subject() -> None:
    """Evidence is ranked: signed reference, stored reference, subject; each ticket once."""
    found = candidates(thread_ids=["a", "b"], signed={"b": 1}, known={"a": 2, "b": 1}, subject_tickets=[3, 2])
    assert found == [Candidate(1, Via.SIGNED_REFERENCE), Candidate(2, Via.REFERENCE), Candidate(3, Via.SUBJECT)]


def test_participants_admit_thread_customer_managers_agents() -> None:
    """Thread addresses, customer contacts and domains (and subdomains), managers and agents may join."""
    check = ParticipantCheck(
        thread_addresses={"cc@partner.test"},
        customer_contacts={"alice@gmail.com"},
        customer_domains={"acme.com"},
        account_managers={"tam@example.com"},
        agents={"eng@example.com"},
    )
    for ok in ("cc@partner.test", "ALICE@gmail.com", "bob@acme.com", "x@eu.acme.com", "tam@example.com", "eng@example.com"):
        assert check.admits(ok), ok
    for no in ("mallory@gmail.com", "x@notacme.com", "x@acme.com.evil.test"):
        assert not check.admits(no), no
