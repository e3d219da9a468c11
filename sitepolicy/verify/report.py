"""The verify result as a sites x sites matrix plus the web server row, and as JSON.

Row = the subject (whose rules), column = the object (whose types). A cell on the diagonal holds the
site's own proofs (1 entry, 2 stock web content, 5 needs, 6 file contexts, 7 network, 8 web server
deputy, 9 domains of the module, 10 mail); off the diagonal, proofs
2 and 3 between two sites; the web server row holds proof 4.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .proofs import TRIAL, WEB_SERVER, Finding, Proof

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

    @cached_property
    def _by_pair(self) -> dict[tuple[str, str], list[int]]:
        """Positions of the findings by (subject, object), built once: a cell is then a lookup, not a scan
        of all findings (N^2 cells times N^2 findings took hours at 500 sites)."""
        index: dict[tuple[str, str], list[int]] = defaultdict(list)
        for position, f in enumerate(self.findings):
            index[(f.subject, f.obj)].append(position)
        return dict(index)

    def cell(self, row: str, column: str) -> list[Finding]:
        if row == WEB_SERVER_ROW:
            keys = [(WEB_SERVER, column)]
        elif row == column:
            keys = [(row, row), (row, "web content")]
        else:
            keys = [(row, column)]
        positions = sorted(p for key in dict.fromkeys(keys) for p in self._by_pair.get(key, ()))
        return [self.findings[p] for p in positions]

    @cached_property
    def _verdicts(self) -> dict[tuple[str, str], str]:
        return {}  # each cell's verdict once: the JSON matrix and the text report ask for the same cells

    def verdict(self, row: str, column: str) -> str:
        key = (row, column)
        if key not in self._verdicts:
            self._verdicts[key] = self._verdict(row, column)
        return self._verdicts[key]

    def _verdict(self, row: str, column: str) -> str:
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

    def to_json(self, indent: int | None = 2) -> str:
        """Indented for people (--json); ``indent=None`` for the cache, which json encodes many times faster."""
        return json.dumps(self.as_dict(), indent=indent) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        findings = tuple(
            Finding(Proof(f["proof"]), f["subject"], f["object"], f["ok"], f["what"], tuple(f["rules"]))
            for f in data["findings"]
        )
        return cls(tuple(data["sites"]), data["store"], findings, data["link_seconds"], data["prove_seconds"])


# Up to this many sites the text report is the full matrix; beyond, one summary row per site (--json keeps all).
MATRIX_MAX_SITES = 20


def _pairs(report: Report, site: str, outgoing: bool) -> str:
    """The site against every other site, in one direction, as "ok K" or "FAIL F of K"."""
    others = [o for o in report.sites if o != site]
    verdicts = [report.verdict(site, o) if outgoing else report.verdict(o, site) for o in others]
    failed = sum(v.startswith("FAIL") for v in verdicts)
    checked = sum(v != "-" for v in verdicts)
    return f"FAIL {failed} of {checked}" if failed else f"ok {checked}"


def _matrix_lines(report: Report) -> list[str]:
    rows = [*report.sites, WEB_SERVER_ROW]
    first = max(len(r) for r in rows) + 2
    widths = [max(len(c), 10) + 2 for c in report.sites]
    lines = [
        "rows: whose rules; columns: whose types. Cell = proofs checked (1 entry, 2 no rule on the other "
        "types, 3 no shared channel, 4 web server, 5 needs, 6 file contexts, 7 network, 8 web server deputy, "
        "9 domains of the module, 10 mail)",
        "",
        "".ljust(first) + "".join(c.ljust(w) for c, w in zip(report.sites, widths)),
    ]
    for row in rows:
        lines.append(row.ljust(first) + "".join(report.verdict(row, c).ljust(w) for c, w in zip(report.sites, widths)))
    return lines


def _summary_lines(report: Report) -> list[str]:
    columns = ("own (1,2,5-10)", "on the others (2,3)", "the others on it (2,3)", f"{WEB_SERVER} (4)")
    first = max(len(s) for s in report.sites) + 2
    widths = [max(len(c), 14) + 2 for c in columns]
    lines = [
        f"{len(report.sites)} sites: one row per site instead of the {len(report.sites)} x {len(report.sites)} "
        "matrix (--json has every cell). Proofs: 1 entry, 2 no rule on the other types, 3 no shared channel, "
        "4 web server, 5 needs, 6 file contexts, 7 network, 8 web server deputy, 9 domains of the module, "
        "10 mail; "
        "site pairs as checked pairs, failed ones counted",
        "",
        "".ljust(first) + "".join(c.ljust(w) for c, w in zip(columns, widths)),
    ]
    for site in report.sites:
        cells = (
            report.verdict(site, site),
            _pairs(report, site, outgoing=True),
            _pairs(report, site, outgoing=False),
            report.verdict(WEB_SERVER_ROW, site),
        )
        lines.append(site.ljust(first) + "".join(c.ljust(w) for c, w in zip(cells, widths)))
    return lines


def trial_sites(report: Report) -> list[str]:
    """Sites proven as a trial run (mode: permissive): not isolated, and publish refuses them by default."""
    return sorted({f.subject for f in report.findings if f.ok and f.what == TRIAL})


def render_text(report: Report, relinked: bool = True) -> str:
    lines = [
        f"verify: {len(report.sites)} site(s) linked into the {report.store} base policy "
        + (
            f"in {report.link_seconds:.1f} s, proven in {report.prove_seconds:.1f} s"
            if relinked
            else "(unchanged modules: cached result, not relinked)"
        ),
        *(_matrix_lines(report) if len(report.sites) <= MATRIX_MAX_SITES else _summary_lines(report)),
        "",
    ]
    for site in trial_sites(report):
        lines.append(
            f"verify: {site} is NOT isolated: trial/permissive (mode: permissive): SELinux logs what it would deny "
            "and denies nothing; publish refuses it without --allow-permissive"
        )
    if report.ok:
        lines.append(f"verify: all {len(report.findings)} checks passed")
        return "\n".join(line.rstrip() for line in lines)
    lines.append(f"verify: {len(report.failures)} of {len(report.findings)} checks FAILED")
    for f in report.failures:
        lines.append(f"[proof {int(f.proof)}: {f.proof.title}] {f.subject} -> {f.obj}: {f.what}")
        lines += [f"    {rule}" for rule in f.rules]
    return "\n".join(line.rstrip() for line in lines)
