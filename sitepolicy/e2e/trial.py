"""Scenario 8 (issue 16), host side: a third site in trial mode, turned into a definition by `invoke audit`.

Boot 1 installs trial.rskeens.com with `mode: permissive` and a definition missing what its application
needs; the application runs, SELinux logs its needs (permissive=1) and denies nothing. Between the boots,
here on the host: audit --apply on boot 1's audit.log, the admin's step (drop `mode: permissive`), a
rebuild. Boot 2 upgrades the site to that release and runs the application enforcing: no denial at all.

Two applications (payload/trial.py runs the one the plan names): with the app image (`invoke e2e --app`),
MediaWiki + MariaDB (issue 14's application: install over the database socket, login, edit, upload), its
definition lacking uploads/ and the database socket; without it, a small application (a page written into
cache/, a Redis connect), so the default run stays cheap.
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
# SELinux logs a permissive domain's denial once per policy load (the AVC cache then grants it): a second
# read-only directory the application writes shows no record (same types, class, permission). So the
# MediaWiki trial lacks one directory (uploads/, with its subdirectories the application makes) and keeps
# cache/; README "Onboarding a site" says to repeat the trial until the log is clean.
MEDIAWIKI_DEFINITION = """\
# e2e scenario 8 with the app image: MediaWiki onboarded in trial mode; it also needs uploads/ writable and MariaDB's
# socket (network: database).
site: trial.rskeens.com
docroot: /srv/www/trial.rskeens.com
user: trial_rskeens
writable:
  - cache
mode: permissive
"""


@dataclass(frozen=True)
class Application:
    """What the trial site runs: its starting definition and exactly what audit must add to it."""

    name: str  # "small" or "mediawiki": payload/trial.py runs that application
    definition: str
    expected: frozenset[tuple[str, str]]

    def describe_expected(self) -> str:
        return " and ".join(f"{f} {v}" for f, v in sorted(self.expected, key=lambda n: (n[0] != "writable", n)))


SMALL_APP = Application("small", TRIAL_DEFINITION, frozenset({("writable", "cache"), ("network", "redis")}))
MEDIAWIKI_APP = Application(
    "mediawiki", MEDIAWIKI_DEFINITION, frozenset({("writable", "uploads"), ("network", "database")})
)


def application(app_image: bool) -> Application:
    """MediaWiki when the run has the app image (invoke e2e --app), else the small application."""
    return MEDIAWIKI_APP if app_image else SMALL_APP


@dataclass(frozen=True)
class Trial:
    project: Project
    headers: str | None
    application: Application = SMALL_APP

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


def prepare(root: Path, work: Path, target_name: str | None, headers: str | None, app_image: bool = False) -> Trial:
    """A project of its own beside the run (the examples' definitions plus the trial site's), so sites.d/ and
    build/ of the checkout stay as they are."""
    chosen = application(app_image)
    shutil.rmtree(work, ignore_errors=True)
    (work / "sites.d").mkdir(parents=True)
    for definition in sorted((root / "sites.d").glob("*.yaml")):
        shutil.copyfile(definition, work / "sites.d" / definition.name)
    (work / "sites.d" / f"{TRIAL_SITE}.yaml").write_text(chosen.definition)
    return Trial(Project(work, target_name), headers, chosen)


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
        changes == trial.application.expected
        and Verdict.VIOLATION.value not in verdicts
        and permissive_records > 0
        and not enforcing.permissive
    )
    return {
        "scenario": "8",
        "name": f"between the boots: invoke audit --apply on boot 1's audit.log gives {TRIAL_SITE} exactly "
        f"{trial.application.describe_expected()}, no violation; the site is then set enforcing",
        "ok": ok,
        "start": 0.0,
        "end": 0.0,  # decided on the host: no guest record falls in this window
        "evidence": {
            "records": permissive_records,
            "application": trial.application.name,
            "verdicts": verdicts,
            "changes": sorted(f"{f}: + {v}" for f, v in changes),
            "findings": [f.as_dict() for f in result.findings],
            "definition after": definition.read_text(),
        },
    }
