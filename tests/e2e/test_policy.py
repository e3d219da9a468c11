"""The guest's policy choice and the image cache per policy (host side, no guest)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import shared_target

from sitepolicy.e2e.image import ImageSpec
from sitepolicy.e2e.policy import GuestPolicy, debian_policy, guest_policy, target_policy
from sitepolicy.e2e.report import evaluate
from sitepolicy.errors import E2EError


def test_default_is_debian_s_own_policy() -> None:
    policy = guest_policy(None, None)
    assert policy == debian_policy()
    assert (policy.target, policy.store, policy.root, policy.permissive) == ("debian12", "default", None, {})


@pytest.mark.parametrize(
    ("target", "root", "headers", "message"),
    [
        ("el9", None, None, "--target and --policy-root go together"),
        (None, Path("/x"), None, "--target and --policy-root go together"),
        (None, None, Path("/x"), "--headers is for a target's policy"),
    ],
)
def test_options_that_do_not_go_together(target, root, headers, message) -> None:
    with pytest.raises(E2EError, match=message):
        guest_policy(target, root, headers)


def test_a_root_without_the_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(E2EError, match=r"no etc/selinux/targeted \(expected a linked targeted policy root\)"):
        target_policy("el9", tmp_path)


@pytest.mark.parametrize("domain", ["httpd_t", "init_t", "sitepolicy_selinux_rskeens_com_t"])
def test_the_scenarios_domains_are_never_permissive(domain: str) -> None:
    with pytest.raises(E2EError, match=f"{domain} may never be permissive"):
        GuestPolicy(target="el9", store="targeted", permissive={domain: "because"})


def test_el9_root_version_and_headers_come_from_the_target_directory() -> None:
    el9 = shared_target("el9", need_root=True)
    policy = guest_policy("el9", el9 / "root")
    assert policy.store == "targeted" and policy.version == (el9 / "VERSION").read_text().strip()
    assert policy.headers == (el9 / "devel").resolve()
    assert "PHP_FPM=/usr/sbin/php-fpm\nWEB_GROUP=nginx\n" in policy.configure
    assert policy.describe().startswith("el9 targeted 38.1.46 from ")


def test_one_debootstrap_tree_one_image_per_policy() -> None:
    spec = ImageSpec(mirror="http://mirror.example/debian")
    debian = debian_policy()
    el = GuestPolicy(target="el9", store="targeted", version="1", configure="true\n")
    assert spec.image_key(debian) == spec.image_key() != spec.image_key(el)
    permissive = dataclasses.replace(el, permissive={"getty_t": "why"})
    assert spec.image_key(permissive) != spec.image_key(el)
    # the policy never changes the (slow) debootstrap tree's key
    assert dataclasses.replace(spec, packages=(*spec.packages, "x")).rootfs_key() != spec.rootfs_key()


def test_an_image_follows_its_policy_root_s_content(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/selinux/targeted").mkdir(parents=True)
    (root / "var/lib/selinux/targeted").mkdir(parents=True)
    (root / "etc/selinux/targeted/x").write_text("1")
    spec = ImageSpec(mirror="http://mirror.example/debian")
    before = spec.image_key(target_policy("el9", root))
    (root / "etc/selinux/targeted/x").write_text("2")
    assert spec.image_key(target_policy("el9", root)) != before


def test_report_shows_what_it_ran_on_and_each_phase() -> None:
    report = evaluate(
        [],
        [],
        {"debootstrap": 110.2, "label": 31.0, "boot 1 (scenarios 1-5a)": 200.0},
        facts={"accelerator": "tcg (KVM probe failed: x)", "policy loaded in the guest": "targeted"},
    )
    text = report.to_text()
    assert text.startswith("accelerator: tcg (KVM probe failed: x)\npolicy loaded in the guest: targeted\n")
    assert "    debootstrap                110.2 s" in text and "    boot 1 (scenarios 1-5a)    200.0 s" in text
    assert '"facts"' in report.to_json()


def test_el9_lets_the_web_server_search_every_directory_debian_does_not() -> None:
    # Why the nginx attacks expect a file read denial on el9 and a directory search denial on Debian.
    setools = pytest.importorskip("setools")
    el9 = shared_target("el9", need_root=True)
    assert guest_policy("el9", el9 / "root").web_server_searches_every_dir
    assert not debian_policy().web_server_searches_every_dir

    def searches_every_dir(path: Path) -> bool:
        policy = setools.SELinuxPolicy(str(path))
        rules = setools.TERuleQuery(policy, ruletype=["allow"], source="httpd_t", target="file_type",
                                    tclass=["dir"], perms=["search"])  # fmt: skip
        return any(str(r.target) == "file_type" for r in rules.results())

    assert searches_every_dir(next((el9 / "root/etc/selinux/targeted/policy").glob("policy.*")))
    debian = sorted(Path("/etc/selinux/default/policy").glob("policy.*"))
    if debian:
        assert not searches_every_dir(debian[-1])
