"""Findings: AVC records grouped per site and verdict, with counts and first/last time; text and JSON.

JSON (for monitoring) is exactly ``{"findings": [{"site", "verdict", "count", "first", "last", "avc",
"suggestion"}]}``: ``avc`` is the first record of the group as logged, ``first``/``last`` ISO 8601 UTC,
``suggestion`` the YAML diff (suggestion), the target's interfaces and why (unsupported), the template fix
(noise), or null (violation).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from .classify import Classified, Verdict
from .records import Avc, iso_time

ORDER = {Verdict.VIOLATION: 0, Verdict.SUGGESTION: 1, Verdict.UNSUPPORTED: 2, Verdict.NOISE: 3}


@dataclass(frozen=True)
class Finding:
    site: str
    verdict: Verdict
    reason: str
    records: tuple[Avc, ...]
    suggestion: str | None
    need: object | None = None

    @property
    def count(self) -> int:
        return len(self.records)

    @property
    def first(self) -> str:
        return iso_time(min(a.timestamp for a in self.records))

    @property
    def last(self) -> str:
        return iso_time(max(a.timestamp for a in self.records))

    def as_dict(self) -> dict[str, object]:
        return {
            "site": self.site,
            "verdict": self.verdict.value,
            "count": self.count,
            "first": self.first,
            "last": self.last,
            "avc": self.records[0].line,
            "suggestion": self.suggestion,
        }


def group(classified: Sequence[tuple[Avc, Classified]], suggestion_text: dict[object, str]) -> list[Finding]:
    """One finding per site, verdict and access (source, target, class, permissions) and need."""
    groups: dict[tuple[object, ...], list[tuple[Avc, Classified]]] = {}
    for avc, c in classified:
        key = (c.site, c.verdict, avc.source_type, avc.target_type, avc.tclass, avc.permissions, c.need, c.reason)
        groups.setdefault(key, []).append((avc, c))
    findings = []
    for items in groups.values():
        avc, c = items[0]
        if c.verdict == Verdict.SUGGESTION:
            text: str | None = suggestion_text.get(c.need, str(c.need))
        elif c.verdict == Verdict.UNSUPPORTED:
            text = c.reason + (
                "; the target's interfaces that would grant it: " + ", ".join(c.interfaces)
                if c.interfaces
                else "; no interface of the target's headers grants exactly this"
            )
        elif c.verdict == Verdict.NOISE:
            text = c.reason
        else:
            text = None
        findings.append(Finding(c.site, c.verdict, c.reason, tuple(a for a, _ in items), text, c.need))
    return sorted(findings, key=lambda f: (f.site, ORDER[f.verdict], f.records[0].event))


def to_json(findings: Sequence[Finding]) -> str:
    return json.dumps({"findings": [f.as_dict() for f in findings]}, indent=2)


def to_text(findings: Sequence[Finding], records: int, described: str, diffs: Sequence[str]) -> str:
    lines = [f"audit: {records} AVC record(s) of sitepolicy types in {described}; {len(findings)} finding(s)"]
    site = None
    for f in findings:
        if f.site != site:
            site = f.site
            lines.append(site)
        lines.append(f"  {f.verdict.value:<11} {f.count:>4}x  {f.first} .. {f.last}")
        lines.append(f"      {f.reason}")
        if f.verdict == Verdict.SUGGESTION:
            lines.append(f"      change: {f.need}")
        elif f.suggestion is not None and f.verdict == Verdict.UNSUPPORTED:
            lines.append(f"      {f.suggestion[len(f.reason) + 2 :]}" if f.suggestion.startswith(f.reason) else "")
        lines.append(f"      avc: {f.records[0].line}")
    violations = [f for f in findings if f.verdict == Verdict.VIOLATION]
    if violations:
        lines.append(
            f"{sum(f.count for f in violations)} record(s) in {len(violations)} violation(s): access that crosses "
            "sites or reaches what no site may. Evidence of a compromise or a misconfiguration; nothing to allow."
        )
    if diffs:
        lines.append("Suggested definition change (invoke audit --apply writes it after validation):")
        lines += [d.rstrip("\n") for d in diffs]
    return "\n".join(lines)
