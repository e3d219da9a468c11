"""publish and submit on a Project: the build records of a target into its repository, or SRPMs to Copr/Koji."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..definition.allowlists import check_for_target
from ..errors import SitepolicyError
from ..package import gate
from ..package.mock_build import Progress, Runner, build_source_package, run_tool, staging
from ..package.run import check_release
from ..project import Project
from ..targets import get_target
from .repo import DEFAULT_KEEP, PublishResult, RepoState
from .repo import publish as publish_repository
from .signing import SigningKey, resolve_key
from .submit import (
    Submission,
    SubmitError,
    check_copr_project,
    check_koji_target,
    copr_submission,
    copr_target,
    koji_submission,
    koji_target,
)
from .submit import explain as explain_submit


@dataclass(frozen=True)
class PublishPlan:
    """What a publish would put into which repository (--dry-run prints it)."""

    repo: Path
    target: str
    candidates: tuple[Path, ...]
    key: SigningKey | None

    def describe(self) -> str:
        signed = f"signed with {self.key.fingerprint}" if self.key else "NOT signed"
        head = f"publish would offer {len(self.candidates)} packages to {self.repo} (target {self.target}, {signed}):"
        return "\n".join([head, *(f"  {p}" for p in self.candidates)])


def publish_plan(
    project: Project,
    repo: str,
    sign: str | None,
    with_srpms: bool = False,
    rpms: Sequence[str] = (),
    allow_unverified: bool = False,
    allow_permissive: bool = False,
) -> PublishPlan:
    """The candidates: the given RPMs, or what the target's build records released into rpms/ (and srpms/).
    Only packages whose exact bytes passed verify (package/gate.py), unless ``allow_unverified``."""
    if not repo:
        raise SitepolicyError("--repo DIR is required: the repository directory (one per target)")
    state = RepoState.load(Path(repo))
    # An existing repository knows its target; a new one is for --target (default: this host's OS).
    if not project.target_name and state is not None:
        project = project.with_target(state.target)
    target = project.target
    if rpms:
        candidates = [Path(p).resolve() for p in rpms]
    else:
        records = project.layout.records()
        layout = project.layout
        candidates = sorted(p for r in records for p in r.rpms if p.is_file() and p.parent == layout.rpms)
        if with_srpms:
            candidates += sorted(p for r in records for p in r.srpms if p.is_file() and p.parent == layout.srpms)
        if not candidates:
            raise SitepolicyError(
                f"nothing built for target {target.name} in {project.layout.rpms}: "
                f"run invoke build-site --all --target {target.name} first"
            )
    gate.check_publishable(project.layout.root, candidates, allow_unverified, allow_permissive)
    key = resolve_key(sign) if sign else None
    return PublishPlan(Path(repo).resolve(), target.name, tuple(candidates), key)


def publish(
    project: Project,
    repo: str,
    sign: str | None,
    base_url: str | None,
    keep: int = DEFAULT_KEEP,
    force: bool = False,
    with_srpms: bool = False,
    rpms: Sequence[str] = (),
    allow_unverified: bool = False,
    allow_permissive: bool = False,
) -> PublishResult:
    """Publish what build-site made for a target (or the given RPMs) into a repository of that target."""
    plan = publish_plan(project, repo, sign, with_srpms, rpms, allow_unverified, allow_permissive)
    return publish_repository(plan.repo, list(plan.candidates), plan.target, plan.key, base_url, keep, force)


def plan_submission(
    project: Project,
    names: Sequence[str],
    copr: str | None,
    chroots: Sequence[str],
    koji: str | None,
    release: str,
) -> Submission:
    """Build the SRPMs for the builder's target and the exact command lines that submit them."""
    if bool(copr) == bool(koji):
        raise SubmitError("choose one builder: --copr OWNER/PROJECT --chroot CHROOT, or --koji TARGET")
    check_release(release)
    if copr:
        check_copr_project(copr)
        if not chroots:
            raise SubmitError("--copr needs --chroot CHROOT (e.g. epel-9-x86_64): the build roots to build in")
        targets = {copr_target(c) for c in chroots}
        if len(targets) != 1:
            raise SubmitError(f"--chroot {', '.join(chroots)}: chroots of different targets; submit them one at a time")
        target = targets.pop()
    else:
        check_koji_target(koji or "")
        target = get_target(project.target_name) if project.target_name else koji_target(koji or "")
    project.check_definitions()  # a submission is all or nothing
    sites = project.choose(names, not names)
    check_for_target(sites, target.name)
    out = project.build_dir / target.name / "submit"
    out.mkdir(parents=True, exist_ok=True)
    stage = staging(project.build_dir, f"submit-{target.name}")
    try:
        srpms = []
        for site in sites:
            built = build_source_package(site, target, stage, release).srpm
            srpms.append(Path(shutil.move(str(built), str(out / built.name))))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    if copr:
        return copr_submission(copr, list(chroots), srpms, target)
    return koji_submission(koji or "", srpms, target)


def run_submission(submission: Submission, progress: Progress, runner: Runner = run_tool) -> None:
    if shutil.which(submission.tool) is None and runner is run_tool:
        raise SubmitError(
            f"{submission.tool} is not installed here; run on a machine that has it (dnf install {submission.tool}):\n"
            + "\n".join(submission.shell())
        )
    for argv in submission.commands:
        progress(f"running: {' '.join(argv)}")
        proc = runner(list(argv))
        if proc.returncode != 0:
            raise explain_submit(submission.tool, proc.returncode, argv, proc.stdout or "")
