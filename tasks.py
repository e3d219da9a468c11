"""invoke tasks: thin wiring from the command line to the sitepolicy library."""

from __future__ import annotations

import sys
from pathlib import Path

from invoke import Collection, Exit, task

from sitepolicy import workflow
from sitepolicy.cli import OptionalSite, exit_for
from sitepolicy.errors import SitepolicyError

ROOT = Path(__file__).resolve().parent


@task(
    klass=OptionalSite,
    positional=["site"],
    name="build-site",
    help={
        "site": "site name (sites.d/<site>.yaml)",
        "all": "build every definition in sites.d/",
        "target": "target profile (default: this host's OS): el8, el9, el10, fedora, debian12",
        "headers": "policy devel tree of the target, when it is not this host's",
        "release": "RPM release number",
    },
)
def build_site(c, site=None, all=False, target="", headers="", release="1"):  # noqa: A002
    """Build a site's -selinux and -php-fpm RPMs and its SRPM under build/; prints their paths last."""
    try:
        paths = workflow.build(ROOT, [site] if site else [], all, target or None, headers or None, release)
        verified = workflow.verify_after_build(ROOT, target or None, headers or None)
    except SitepolicyError as exc:
        raise exit_for(exc) from None
    # on stderr: stdout is the built paths, one per line
    if verified is not None:
        print(workflow.verify_text(verified), file=sys.stderr)
    else:
        print("verify: skipped, this host cannot link modules built for that target", file=sys.stderr)
    for path in paths:
        print(path)
    if verified is not None:
        try:
            workflow.check_verified(verified)
        except SitepolicyError as exc:
            raise exit_for(exc) from None


@task(
    klass=OptionalSite,
    positional=["site"],
    help={
        "site": "report only this site (every site in sites.d/ is linked and proven together)",
        "json": "print the result as JSON",
        "target": "target profile; verify links against this host's own policy store",
    },
)
def verify(c, site=None, json=False, target=""):
    """Prove each site isolated from the linked policy (builds what is missing); non-zero exit on any failure."""
    try:
        result = workflow.verify(ROOT, [site] if site else [], target or None)
        print(workflow.verify_text(result, as_json=json))
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


ns = Collection(build_site, list_sites, new_site, verify, e2e)
