"""AVC records from an audit.log, and exact matching against an expectation.

The records are parsed by the audit tool's parser (sitepolicy/audit/records.py): one parser of AVC text in the
product. The guest's verdicts use the kernel's own AVC records (``type=AVC``); userspace object managers'
USER_AVC records (D-Bus, systemd) are left out here, as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..audit.records import Avc, parse_records

__all__ = [
    "Avc",
    "AvcExpectation",
    "Mark",
    "between",
    "in_window",
    "merge",
    "parse_audit_log",
    "parse_marks",
]


@dataclass(frozen=True)
class AvcExpectation:
    """A denial the policy must produce: exact source type, target type, class and permission."""

    source_type: str
    target_type: str
    tclass: str
    permission: str

    def matches(self, avc: Avc) -> bool:
        return (
            avc.denied
            and not avc.permissive
            and avc.source_type == self.source_type
            and avc.target_type == self.target_type
            and avc.tclass == self.tclass
            and self.permission in avc.permissions
        )

    def __str__(self) -> str:
        return f"{self.source_type} -> {self.target_type}:{self.tclass} {{ {self.permission} }}"


def parse_audit_log(text: str) -> list[Avc]:
    """Every kernel AVC record of an audit.log, in file order."""
    return [a for a in parse_records(text) if a.kind == "AVC"]


_MARK = re.compile(
    r"type=USER msg=audit\((?P<ts>\d+\.\d+):(?P<serial>\d+)\):"
    r".*sitepolicy-e2e (?P<boot>\S+) (?P<what>begin|end) (?P<n>\d+)"
)


@dataclass(frozen=True)
class Mark:
    """A marker the guest runner wrote into the audit stream around each check."""

    timestamp: float
    serial: int

    @property
    def key(self) -> tuple[float, int]:
        return (self.timestamp, self.serial)


def parse_marks(text: str) -> dict[tuple[str, str, int], Mark]:
    """(boot id, begin|end, number) -> the marker's audit timestamp and serial."""
    marks = {}
    for line in text.splitlines():
        m = _MARK.search(line)
        if m:
            marks[(m["boot"], m["what"], int(m["n"]))] = Mark(float(m["ts"]), int(m["serial"]))
    return marks


def between(avcs: Iterable[Avc], first: Mark, last: Mark) -> list[Avc]:
    """The records the kernel logged after `first` and before `last` (same clock, ordered serials).

    Audit serials restart at each boot, timestamps do not go back: (timestamp, serial) orders
    records across the boots of one guest.
    """
    return [a for a in avcs if first.key < (a.timestamp, a.serial) < last.key]


def merge(*logs: Iterable[Avc]) -> list[Avc]:
    """AVCs of several copies of one growing audit.log (one per boot), each record once."""
    seen: dict[tuple[float, int, str], Avc] = {}
    for log in logs:
        for avc in log:
            seen.setdefault((avc.timestamp, avc.serial, avc.line), avc)
    return sorted(seen.values(), key=lambda a: (a.timestamp, a.serial))


# Fallback when a check has no markers. The audit timestamp comes from the kernel's coarse clock,
# up to a tick (4 ms at HZ=250, more under emulation) behind time.time() taken just before the
# action; seen: an AVC stamped 2.7 ms before its check started.
SLACK = 0.010


def in_window(avcs: Iterable[Avc], start: float, end: float) -> list[Avc]:
    return [a for a in avcs if start - SLACK <= a.timestamp <= end + 0.002]
