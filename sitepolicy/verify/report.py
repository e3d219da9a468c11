"""The verify result as a sites x sites matrix plus the web server row, and as JSON.

Row = the subject (whose rules), column = the object (whose types). A cell on the diagonal holds the
site's own proofs (1 entry, 2 stock web content, 5 needs, 6 file contexts); off the diagonal, proofs
2 and 3 between two sites; the web server row holds proof 4.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from .proofs import WEB_SERVER, Finding, Proof

WEB_SERVER_ROW = f"web server ({WEB_SERVER})"


@dataclass(frozen=True)
class Report:
    sites: tuple[str, ...]
    store: str
    findings: tuple[Finding, ...]
    link_seconds: float
    prove_seconds: float

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def failures(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.ok)

    def cell(self, row: str, column: str) -> list[Finding]:
        if row == WEB_SERVER_ROW:
            return [f for f in self.findings if f.subject == WEB_SERVER and f.obj == column]
        if row == column:
            return [f for f in self.findings if f.subject == row and f.obj in (row, "web content")]
        return [f for f in self.findings if f.subject == row and f.obj == column]

    def verdict(self, row: str, column: str) -> str:
        cell = self.cell(row, column)
        if not cell:
            return "-"
        failed = sorted({int(f.proof) for f in cell if not f.ok})
        proofs = sorted({int(f.proof) for f in cell})
        if failed:
            return "FAIL " + ",".join(map(str, failed))
        return "ok " + ",".join(map(str, proofs))

    def restricted_to(self, names: Sequence[str]) -> Report:
        """Only the cells whose row or column is one of ``names`` (invoke verify SITE)."""
        keep = set(names)
        findings = tuple(f for f in self.findings if f.subject in keep or f.obj in keep)
        return Report(self.sites, self.store, findings, self.link_seconds, self.prove_seconds)

    def as_dict(self) -> dict[str, object]:
        rows = [*self.sites, WEB_SERVER_ROW]
        return {
            "ok": self.ok,
            "store": self.store,
            "sites": list(self.sites),
            "link_seconds": round(self.link_seconds, 2),
            "prove_seconds": round(self.prove_seconds, 2),
            "matrix": {row: {col: self.verdict(row, col) for col in self.sites} for row in rows},
            "findings": [f.as_dict() for f in self.findings],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict) -> Report:
        findings = tuple(
            Finding(Proof(f["proof"]), f["subject"], f["object"], f["ok"], f["what"], tuple(f["rules"]))
            for f in data["findings"]
        )
        return cls(tuple(data["sites"]), data["store"], findings, data["link_seconds"], data["prove_seconds"])


def render_text(report: Report, relinked: bool = True) -> str:
    rows = [*report.sites, WEB_SERVER_ROW]
    first = max(len(r) for r in rows) + 2
    widths = [max(len(c), 10) + 2 for c in report.sites]
    lines = [
        f"verify: {len(report.sites)} site(s) linked into the {report.store} base policy "
        + (
            f"in {report.link_seconds:.1f} s, proven in {report.prove_seconds:.1f} s"
            if relinked
            else "(unchanged modules: cached result, not relinked)"
        ),
        "rows: whose rules; columns: whose types. Cell = proofs checked (1 entry, 2 no rule on the other "
        "types, 3 no shared channel, 4 web server, 5 needs, 6 file contexts)",
        "",
        "".ljust(first) + "".join(c.ljust(w) for c, w in zip(report.sites, widths)),
    ]
    for row in rows:
        lines.append(row.ljust(first) + "".join(report.verdict(row, c).ljust(w) for c, w in zip(report.sites, widths)))
    lines.append("")
    if report.ok:
        lines.append(f"verify: all {len(report.findings)} checks passed")
        return "\n".join(line.rstrip() for line in lines)
    lines.append(f"verify: {len(report.failures)} of {len(report.findings)} checks FAILED")
    for f in report.failures:
        lines.append(f"[proof {int(f.proof)}: {f.proof.title}] {f.subject} -> {f.obj}: {f.what}")
        lines += [f"    {rule}" for rule in f.rules]
    return "\n".join(line.rstrip() for line in lines)
