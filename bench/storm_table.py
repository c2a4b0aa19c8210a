"""The storm bench's results: one run's figures (`Storm`), its row in the table, and the targets
issue 20 sets, met or not. Pure: no process, no clock, no database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.storm_kit import percentile


@dataclass
class Storm:
    rate: float
    achieved: float
    bare: float
    to_ticket: list[float]
    to_ack: list[float]
    missing_acks: int
    backlog: list[tuple[int, int]]  # each second: raw rows not processed, outbox rows not sent
    storm_seconds: int  # samples taken while the client was sending
    rss_total: float
    rss_each: list[float]
    commits_per_mail: float = math.nan  # PostgreSQL: transactions committed in the database per mail
    outbox_ms: float = math.nan
    plain_ms: float = math.nan

    def sustained(self) -> bool:
        """Accepted as offered, and no growing backlog: the work left at the storm's end no more than
        the most seen in its first half plus two seconds' worth (a fixed send tick holds a steady
        few seconds of mail in the outbox; falling behind makes the end exceed the first half)."""
        during = [sum(depths) for depths in self.backlog[: self.storm_seconds]]
        steady = not during or during[-1] <= max(during[: max(1, len(during) // 2)]) + 2 * self.rate
        return self.achieved >= 0.95 * self.rate and steady


def _ms(values: list[float]) -> str:
    return "/".join(f"{percentile(values, q):.2f}" for q in (50, 99, 100))


def row(db: str, s: Storm) -> str:
    peak = tuple(map(max, zip(*s.backlog))) if s.backlog else (0, 0)
    during = s.backlog[min(s.storm_seconds, len(s.backlog)) - 1] if s.backlog else (0, 0)
    final = s.backlog[-1] if s.backlog else (0, 0)
    return (f"| {db} | {s.rate:.0f} | {s.achieved:.1f} | {s.bare:.1f} | {s.achieved / s.bare:.2f} | {_ms(s.to_ticket)} | "
            f"{_ms(s.to_ack)} | {s.missing_acks} | {peak[0]}/{peak[1]} | {during[0]}/{during[1]} | {final[0]}/{final[1]} | "
            f"{s.outbox_ms:.2f} | {s.plain_ms:.2f} | {s.outbox_ms / s.plain_ms:.2f} | {s.rss_total:.0f} ({len(s.rss_each)}) |")


HEADER = ("| db | rate/s | accepted/s | bare/s | ratio | 250->ticket s p50/p99/max | 250->ack s p50/p99/max | no ack | "
          "backlog max raw/outbox | at storm end | final | outbox ms/email | plain ms | outbox/plain | RSS MB (procs) |\n"
          "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")


def targets(db: str, s: Storm) -> list[str]:
    def mark(ok: bool) -> str:
        return "met" if ok else "NOT met"
    p50, p99 = percentile(s.to_ack, 50), percentile(s.to_ack, 99)
    lines = [f"{db} @ {s.rate:.0f}/s: acceptance {s.achieved / s.bare:.2f} of bare (>= 0.8) {mark(s.achieved / s.bare >= 0.8)};"
             f" outbox {s.outbox_ms / s.plain_ms:.2f}x plain (<= 1.5) {mark(s.outbox_ms <= 1.5 * s.plain_ms)};"
             f" RSS {s.rss_total:.0f} MB (< 300) {mark(s.rss_total < 300)}; ack p99 {p99:.2f} s"]
    if s.rate >= 100:
        lines[0] += (f" (< 2) {mark(p99 < 2 and not s.missing_acks)}; ack median {p50:.2f} s (< 1) {mark(p50 < 1)};"
                     f" no growing backlog {mark(s.sustained())}")
    elif s.rate == 20:
        lines[0] += f" (< 1 at 20/s) {mark(p99 < 1 and not s.missing_acks)}"
    return lines
