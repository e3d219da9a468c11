"""build-site as a user runs it many times: parallel, incremental, with automatic releases."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from conftest import invoke, make_project

from sitepolicy.errors import SitepolicyError
from sitepolicy.package.incremental import ReleaseLock
from sitepolicy.targets import get_target


def snapshot(root: Path) -> dict[str, str]:
    """Every file build-site built (RPMs, SRPMs, sources, manifests; not verify's work: verify/ and the
    verdicts in verified.json) and its hash."""
    build = root / "build"
    return {
        str(p.relative_to(build)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(build.rglob("*"))
        if p.is_file() and p.relative_to(build).parts[1:2] != ("verify",) and p.name != "verified.json"
    }


def lock_releases(root: Path) -> dict[str, int]:
    lock = ReleaseLock.load(root / "sites.d" / "releases.lock")
    return {package: entry.release for (_, package), entry in lock.entries.items()}


def build_all(root: Path, *args: str):
    result = invoke(root, "build-site", "--all", *args)
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.slow
def test_parallel_build_reports_each_package_then_a_summary(tmp_path, target):
    root = make_project(tmp_path)
    result = build_all(root, "-j", "2")
    progress = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert len(progress) == 3 and all(" built " in line for line in progress)
    assert {line.split()[2] for line in progress} == {
        "sitepolicy-selinux-runtime",
        "sitepolicy-selinux.rskeens.com",
        "sitepolicy-private.rskeens.com",
    }
    (summary,) = [line for line in result.stderr.splitlines() if line.startswith("build-site (")]
    assert summary.startswith(f"build-site ({target.name}): 3 built, 0 up to date, 0 failed, of 3 packages")
    assert "with -j 2" in summary
    assert lock_releases(root) == {
        "sitepolicy-selinux-runtime": 1,
        "sitepolicy-selinux.rskeens.com": 1,
        "sitepolicy-private.rskeens.com": 1,
    }


@pytest.mark.slow
def test_nothing_changed_builds_nothing_and_changes_nothing(tmp_path):
    root = make_project(tmp_path)
    first = build_all(root)
    before, lock_before = snapshot(root), (root / "sites.d/releases.lock").read_text()
    again = build_all(root, "-j", "2")
    assert "0 built, 3 up to date, 0 failed" in again.stderr
    assert again.stdout == first.stdout  # the same paths, printed last
    assert snapshot(root) == before  # byte-identical: modules, RPMs, sources, manifests
    assert (root / "sites.d/releases.lock").read_text() == lock_before


@pytest.mark.slow
def test_a_changed_definition_rebuilds_that_site_only_with_the_next_release(tmp_path, target):
    root = make_project(tmp_path)
    build_all(root)
    before = snapshot(root)
    definition = root / "sites.d" / "private.rskeens.com.yaml"
    definition.write_text(definition.read_text() + "network:\n  - smtp\n")
    result = build_all(root)
    assert "1 built, 2 up to date" in result.stderr
    assert f"sitepolicy-private.rskeens.com-selinux-1.0-2{target.dist}.noarch.rpm" in result.stdout
    assert lock_releases(root)["sitepolicy-private.rskeens.com"] == 2
    after = snapshot(root)
    unchanged = {k: v for k, v in before.items() if "private.rskeens.com" not in k}
    assert {k: after[k] for k in unchanged} == unchanged  # the other site's files are untouched
    assert not any("private.rskeens.com-selinux-1.0-1" in k for k in after)  # the old release is replaced


@pytest.mark.slow
def test_force_and_a_clean_clone_rebuild_with_the_same_releases(tmp_path, target):
    root = make_project(tmp_path)
    definition = root / "sites.d" / "private.rskeens.com.yaml"
    build_all(root)
    definition.write_text(definition.read_text() + "max_children: 7\n")
    first = build_all(root)
    releases = lock_releases(root)
    assert releases["sitepolicy-private.rskeens.com"] == 2
    forced = build_all(root, "--force")
    assert "3 built, 0 up to date" in forced.stderr
    assert forced.stdout == first.stdout and lock_releases(root) == releases
    # A clean clone has the definitions and the lock, and no build/: the same inputs give the same releases.
    for path in sorted((root / "build").rglob("*"), reverse=True):
        path.unlink() if path.is_file() or path.is_symlink() else path.rmdir()
    clone = build_all(root)
    assert clone.stdout == first.stdout and lock_releases(root) == releases


@pytest.mark.slow
def test_explicit_release_bypasses_the_lock(tmp_path, target):
    root = make_project(tmp_path)
    result = build_all(root, "--release", "7")
    assert f"sitepolicy-selinux.rskeens.com-selinux-1.0-7{target.dist}.noarch.rpm" in result.stdout
    assert not (root / "sites.d" / "releases.lock").exists()


def test_release_lock_rules(tmp_path):
    el9 = get_target("el9")
    lock = ReleaseLock.load(tmp_path / "releases.lock")
    assert lock.release_for(el9, "p", "1.0", "aaa") == 1
    lock = lock.with_entry(el9, "p", "1.0", 4, "aaa")
    assert lock.release_for(el9, "p", "1.0", "aaa") == 4  # same inputs, same release
    assert lock.release_for(el9, "p", "1.0", "bbb") == 5  # changed inputs, the next one
    assert lock.release_for(el9, "p", "1.1", "bbb") == 1  # a new version starts again
    assert lock.release_for(get_target("el8"), "p", "1.0", "aaa") == 1  # per target
    lock.save()
    assert ReleaseLock.load(tmp_path / "releases.lock") == lock
    (tmp_path / "releases.lock").write_text("el9 p 1.0 x aaa\n")
    with pytest.raises(SitepolicyError, match=r"releases.lock:1: expected 'target package version release digest'"):
        ReleaseLock.load(tmp_path / "releases.lock")


@pytest.mark.slow
def test_a_failed_site_does_not_stop_the_others_and_is_not_recorded(tmp_path):
    root = make_project(tmp_path)
    # A php_fpm path that passes validation but names no binary still builds; break the build instead
    # by making the build tree unwritable for one site's record directory.
    build_all(root)
    definition = root / "sites.d" / "private.rskeens.com.yaml"
    definition.write_text(definition.read_text() + "max_children: 9\n")
    record = root / "build" / get_target_name(root) / "sites" / "private.rskeens.com.new"
    record.write_text("not a directory")  # _publish_outputs cannot replace it
    result = invoke(root, "build-site", "--all")
    assert result.returncode == 1
    assert "FAILED sitepolicy-private.rskeens.com" in result.stderr
    assert "0 built, 2 up to date, 1 failed" in result.stderr
    assert "Traceback" not in result.stderr
    assert lock_releases(root)["sitepolicy-private.rskeens.com"] == 1  # not recorded


def get_target_name(root: Path) -> str:
    return next(p.name for p in (root / "build").iterdir() if not p.name.startswith("."))
