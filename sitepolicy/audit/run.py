"""invoke audit on a Project: read the records, classify them, group them, and (--apply) change definitions."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import SitepolicyError
from ..package.headers import resolve_headers
from ..project import Project
from ..tools import call
from .change import Change, apply_changes, check_changes, outermost, plan_change
from .classify import Classified, Classifier, Need, Verdict
from .interfaces import InterfaceIndex, interface_index
from .owners import Owners
from .records import Avc, parse_records, parse_since
from .report import Finding, group

HOST_AUDIT_LOG = Path("/var/log/audit/audit.log")


class ViolationsFound(SitepolicyError):
    """The records hold at least one violation (exit status 4: for monitoring)."""

    exit_code = 4


@dataclass(frozen=True)
class AuditResult:
    findings: list[Finding]
    records: int  # AVC records of sitepolicy types read
    described: str
    changes: list[Change]
    written: list[Path]

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict == Verdict.VIOLATION]


def read_log(file: str | None) -> tuple[str, str]:
    """The text to read and what it is: ``file`` ("-": none here), else this host's own log: ausearch --raw
    (auditd), else /var/log/audit/audit.log, else the kernel log (journalctl -k)."""
    if file:
        path = Path(file)
        try:
            return path.read_text(errors="replace"), str(path)
        except OSError as exc:
            raise SitepolicyError(f"--file {file}: cannot read it ({exc.strerror})") from None
    if shutil.which("ausearch"):
        done = call(["ausearch", "--raw", "-m", "AVC"])
        if done.returncode in (0, 1):  # 1: no matches
            return done.stdout, "this host's audit log (ausearch --raw -m AVC)"
    if HOST_AUDIT_LOG.is_file():
        return HOST_AUDIT_LOG.read_text(errors="replace"), str(HOST_AUDIT_LOG)
    if shutil.which("journalctl"):
        done = call(["journalctl", "-k", "-o", "cat", "--no-pager"])
        if done.returncode == 0:
            return done.stdout, "this host's kernel log (journalctl -k)"
    raise SitepolicyError(
        "no audit log here: give --file audit.log (or `ausearch --raw -m AVC` output); this host has no ausearch, "
        f"no {HOST_AUDIT_LOG} and no journal"
    )


def _interfaces(project: Project, headers: str | None) -> InterfaceIndex | None:
    try:
        found = resolve_headers(project.target, Path(headers) if headers else None)
    except SitepolicyError:
        return None
    return interface_index(found.directory)


def _fold_companions(classified: list[tuple[Avc, Classified]]) -> list[tuple[Avc, Classified]]:
    """A trial run (permissive=1) logs every step of a connect: the socket, resolv.conf, DNS, then the
    name_connect. Those steps go with the site's network suggestion; without one they stay violations.
    A record without permissive= (older kernels) folds too: enforced, the socket's denial would have
    stopped the connect the suggestion comes from."""
    network: dict[str, Need] = {}
    for _, c in classified:
        if c.verdict == Verdict.SUGGESTION and c.need is not None and c.need.field == "network":
            network.setdefault(c.site, c.need)
    out = []
    for avc, c in classified:
        need = network.get(c.site)
        if c.companion and avc.permissive is not False and need is not None:
            c = Classified(c.site, Verdict.SUGGESTION, f"{c.reason.split(':')[0]}: a step of the connect {need}", need)
        out.append((avc, c))
    return out


def audit(
    project: Project, site: str | None, file: str | None, since: str | None, headers: str | None = None
) -> AuditResult:
    text, described = read_log(file)
    records = [a for a in parse_records(text) if a.denied]
    if since:
        oldest = parse_since(since)
        records = [a for a in records if a.timestamp >= oldest]
    if site:
        project.select([site])  # a definition of that name, or a clear refusal
    classify = Classifier(Owners(project.sites), _interfaces(project, headers), records)
    classified = [(a, c) for a in records for c in [classify(a)] if c is not None]
    classified = _fold_companions(classified)
    if site:
        classified = [(a, c) for a, c in classified if c.site == site]
    needs_by_site: dict[str, list[Need]] = {}
    for _, c in classified:
        if c.need is not None:
            needs_by_site.setdefault(c.site, []).append(c.need)
    by_name = {s.name: s for s in project.sites}
    changes = []
    texts: dict[object, str] = {}
    for name, needs in needs_by_site.items():
        cover = outermost(by_name[name], needs)
        change = plan_change(by_name[name], list(cover.values()))
        if change is not None:
            changes.append(change)
            for need in dict.fromkeys(needs):
                single = plan_change(by_name[name], [cover[need]])
                texts[need] = single.diff() if single is not None else str(cover[need])
    check_changes(changes, project.sites)
    findings = group(classified, texts)
    return AuditResult(findings, len(classified), described, changes, [])


def apply(result: AuditResult) -> AuditResult:
    """Write the validated changes (each file replaced in one rename)."""
    written = apply_changes(result.changes)
    return AuditResult(result.findings, result.records, result.described, result.changes, written)


def check_clean(result: AuditResult) -> None:
    if result.violations:
        count = sum(f.count for f in result.violations)
        raise ViolationsFound(f"audit: {count} record(s) in {len(result.violations)} violation(s) (see above)")


def describe_changes(changes: Sequence[Change]) -> list[str]:
    return [c.diff() for c in changes]
