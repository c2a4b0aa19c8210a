"""Whether an automatic email may go out: the rules that keep us from flooding or looping. Pure.

RFC 3834 section 2 asks automatic responders to limit how often they answer one address; a
permanent bounce (RFC 3463 5.x.x) means the address does not take mail. Past the hourly limit a
customer's email is dropped (a flood of answers is the sign of a loop), while a staff alert is
only held back until the hour allows it: a breach alert must arrive late rather than never.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    send: bool
    reason: str = ""
    later: bool = False  # not now, but try again once the hour allows


SEND = Verdict(True)


def should_send(*, automatic: bool, to_customer: bool, suppressed_because: str | None,
                sent_last_hour: int, max_per_hour: int) -> Verdict:
    """May this email go to its recipient now?"""
    if not automatic:
        return SEND
    if suppressed_because is not None and to_customer:
        return Verdict(False, f"the address is suppressed: {suppressed_because}")
    if sent_last_hour >= max_per_hour:
        return Verdict(False, f"{sent_last_hour} automatic emails went to this address in the last hour "
                              f"(limit {max_per_hour})", later=not to_customer)
    return SEND
