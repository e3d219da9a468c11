"""invoke tasks: thin wiring from the command line to the sitepolicy library."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from invoke import Collection, Exit, task

from sitepolicy import workflow
from sitepolicy.cli import OptionalSite, exit_for
from sitepolicy.errors import SitepolicyError

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
    },
)
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
    policy_version="",
    dist="",
    policy_root="",
    no_verify=False,
):
    """Build what changed, verify, and release: RPMs reach build/<target>/rpms only when verify passed."""
    names = [site] if site else []
    try:
        if mock:
            built = workflow.build_mock(
                ROOT, names, all, mock, target or None, release, chain, _progress, policy_root=policy_root or None,
                no_verify=no_verify,
            )  # fmt: skip
        elif chain:
            raise SitepolicyError("--chain needs --mock CONFIG")
        else:
            built = workflow.build(
                ROOT,
                names,
                all,
                target or None,
                headers or None,
                release,
                jobs=jobs or os.cpu_count() or 1,
                force=force,
                report=_progress,
                policy_version=policy_version or None,
                dist=dist or None,
                policy_root=policy_root or None,
                no_verify=no_verify,
            )
    except SitepolicyError as exc:
        raise exit_for(exc) from None
    # on stderr: stdout is the released paths, one per line
    if built.verified is None:
        print("verify: skipped (--no-verify): the packages are in rpms/, recorded as not verified", file=sys.stderr)
        for path in built.paths:
            print(path)
        return
    print(workflow.verify_text(built.verified, source=built.source), file=sys.stderr)
    try:
        workflow.check_verified(built.verified, workflow.unverified_dir(ROOT, target or None))
    except SitepolicyError as exc:
        raise exit_for(exc) from None
    for path in built.paths:
        print(path)


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
def verify(c, site=None, json=False, target="", headers="", policy_root="", policy_version="", dist=""):
    """Prove each site isolated from the linked policy (builds what is missing); non-zero exit on any failure.
    A pass releases packages waiting in build/<target>/unverified/ into rpms/."""
    try:
        result, source = workflow.verify(
            ROOT,
            [site] if site else [],
            target or None,
            headers=headers or None,
            policy_root=policy_root or None,
            policy_version=policy_version or None,
            dist=dist or None,
        )
        print(workflow.verify_text(result, as_json=json, source=source))
        workflow.check_verified(result)
    except SitepolicyError as exc:
        raise exit_for(exc) from None


@task(name="list-sites")
def list_sites(c):
    """Show every definition in sites.d/ and what each will produce."""
    try:
        print(workflow.describe_sites(ROOT))
    except SitepolicyError as exc:
        raise exit_for(exc) from None


@task(name="new-site", help={"name": "the site's DNS name"})
def new_site(c, name):
    """Write a commented starter definition sites.d/<name>.yaml."""
    try:
        print(workflow.new_site(ROOT, name))
    except SitepolicyError as exc:
        raise exit_for(exc) from None


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
        "allow_unverified": "publish packages without a passing verify record (built with --no-verify)",
    },
)
def publish(
    c, repo="", sign="", base_url="", keep=3, force=False, target="", with_srpms=False, rpm=None, allow_unverified=False
):
    """Sign and publish the built RPMs into a yum repository, with metadata, key and a .repo file."""
    try:
        result = workflow.publish(
            ROOT,
            repo,
            target or None,
            sign or None,
            base_url or None,
            int(keep),
            force,
            with_srpms,
            rpm or [],
            allow_unverified,
        )
    except SitepolicyError as exc:
        raise exit_for(exc) from None
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
def submit(c, copr="", chroot=None, koji="", site=None, target="", release="1", dry_run=False):
    """Build the SRPMs here and submit them to Copr or Koji."""
    try:
        plan = workflow.plan_submission(
            ROOT, site or [], copr or None, chroot or [], koji or None, target or None, release
        )
        if dry_run:
            for line in plan.shell():
                print(line)
            return
        workflow.run_submission(plan, _progress)
    except SitepolicyError as exc:
        raise exit_for(exc) from None
    for line in plan.shell():
        print(line)


@task(
    help={
        "keep": "leave the guest's logs, audit.log and report under build/e2e/last-run/",
        "accel": "kvm or tcg (default: kvm when a probe shows it works, else tcg)",
        "mirror": "Debian mirror for the guest image (default: the host's apt source for bookworm)",
        "verbose": "print the evidence of passing checks too",
    }
)
def e2e(c, keep=False, accel="", mirror="", verbose=False):
    """Boot an enforcing SELinux guest, install both example sites' RPMs, prove what works and what is denied."""
    from sitepolicy.e2e.guest import Accel
    from sitepolicy.e2e.harness import run_e2e

    try:
        run = run_e2e(ROOT, keep=keep, accel=Accel(accel) if accel else None, mirror=mirror or None)
    except (SitepolicyError, ValueError) as exc:
        raise exit_for(exc if isinstance(exc, SitepolicyError) else SitepolicyError(str(exc))) from None
    print(run.report.to_text(verbose=verbose))
    print(f"guest: {run.machine.accel.value}, image {run.image.key}; report: {run.work_dir}")
    if not run.report.passed:
        raise Exit("sitepolicy: e2e failed", code=1)


ns = Collection(build_site, list_sites, new_site, verify, publish, submit, e2e)
