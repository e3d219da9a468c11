"""The dist tag: --dist overrides; Fedora's carries the release (.fc41), from a Fedora host or --dist."""

from __future__ import annotations

import pytest
from conftest import shared_target

from sitepolicy.errors import TargetError
from sitepolicy.inspect import read_package
from sitepolicy.package.build import build_site
from sitepolicy.package.headers import resolve_headers
from sitepolicy.targets import get_target, with_dist

FEDORA = get_target("fedora")
EL9 = get_target("el9")


def _no_host_dist() -> str:
    raise AssertionError("the host's %{dist} is read only for a Fedora target on a Fedora host")


def test_a_profile_keeps_its_dist_unless_overridden():
    assert with_dist(EL9, None, "debian12", _no_host_dist).dist == ".el9"
    assert with_dist(EL9, ".el9_4", "debian12", _no_host_dist).dist == ".el9_4"
    assert with_dist(FEDORA, ".fc41", "debian12", _no_host_dist).dist == ".fc41"
    assert with_dist(FEDORA, ".fc42", "fedora", _no_host_dist).dist == ".fc42"  # --dist wins on Fedora too


@pytest.mark.parametrize("bad", ["el9", ".el9 ", ".EL9", ".fc", "..fc41", ".fc41;id", ".el9-1", ".el9\n"])
def test_a_malformed_dist_is_refused(bad):
    with pytest.raises(TargetError, match="--dist"):
        with_dist(EL9, bad, "debian12", _no_host_dist)


def test_fedora_takes_the_fedora_hosts_dist():
    assert with_dist(FEDORA, None, "fedora", lambda: ".fc41").dist == ".fc41"


@pytest.mark.parametrize("host", ["debian12", "el9", None])
def test_fedora_elsewhere_needs_dist_and_says_so(host):
    with pytest.raises(TargetError) as info:
        with_dist(FEDORA, None, host, _no_host_dist)
    message = str(info.value)
    assert "target fedora needs --dist .fcNN" in message and "sort below" in message


def test_fedora_dist_must_be_a_fedora_release():
    with pytest.raises(TargetError, match=r"Fedora's dist tag is \.fcNN"):
        with_dist(FEDORA, ".el9", "debian12", _no_host_dist)
    with pytest.raises(TargetError, match="needs --dist"):  # a Fedora host whose rpm says something odd
        with_dist(FEDORA, None, "fedora", lambda: ".fc")


def test_packages_carry_the_dist(example_sites, tmp_path):
    shared = shared_target("fedora")
    target = with_dist(FEDORA, ".fc41", "debian12", _no_host_dist)
    site = example_sites[0]
    built = build_site(site, target, resolve_headers(target, shared / "devel"), tmp_path)
    assert sorted(p.name for p in built.outputs) == sorted(
        f"{name}-1.0-1.fc41.{arch}.rpm"
        for name, arch in (
            (site.names.selinux_package, "noarch"),
            (site.names.php_fpm_package, "noarch"),
            (site.names.package, "src"),
        )
    )
    assert {read_package(p).release for p in built.rpms} == {"1.fc41"}
