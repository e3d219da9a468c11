"""invoke tasks: thin wiring from the command line to the sitepolicy library."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from invoke import Collection, Exit, task

from sitepolicy.cli import OptionalSite, boundary
from sitepolicy.definition.run import describe_sites
from sitepolicy.definition.run import new_site as write_starter
from sitepolicy.errors import SitepolicyError
from sitepolicy.package.run import build as build_packages
from sitepolicy.package.run import build_mock, mock_targets, plan_build, plan_mock
from sitepolicy.project import Project
from sitepolicy.publish.run import plan_submission, publish_plan, run_submission
from sitepolicy.publish.run import publish as publish_packages
from sitepolicy.verify.run import check_verified, current_outputs, verify_built, verify_source, verify_text
from sitepolicy.verify.run import verify as verify_sites

ROOT = Path(__file__).resolve().parent


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


POLICY_ROOT_HELP = (
    "a linked policy of the target to verify against (ROOT/etc/selinux, ROOT/var/lib/selinux/<store>; "
    "copied, never written); default: this host's own store when it runs the target's OS"
)


@task(
    klass=OptionalSite,
    positional=["site"],
    name="build-site",
    iterable=["mock"],
    help={
        "mock": "build the RPMs in mock with this config (e.g. alma+epel-9-x86_64); repeatable",
        "chain": "with --mock: one `mock --chain` for all sites instead of one mock call per site",
        "site": "site name (sites.d/<site>.yaml)",
        "all": "build every definition in sites.d/",
        "target": "target profile (default: this host's OS): el8, el9, el10, fedora, debian12",
        "headers": "policy devel tree of the target, when it is not this host's",
        "policy_root": POLICY_ROOT_HELP,
        "no_verify": "build packages that cannot be verified here (recorded in BUILDINFO and the build record; "
        "publish refuses them without --allow-unverified)",
        "policy_version": "selinux-policy version the -selinux package requires as a floor (default: this "
        "host's installed policy, or the VERSION file beside --headers)",
        "dist": "rpm dist tag (default: the target's, e.g. .el9; Fedora: this Fedora host's, else required: .fcNN)",
        "release": "RPM release for every package (default: automatic, from sites.d/releases.lock)",
        "jobs": "packages to build at once (default: one per CPU core)",
        "force": "rebuild even the packages whose inputs did not change",
        "dry_run": "print what would be built (package and release), build nothing",
    },
)
@boundary
def build_site(
    c,
    site=None,
    all=False,  # noqa: A002
    target="",
    headers="",
    release="",
    jobs=0,
    force=False,
    mock=None,
    chain=False,
    dry_run=False,
    policy_root="",
    no_verify=False,
    policy_version="",
    dist="",
):
    """Build what changed, verify, release: RPMs reach build/<target>/rpms only when verify passed."""
    names = [site] if site else []
    project = Project(ROOT, target or None, dist or None)
    if chain and not mock:
        raise SitepolicyError("--chain needs --mock CONFIG")
    if dry_run:
        plan = (
            plan_mock(project, names, all, mock, release)
            if mock
            else plan_build(
                project,
                names,
                all,
                headers or None,
                release,
                force,
                jobs or os.cpu_count() or 1,
                policy_version or None,
            )
        )
        print(plan.describe())
        return
    # each target built: refused before anything is built when it cannot be verified (and no --no-verify)
    projects = [project.with_target(t.name) for _, t in mock_targets(mock, target or None)] if mock else [project]
    sources = [verify_source(p, policy_root or None, no_verify, "build-site") for p in projects]
    chosen = project.choose(names, all)
    if mock:
        try:
            build_mock(project, names, all, mock, release, chain, _progress, headers=headers or None)
        except SitepolicyError:
            for built_for, source in zip(projects, sources):
                if source is None:  # --no-verify: what mock did build is released, as such
                    verify_built(built_for, None, chosen)
            raise
    else:
        build_packages(
            project,
            names,
            all,
            headers or None,
            release,
            jobs=jobs or os.cpu_count() or 1,
            force=force,
            report=_progress,
            policy_version=policy_version or None,
            no_verify=no_verify,
        )
    for built_for, source in zip(projects, sources):
        verified = verify_built(built_for, source, chosen)
        # on stderr: stdout is the released paths, one per line
        if verified is None:
            print("verify: skipped (--no-verify): the packages are in rpms/, recorded as not verified", file=sys.stderr)
        else:
            print(verify_text(verified, source=source), file=sys.stderr)
            check_verified(verified, built_for.layout.unverified)
    for built_for in projects:
        for path in current_outputs(built_for, chosen):
            print(path)
    project.check_definitions()  # refused definitions were skipped: exit 2, listing them


@task(
    klass=OptionalSite,
    positional=["site"],
    help={
        "site": "report only this site (every site in sites.d/ is linked and proven together)",
        "json": "print the result as JSON",
        "target": "target profile (default: this host's OS)",
        "headers": "policy devel tree of the target, to build sites whose packages are missing",
        "policy_root": POLICY_ROOT_HELP,
        "policy_version": "with --headers: the selinux-policy version floor of what it builds",
        "dist": "with --headers: the dist tag of what it builds",
    },
)
@boundary
def verify(c, site=None, json=False, target="", headers="", policy_root="", policy_version="", dist=""):
    """Prove each site isolated from the linked policy (builds what is missing); non-zero exit on any failure.
    A pass releases the packages waiting in build/<target>/unverified/ into rpms/."""
    project = Project(ROOT, target or None, dist or None)
    result, source = verify_sites(
        project, [site] if site else [], True, headers or None, policy_root or None, policy_version or None
    )
    print(verify_text(result, as_json=json, source=source))
    check_verified(result)


@task(name="list-sites")
@boundary
def list_sites(c):
    """Show every definition in sites.d/ and what each will produce."""
    project = Project(ROOT)
    print(describe_sites(project))
    project.check_definitions()


@task(name="new-site", help={"name": "the site's DNS name"})
@boundary
def new_site(c, name):
    """Write a commented starter definition sites.d/<name>.yaml."""
    print(write_starter(Project(ROOT), name))


@task(
    name="publish",
    iterable=["rpm"],
    help={
        "repo": "repository directory (one per target), created on first publish",
        "sign": "gpg key (id, fingerprint or user id) to sign every RPM and repodata/repomd.xml with",
        "base_url": "URL hosts reach the repository at, written into sites.repo (default: its file:// URL)",
        "keep": "versions of each package to keep; older ones are pruned (default 3)",
        "force": "publish a version older than the repository's, or replace a published one",
        "target": "target whose build/<target>/rpms to publish (default: the repository's, else this host's OS)",
        "with_srpms": "publish the source packages too (into SRPMS/)",
        "rpm": "publish this RPM instead of build/<target>/rpms (repeatable)",
        "dry_run": "print the packages that would be offered to the repository, change nothing",
        "allow_unverified": "publish packages without a passing verify record (built with --no-verify)",
        "allow_permissive": "publish a trial run too (mode: permissive: its domain denies nothing, NOT isolated)",
    },
)
@boundary
def publish(
    c,
    repo="",
    sign="",
    base_url="",
    keep=3,
    force=False,
    target="",
    with_srpms=False,
    rpm=None,
    dry_run=False,
    allow_unverified=False,
    allow_permissive=False,
):
    """Sign and publish the verified RPMs into a yum repository, with metadata, key and a .repo file."""
    project = Project(ROOT, target or None)
    if dry_run:
        plan = publish_plan(project, repo, sign or None, with_srpms, rpm or [], allow_unverified, allow_permissive)
        print(plan.describe())
        return
    result = publish_packages(
        project,
        repo,
        sign or None,
        base_url or None,
        int(keep),
        force,
        with_srpms,
        rpm or [],
        allow_unverified,
        allow_permissive,
    )
    for name in result.added:
        print(f"published {name}")
    for name in result.unchanged:
        print(f"unchanged {name} (already published)")
    for name in result.pruned:
        print(f"pruned    {name}")
    print(f"repository {result.repo} ({'signed' if result.signed else 'NOT signed'})")
    print(result.repo_file)


@task(
    name="submit",
    iterable=["site", "chroot"],
    help={
        "copr": "Copr project OWNER/PROJECT to build in (copr-cli build)",
        "chroot": "with --copr: the Copr chroot, e.g. epel-9-x86_64; repeatable",
        "koji": "Koji build target to build with (koji build TARGET SRPM)",
        "site": "submit this site only (repeatable; default: every definition in sites.d/)",
        "target": "target profile, when the chroot or Koji target name does not tell",
        "release": "RPM release number",
        "dry_run": "build the SRPMs and print the commands, run nothing",
    },
)
@boundary
def submit(c, copr="", chroot=None, koji="", site=None, target="", release="1", dry_run=False):
    """Build the SRPMs here and submit them to Copr or Koji."""
    plan = plan_submission(Project(ROOT, target or None), site or [], copr or None, chroot or [], koji or None, release)
    if dry_run:
        for line in plan.shell():
            print(line)
        return
    run_submission(plan, _progress)
    for line in plan.shell():
        print(line)


@task(
    help={
        "keep": "leave the guest's logs, audit.log and report under build/e2e/last-run/",
        "accel": "kvm or tcg (default: kvm when a probe shows it works, else tcg)",
        "mirror": "Debian mirror for the guest image (default: the host's apt source for bookworm)",
        "verbose": "print the evidence of passing checks too",
        "target": "boot this target's policy instead of Debian's (e.g. el9; needs --policy-root)",
        "policy_root": "a linked policy root of the target (ROOT/etc/selinux, ROOT/var/lib/selinux); only read",
        "headers": "the target's policy devel tree for the RPMs (default: ROOT/../devel)",
        "app": "also the real-application scenario (MediaWiki + MariaDB; a bigger guest image)",
        "trial": "also scenario 8 (trial mode, audit --apply) on a target's policy (it always runs on Debian's)",
    }
)
@boundary
def e2e(
    c, keep=False, accel="", mirror="", verbose=False, target="", policy_root="", headers="", app=False, trial=False
):
    """Boot an enforcing SELinux guest, install both example sites' RPMs, prove what works and what is denied."""
    from sitepolicy.e2e.accel import Accel
    from sitepolicy.e2e.harness import run_e2e
    from sitepolicy.e2e.policy import guest_policy

    try:
        policy = guest_policy(target or None, Path(policy_root) if policy_root else None,
                              Path(headers) if headers else None)  # fmt: skip
        run = run_e2e(
            ROOT,
            keep=keep,
            policy=policy,
            accel=Accel(accel) if accel else None,
            mirror=mirror or None,
            app=app,
            trial=True if trial else None,
        )
    except ValueError as exc:  # an --accel that is neither kvm nor tcg
        raise SitepolicyError(str(exc)) from None
    print(run.report.to_text(verbose=verbose))
    print(f"guest: {run.machine.describe()}, image {run.image.key}; report: {run.work_dir}")
    if not run.report.passed:
        raise Exit("sitepolicy: e2e failed", code=1)


@task(
    klass=OptionalSite,
    positional=["site"],
    help={
        "site": "report only this site (default: every site in sites.d/)",
        "file": "read this audit.log or `ausearch --raw -m AVC` output (default: this host's own audit log)",
        "since": "only records since TIME: epoch seconds, ISO 8601 (2026-11-30T12:00), or an age (30m, 2h, 1d)",
        "json": 'print {"findings": [{site, verdict, count, first, last, avc, suggestion}]}',
        "apply": "write the suggested definition changes into sites.d/ (validated first, each file atomically)",
        "target": "target profile whose policy headers name the interfaces of unsupported needs",
        "headers": "the target's policy devel tree (default: this host's, for this host's target)",
    },
)
@boundary
def audit(c, site=None, file="", since="", json=False, apply=False, target="", headers=""):
    """Classify AVC denials of the sites: violation, suggestion (a definition change), unsupported, noise.
    Exit status 4 when any violation is found."""
    from sitepolicy.audit import report as audit_report
    from sitepolicy.audit.run import apply as apply_changes
    from sitepolicy.audit.run import audit as run_audit
    from sitepolicy.audit.run import check_clean, describe_changes

    result = run_audit(Project(ROOT, target or None), site or None, file or None, since or None, headers or None)
    if apply:
        result = apply_changes(result)
    if json:
        print(audit_report.to_json(result.findings))
    else:
        print(audit_report.to_text(result.findings, result.records, result.described, describe_changes(result.changes)))
        for path in result.written:
            print(f"written: {path} (rebuild: invoke build-site {path.stem})")
    check_clean(result)


ns = Collection(build_site, list_sites, new_site, verify, publish, submit, e2e, audit)
