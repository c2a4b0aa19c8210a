"""Counters and gauges for /metrics, in the Prometheus text format. Thread-safe, in memory.

Knows nothing of what it counts: callers name the series. Never does I/O.
"""

from __future__ import annotations

import threading
from collections import defaultdict

Labels = tuple[tuple[str, str], ...]


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._gauges: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._help: dict[str, str] = {}

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        """Add to a counter (names end in _total by convention)."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._counters[name]
            series[key] = series.get(key, 0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        """Set a gauge."""
        with self._lock:
            self._gauges[name][tuple(sorted(labels.items()))] = value

    def describe(self, name: str, text: str) -> None:
        self._help[name] = text

    def value(self, name: str, **labels: str) -> float:
        """The current value of one series (0 when never touched): for health checks and tests."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            return self._counters.get(name, {}).get(key, self._gauges.get(name, {}).get(key, 0))

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for kind, table in (("counter", self._counters), ("gauge", self._gauges)):
                for name in sorted(table):
                    if name in self._help:
                        lines.append(f"# HELP {name} {self._help[name]}")
                    lines.append(f"# TYPE {name} {kind}")
                    for labels, value in sorted(table[name].items()):
                        lines.append(f"{name}{_labels(labels)} {value:g}")
        return "\n".join(lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
