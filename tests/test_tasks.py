"""The tasks as a user runs them: exit status, messages, and what lands in build/."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import invoke, make_project


def test_build_site_all_prints_the_built_paths_last(tmp_path, target):
    root = make_project(tmp_path)
    result = invoke(root, "build-site", "--all")
    assert result.returncode == 0, result.stderr
    printed = [Path(line) for line in result.stdout.strip().splitlines()]
    assert len(printed) == 8  # both sites' two RPMs and SRPM, and the runtime's RPM and SRPM
    assert all(p.is_file() and p.is_relative_to(root / "build" / target.name) for p in printed)
    assert {p.name.split("-1.0-")[0] for p in printed} >= {
        "sitepolicy-selinux.rskeens.com-selinux",
        "sitepolicy-private.rskeens.com-php-fpm",
    }
    assert not list((root / "build" / ".staging").iterdir())


def test_build_one_site(tmp_path):
    root = make_project(tmp_path)
    result = invoke(root, "build-site", "private.rskeens.com")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert all("private.rskeens.com" in line or "sitepolicy-selinux-runtime" in line for line in lines)
    assert sum("private.rskeens.com" in line for line in lines) == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("site: shop.example.com\ndocroot: /srv/www/shop\nuser: shop\nselinux_rules: x\n", "field 'selinux_rules'"),
        ("site: shop.example.com\ndocroot: /srv/www/../etc\nuser: shop\n", "field 'docroot'"),
        ("site: shop.example.com\ndocroot: /srv/www/shop\nuser: root\n", "field 'user'"),
        ("site: shop.example.com\ndocroot: /srv/www/shop\nuser: shop\nnetwork: [ssh]\n", "field 'network[0]'"),
        ("site: shop.example.com\ndocroot: /srv/www/shop\nuser: private_rskeens\n", "field 'user'"),
        ("site: shop.example.com\ndocroot: /srv/www/private.rskeens.com\nuser: shop\n", "field 'docroot'"),
    ],
)
def test_a_refused_definition_is_listed_with_exit_status_2(tmp_path, text, expected):
    root = make_project(tmp_path)
    (root / "sites.d" / "shop.example.com.yaml").write_text(text)
    result = invoke(root, "list-sites")
    assert result.returncode == 2, result
    assert "shop.example.com.yaml" in result.stderr and expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "sitepolicy-selinux.rskeens.com-selinux" in result.stdout  # the valid ones are still listed
    assert not (root / "build").exists()


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("site: shop.example.com\ndocroot: /srv/www/shop\nuser: root\n", {"shop.example.com"}),
        # a collision refuses both sides: neither may take the other's docroot
        (
            "site: shop.example.com\ndocroot: /srv/www/private.rskeens.com\nuser: shop\n",
            {"shop.example.com", "private.rskeens.com"},
        ),
    ],
)
def test_refused_definitions_are_skipped_and_the_valid_ones_build(tmp_path, text, refused):
    root = make_project(tmp_path)
    (root / "sites.d" / "shop.example.com.yaml").write_text(text)
    (root / "sites.d" / "other.example.com.yml").write_text("site: other.example.com\n")  # not a definition name
    result = invoke(root, "build-site", "--all")
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr + result.stdout
    for name in [*refused, "other.example.com.yml"]:
        assert f"refused, skipped: {root / 'sites.d' / name}" in result.stderr or name.endswith(".yml")
        assert name in result.stderr.split("definition(s) refused:")[1]
    built = {Path(line).name.split("-1.0-")[0].split("-0.")[0] for line in result.stdout.split()}
    valid = {"selinux.rskeens.com", "private.rskeens.com"} - refused
    assert built == {f"sitepolicy-{s}-{kind}" for s in valid for kind in ("selinux", "php-fpm")} | {
        "sitepolicy-selinux-runtime",
        *(f"sitepolicy-{s}" for s in valid),
    }


def test_name_or_all_is_required(tmp_path):
    root = make_project(tmp_path)
    assert invoke(root, "build-site").returncode != 0
    both = invoke(root, "build-site", "selinux.rskeens.com", "--all")
    assert both.returncode == 1 and "name one site, or pass --all" in both.stderr


def test_unknown_site_is_refused(tmp_path):
    root = make_project(tmp_path)
    result = invoke(root, "build-site", "nope.example.com")
    assert result.returncode == 2 and "a defined site" in result.stderr
    assert not (root / "build").exists()


def test_foreign_target_needs_its_headers(tmp_path):
    root = make_project(tmp_path)
    # --no-verify: without it the build is refused first because it cannot be verified (test_verify_gate.py)
    result = invoke(root, "build-site", "--all", "--target", "el9", "--no-verify")
    assert result.returncode == 2 and "--headers DIR" in result.stderr
    bad = invoke(root, "build-site", "--all", "--target", "el9", "--headers", str(tmp_path), "--no-verify")
    assert bad.returncode == 2 and "not a policy devel tree" in bad.stderr
    assert invoke(root, "build-site", "--all", "--target", "solaris").returncode == 2
    assert not (root / "build").exists()


def test_list_sites_shows_what_each_site_produces(tmp_path):
    result = invoke(make_project(tmp_path), "list-sites")
    assert result.returncode == 0
    assert "sitepolicy-selinux.rskeens.com-selinux, sitepolicy-selinux.rskeens.com-php-fpm" in result.stdout
    assert "domain: sitepolicy_private_rskeens_com_t" in result.stdout
    assert "socket: /run/sitepolicy-private.rskeens.com/php-fpm.sock" in result.stdout


def test_new_site_writes_a_valid_commented_starter(tmp_path):
    root = make_project(tmp_path)
    result = invoke(root, "new-site", "shop.example.com")
    assert result.returncode == 0, result.stderr
    path = root / "sites.d" / "shop.example.com.yaml"
    assert result.stdout.strip() == str(path)
    text = path.read_text()
    assert yaml.safe_load(text)["site"] == "shop.example.com"
    for field in ("site", "docroot", "user", "group", "writable", "network", "php_fpm", "max_children", "version"):
        assert f"{field}:" in text
    assert invoke(root, "list-sites").returncode == 0
    again = invoke(root, "new-site", "shop.example.com")
    assert again.returncode == 2 and "the file exists" in again.stderr
    hostile = invoke(root, "new-site", "../../etc/passwd")
    assert hostile.returncode == 2 and "DNS name" in hostile.stderr
    assert not (root / "etc").exists()


def test_build_site_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    root = make_project(tmp_path)
    result = invoke(root, "build-site", "--all", "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].endswith("would build 3 of 3 packages:")
    assert sorted(line.split()[1] for line in lines[1:]) == [
        "sitepolicy-private.rskeens.com-1.0-1",
        "sitepolicy-selinux-runtime-0.1.0-1",
        "sitepolicy-selinux.rskeens.com-1.0-1",
    ]
    assert all(line.split()[0] == "build" for line in lines[1:])
    assert not (root / "build").exists() and not (root / "sites.d" / "releases.lock").exists()
    mock = invoke(root, "build-site", "private.rskeens.com", "--mock", "alma+epel-9-x86_64", "--dry-run")
    assert mock.returncode == 0, mock.stderr
    assert "build      sitepolicy-private.rskeens.com-1.0-1" in mock.stdout
    assert not (root / "build").exists()
