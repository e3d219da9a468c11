"""Turn the guest's observations and audit.log into a per-scenario verdict with evidence."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .avc import Avc, AvcExpectation, Mark, between, in_window

SCENARIOS = {
    "1": "install both sites with rpm -i: confined, active, serving",
    "2": "legitimate work with zero denials",
    "3": "cross-site access denied by SELinux, with the AVC",
    "4": "the web server cannot read sessions nor write the docroot",
    "5": "upgrade keeps the module and labels; erase removes it, the other site unaffected",
    "6": "after a reboot both sites come back confined",
    "7": "no back door: symlinks through nginx, egress without network, pool configurations (issue 12)",
    "8": "trial mode: a permissive site's needs, written by invoke audit --apply between the boots, "
    "run enforcing with zero denials (issue 16)",
    "php-fpm": "a php-fpm RPM upgrade restarts every site pool once: confined, serving (issue 15)",
    "app": "a real application: MediaWiki + MariaDB through nginx, login, edit, upload served, mail (issue 14)",
}


@dataclass(frozen=True)
class CheckResult:
    scenario: str
    name: str
    passed: bool
    reason: str
    evidence: dict[str, Any]
    expected_avc: str | None
    matching_avc: str | None
    avcs_in_window: tuple[str, ...]
    seconds: float


@dataclass(frozen=True)
class Report:
    checks: tuple[CheckResult, ...]
    unexpected_denials: tuple[str, ...]
    timings: dict[str, float] = field(default_factory=dict)
    # What the run ran on: accelerator and why, policy loaded, permissive domains, ...
    facts: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks) and not self.unexpected_denials and bool(self.checks)

    def scenario_passed(self, scenario: str) -> bool:
        mine = [c for c in self.checks if c.scenario == scenario]
        return bool(mine) and all(c.passed for c in mine)

    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    def to_json(self) -> str:
        return json.dumps(
            {
                "passed": self.passed,
                "scenarios": {s: self.scenario_passed(s) for s in SCENARIOS},
                "unexpected_denials": list(self.unexpected_denials),
                "timings": self.timings,
                "facts": self.facts,
                "checks": [c.__dict__ for c in self.checks],
            },
            indent=1,
            default=str,
        )

    def to_text(self, verbose: bool = False) -> str:
        lines = [f"{k}: {v}" for k, v in self.facts.items()]
        for scenario, title in SCENARIOS.items():
            mine = [c for c in self.checks if c.scenario == scenario]
            if not mine:  # an optional scenario this run did not include (see run_e2e)
                lines.append(f"--    scenario {scenario}: {title} (not part of this run)")
                continue
            verdict = "PASS" if self.scenario_passed(scenario) else "FAIL"
            lines.append(f"{verdict}  scenario {scenario}: {title}")
            for c in mine:
                lines.append(f"    {'ok  ' if c.passed else 'FAIL'} {c.name}  ({c.seconds:.1f} s)")
                lines.extend(f"         {line}" for line in _summary(c))
                if not c.passed or verbose:
                    lines.append(f"         {c.reason}")
                    lines.extend(f"         {line}" for line in _evidence_lines(c))
        lines.append(f"denials outside the expected ones: {len(self.unexpected_denials)}")
        lines.extend(f"    {d}" for d in self.unexpected_denials)
        if self.timings:
            lines.append("phases:")
            width = max(len(k) for k in self.timings)
            lines.extend(f"    {k:<{width}}  {v:7.1f} s" for k, v in self.timings.items())
        lines.append("RESULT: " + ("PASS" if self.passed else "FAIL"))
        return "\n".join(lines)


def _http_line(ev: dict[str, Any]) -> str:
    body = " ".join(str(ev.get("body", "")).split())
    return f"HTTP {ev.get('status')} {ev.get('method', 'GET')} {ev.get('url', '')}: {body[:160]}"


def _summary(c: CheckResult) -> list[str]:
    """The one or two lines of evidence that show why a check holds: AVC, HTTP, contexts."""
    ev = c.evidence
    out = []
    if c.matching_avc:
        out.append("AVC: " + c.matching_avc[c.matching_avc.find("avc:") :])
    for key in ("probe", "request"):
        if isinstance(ev.get(key), dict):
            out.append(_http_line(ev[key]))
    if "status" in ev and "url" in ev:
        out.append(_http_line(ev))
    if isinstance(ev.get("processes"), list):
        contexts = sorted({p["context"] for p in ev["processes"]})
        out.append(f"{len(ev['processes'])} processes in {', '.join(contexts) or 'nothing'}")
    if isinstance(ev.get("labels"), dict):
        out.append("labels: " + ", ".join(f"{k} {v}" for k, v in ev["labels"].items()))
    return out


def _evidence_lines(c: CheckResult) -> list[str]:
    out = []
    if c.expected_avc:
        out.append(f"expected AVC: {c.expected_avc}")
        out.append(f"matching AVC: {c.matching_avc or 'none'}")
    for avc in c.avcs_in_window:
        if avc != c.matching_avc:
            out.append(f"AVC in window: {avc}")
    out.append("evidence: " + json.dumps(c.evidence, default=str)[:1200])
    return out


def evaluate(
    observations: list[dict[str, Any]],
    avcs: list[Avc],
    timings: dict[str, float],
    marks: dict[tuple[str, str, int], Mark] | None = None,
    facts: dict[str, str] | None = None,
    trial_domains: tuple[str, ...] = (),
) -> Report:
    """Decide every check: the guest's observation must hold, and the audit log must agree.

    An attack passes only with the exact expected AVC inside its time window; any other denial
    anywhere in the run (outside attack windows) is reported as unexpected and fails the run.
    """
    # A site in trial mode (mode: permissive) logs what it would be denied: those records are expected.
    denials = [a for a in avcs if a.denied and not (a.permissive and a.source_type in trial_domains)]
    marks = marks or {}
    in_attacks: set[Avc] = set()
    attack_windows: list[tuple[float, float]] = []
    results = []
    for obs in observations:
        first = marks.get((obs.get("boot_id", ""), "begin", obs.get("begin_mark") or -1))
        last = marks.get((obs.get("boot_id", ""), "end", obs.get("end_mark") or -1))
        if first and last:
            # Exact: the records between the audit markers written around the check.
            window = between(denials, first, last)
        else:
            # Recorded data without markers: by time (the audit clock is coarse, see in_window).
            window = in_window(denials, obs["start"], obs["end"])
        lines = tuple(a.line for a in window)
        expected = AvcExpectation(*obs["expect_avc"]) if obs.get("expect_avc") else None
        matching: Avc | None = None
        if obs.get("attack"):
            if first and last:
                in_attacks.update(window)
            else:
                attack_windows.append((obs["start"], obs["end"]))
        if expected is not None:
            matching = next((a for a in window if expected.matches(a)), None)
            passed = bool(obs["ok"]) and matching is not None
            reason = (
                "denied, with the expected AVC"
                if passed
                else ("the attempt was not denied" if not obs["ok"] else f"no AVC {expected} in the window")
            )
        else:
            passed = bool(obs["ok"]) and not window
            reason = "as expected, no denial" if passed else ("observation failed" if not obs["ok"] else "denials")
        results.append(
            CheckResult(
                scenario=str(obs["scenario"]),
                name=obs["name"],
                passed=passed,
                reason=reason,
                evidence=obs.get("evidence", {}),
                expected_avc=str(expected) if expected else None,
                matching_avc=matching.line if matching else None,
                avcs_in_window=lines,
                seconds=obs["end"] - obs["start"],
            )
        )
    unexpected = tuple(
        a.line
        for a in denials
        if a not in in_attacks and not any(in_window([a], start, end) for start, end in attack_windows)
    )
    return Report(checks=tuple(results), unexpected_denials=unexpected, timings=timings, facts=dict(facts or {}))
