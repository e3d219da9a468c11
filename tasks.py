"""invoke tasks: thin wiring from the command line to the sitepolicy library."""

from __future__ import annotations

from pathlib import Path

from invoke import Collection, task

from sitepolicy import workflow
from sitepolicy.cli import SiteOrAll, exit_for
from sitepolicy.errors import SitepolicyError

ROOT = Path(__file__).resolve().parent


@task(
    klass=SiteOrAll,
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
    except SitepolicyError as exc:
        raise exit_for(exc) from None
    for path in paths:
        print(path)


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


ns = Collection(build_site, list_sites, new_site)
