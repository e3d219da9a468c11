"""Scenario 8 (issue 16), host side: a third site in trial mode, turned into a definition by `invoke audit`.

Boot 1 installs trial.rskeens.com with `mode: permissive` and a definition missing what its application
needs (a writable cache/, Redis on 127.0.0.1:6379); the application runs, SELinux logs its needs
(permissive=1) and denies nothing. Between the boots, here on the host: audit --apply on boot 1's
audit.log, the admin's step (drop `mode: permissive`), a rebuild. Boot 2 upgrades the site to that
release and runs the application enforcing: no denial at all.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..audit.classify import Verdict
from ..audit.run import apply, audit
from ..definition.names import RUNTIME_PACKAGE
from ..definition.site import Site
from ..errors import E2EError
from ..package.run import build as build_packages
from ..project import Project

TRIAL_SITE = "trial.rskeens.com"
TRIAL_DEFINITION = """\
# e2e scenario 8: a new site onboarded in trial mode; its application also needs a writable cache/ and Redis.
site: trial.rskeens.com
docroot: /srv/www/trial.rskeens.com
user: trial_rskeens
writable:
  - uploads
mode: permissive
"""
EXPECTED_CHANGES = {("writable", "cache"), ("network", "redis")}


@dataclass(frozen=True)
class Trial:
    project: Project
    headers: str | None

    @property
    def site(self) -> Site:
        return next(s for s in Project(self.project.root, self.project.target_name).sites if s.name == TRIAL_SITE)

    def build(self, release: str, dest: Path) -> list[Path]:
        """The trial site's two packages at ``release``, copied into ``dest``."""
        project = Project(self.project.root, self.project.target_name)
        records = build_packages(project, [TRIAL_SITE], False, self.headers, release)
        dest.mkdir(parents=True, exist_ok=True)
        rpms = [
            Path(shutil.copy2(p, dest / p.name))
            for r in records
            for p in r.rpms
            if p.name.endswith(".noarch.rpm") and not p.name.startswith(RUNTIME_PACKAGE + "-")
        ]
        if len(rpms) != 2:
            raise E2EError(f"the trial site's build gave unexpected packages: {[p.name for p in rpms]}")
        return rpms


def prepare(root: Path, work: Path, target_name: str | None, headers: str | None) -> Trial:
    """A project of its own beside the run (the examples' definitions plus the trial site's), so sites.d/ and
    build/ of the checkout stay as they are."""
    shutil.rmtree(work, ignore_errors=True)
    (work / "sites.d").mkdir(parents=True)
    for definition in sorted((root / "sites.d").glob("*.yaml")):
        shutil.copyfile(definition, work / "sites.d" / definition.name)
    (work / "sites.d" / f"{TRIAL_SITE}.yaml").write_text(TRIAL_DEFINITION)
    return Trial(Project(work, target_name), headers)


def between_boots(trial: Trial, audit_log: Path) -> dict[str, object]:
    """invoke audit --apply on boot 1's log, for the trial site; then the admin sets it enforcing. What audit
    found is returned as an observation of the run (a check of scenario 8, decided here)."""
    project = Project(trial.project.root, trial.project.target_name)
    result = apply(audit(project, TRIAL_SITE, str(audit_log), None))
    verdicts = sorted({f.verdict.value for f in result.findings})
    changes = {(n.field, n.value) for c in result.changes for n in c.needs}
    definition = project.sites_dir / f"{TRIAL_SITE}.yaml"
    text = definition.read_text()
    definition.write_text(re.sub(r"(?m)^mode: permissive\n", "", text))
    enforcing = Project(project.root, project.target_name).select([TRIAL_SITE])[0]
    permissive_records = sum(f.count for f in result.findings)
    ok = (
        changes == EXPECTED_CHANGES
        and Verdict.VIOLATION.value not in verdicts
        and permissive_records > 0
        and not enforcing.permissive
    )
    return {
        "scenario": "8",
        "name": f"between the boots: invoke audit --apply on boot 1's audit.log gives {TRIAL_SITE} exactly "
        "writable cache and network redis, no violation; the site is then set enforcing",
        "ok": ok,
        "start": 0.0,
        "end": 0.0,  # decided on the host: no guest record falls in this window
        "evidence": {
            "records": permissive_records,
            "verdicts": verdicts,
            "changes": sorted(f"{f}: + {v}" for f, v in changes),
            "findings": [f.as_dict() for f in result.findings],
            "definition after": definition.read_text(),
        },
    }
