"""Whether an automatic email may go out: the rules that keep us from flooding or looping. Pure.

RFC 3834 section 2 asks automatic responders to limit how often they answer one address; a
permanent bounce (RFC 3463 5.x.x) means the address does not take mail. Staff alerts are not
limited: a manager who misses the tenth breach of the hour is worse than one who gets it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    send: bool
    reason: str = ""


SEND = Verdict(True)


def should_send(*, automatic: bool, to_customer: bool, suppressed_because: str | None,
                sent_last_hour: int, max_per_hour: int) -> Verdict:
    """May this email go to its recipient now?"""
    if not automatic or not to_customer:
        return SEND
    if suppressed_because is not None:
        return Verdict(False, f"the address is suppressed: {suppressed_because}")
    if sent_last_hour >= max_per_hour:
        return Verdict(False, f"{sent_last_hour} automatic emails went to this address in the last hour "
                              f"(limit {max_per_hour})")
    return SEND
