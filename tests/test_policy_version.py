"""The version floor: every -selinux package requires the selinux-policy it was compiled against.

V is --policy-version, else this host's installed policy (rpm -q, or dpkg-query on Debian), else the
VERSION file beside a --headers devel tree; BUILDINFO records V and where it came from.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import TARGET_NAMES, shared_target
from rpmroot import RpmRoot, build_host_package

from sitepolicy.errors import TargetError
from sitepolicy.inspect import read_package, read_payload_file
from sitepolicy.package.build import build_site
from sitepolicy.package.headers import resolve_headers
from sitepolicy.package.policy_version import resolve_policy_version
from sitepolicy.targets import HOST_DEVEL_DIR, get_target


def _devel_tree(directory: Path) -> Path:
    (directory / "include").mkdir(parents=True)
    (directory / "Makefile").write_text("# not a real devel tree\n")
    return directory


def test_explicit_version_wins_and_is_checked(tmp_path):
    devel = _devel_tree(tmp_path / "t" / "devel")
    (tmp_path / "t" / "VERSION").write_text("38.1.46\n")
    assert resolve_policy_version("targeted", devel, False, "40.13.11").value == "40.13.11"
    for bad in ("38.1.46-6.el9", "x", "38..1", "1.2.3.4.5", "38.1.46\n;id"):
        with pytest.raises(TargetError, match="--policy-version"):
            resolve_policy_version("targeted", devel, False, bad)


def test_the_version_file_beside_a_devel_tree(tmp_path):
    devel = _devel_tree(tmp_path / "el9" / "devel")
    (tmp_path / "el9" / "VERSION").write_text("38.1.46\n")
    found = resolve_policy_version("targeted", devel, False, None)
    assert (found.value, found.source) == ("38.1.46", str(tmp_path / "el9" / "VERSION"))


def test_no_version_anywhere_is_an_error_that_names_the_option(tmp_path):
    devel = _devel_tree(tmp_path / "anon" / "devel")
    with pytest.raises(TargetError, match=r"pass --policy-version V .*selinux-policy-targeted >= V"):
        resolve_policy_version("targeted", devel, False, None)


def test_this_hosts_installed_policy(target):
    """rpm -q selinux-policy where rpm knows it, else Debian's package version (upstream part)."""
    rpm = subprocess.run(["rpm", "-q", "--qf", "%{VERSION}", "selinux-policy"], capture_output=True, text=True)
    dpkg = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", f"selinux-policy-{target.store}"], capture_output=True, text=True
    )
    if rpm.returncode == 0:
        expected = rpm.stdout.strip()
    elif dpkg.returncode == 0:
        expected = dpkg.stdout.strip().split(":", 1)[-1].rsplit("-", 1)[0]  # 2:2.20221101-9 -> 2.20221101
    else:
        pytest.skip("neither rpm nor dpkg knows this host's selinux-policy")
    assert resolve_policy_version(target.store, HOST_DEVEL_DIR, True, None).value == expected


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_every_target_requires_its_policy_version(name, example_sites, tmp_path):
    """Built with ../shared/targets/<t>/devel: the floor is that tree's VERSION, in Requires and BUILDINFO."""
    shared = shared_target(name)
    version = (shared / "VERSION").read_text().strip()
    target = get_target(name)
    site = next(s for s in example_sites if s.name == "selinux.rskeens.com")
    built = build_site(site, target, resolve_headers(target, shared / "devel"), tmp_path)
    sel = next(p for p in built.rpms if p.name.startswith(site.names.selinux_package + "-1"))
    info = read_package(sel)
    assert info.requires.count(f"selinux-policy-targeted >= {version}") == 2  # Requires and Requires(post)
    buildinfo = read_payload_file(sel, f"/usr/share/doc/{site.names.selinux_package}-1.0/BUILDINFO").decode()
    assert f"\npolicy_version={version}\n" in buildinfo
    assert f"\npolicy_version_from={(shared / 'VERSION').resolve()}\n" in buildinfo


def test_a_host_with_an_older_policy_refuses_the_package(tmp_path, target, example_builds, example_runtime, headers):
    """rpm itself enforces the floor: a host whose policy is older than V cannot install the module."""
    build = example_builds["selinux.rskeens.com"]
    sel = next(p for p in build.rpms if p.name.startswith(build.site.names.selinux_package + "-1"))
    for policy, ok in (("1.0", False), (headers.policy_version.value, True)):
        root = RpmRoot(tmp_path / f"root-{policy}", target.store)
        assert root.rpm("-i", build_host_package(tmp_path / f"host-{policy}", target, policy)).returncode == 0
        result = root.rpm("-U", example_runtime.rpms[0], sel)
        floor = f"selinux-policy-{target.store} >= {headers.policy_version.value} is needed"
        assert (result.returncode == 0) == ok and (floor in result.stderr) != ok, result.stderr
