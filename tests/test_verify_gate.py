"""The verify gate (build-site, verify, publish) with the real tools, in throwaway projects.

Packages reach build/<target>/rpms only after verify passed against the target's policy (this host's
store, or --policy-root), or with --no-verify; publish refuses packages without a passing record.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from conftest import TARGET_NAMES, invoke, make_project, shared_target

from sitepolicy.inspect import read_payload_file

pytestmark = pytest.mark.slow

SITE = "selinux.rskeens.com"


def tree_digest(root: Path) -> str:
    """Every path, mode and content below ``root``: a verify must leave a policy root exactly as it was."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(str(path.relative_to(root)).encode() + oct(path.lstat().st_mode).encode())
        if path.is_file() and not path.is_symlink():
            h.update(path.read_bytes())
    return h.hexdigest()


def rpms(root: Path, target: str, where: str = "rpms") -> list[Path]:
    return sorted((root / "build" / target / where).glob("*.rpm"))


def buildinfo(rpm: Path) -> dict[str, str]:
    name = rpm.name.split("-selinux-")[0] + "-selinux"
    version = rpm.name.split("-selinux-")[1].split("-")[0]
    text = read_payload_file(rpm, f"/usr/share/doc/{name}-{version}/BUILDINFO").decode()
    return dict(line.split("=", 1) for line in text.splitlines())


def record(root: Path, target: str) -> dict[str, dict[str, str]]:
    return json.loads((root / "build" / target / "verified.json").read_text())["packages"]


def manifest(root: Path, target: str, site: str = SITE) -> dict[str, object]:
    return json.loads((root / "build" / target / "sites" / site / "manifest.json").read_text())


def test_a_host_build_is_verified_then_released(tmp_path, target):
    root = make_project(tmp_path)
    result = invoke(root, "build-site", SITE)
    assert result.returncode == 0, result.stderr
    assert f"verify: against this host's {target.store} policy store" in result.stderr
    released = rpms(root, target.name)
    assert len(released) == 3  # the site's two and the runtime
    assert not (root / "build" / target.name / "unverified").exists()
    assert sorted(result.stdout.split()) == sorted(str(p) for p in [*released, *rpms(root, target.name, "srpms")])
    entries = record(root, target.name)
    assert {name for name in entries} == {p.name for p in [*released, *rpms(root, target.name, "srpms")]}
    assert {e["verify"] for e in entries.values()} == {"passed"}
    assert manifest(root, target.name)["verify"] == "passed"
    sel = next(p for p in released if "-selinux-1" in p.name and "runtime" not in p.name)
    assert buildinfo(sel)["verify"] == "required before release"


def test_a_cross_target_build_without_a_policy_root_is_refused(tmp_path):
    el9 = shared_target("el9")
    root = make_project(tmp_path)
    result = invoke(root, "build-site", "--all", "--target", "el9", "--headers", str(el9 / "devel"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "build-site --target el9 cannot be verified here" in result.stderr
    assert "--policy-root ROOT" in result.stderr and "--no-verify" in result.stderr
    assert not (root / "build" / "el9").exists()  # refused before anything was built


def test_no_verify_is_recorded_and_publish_refuses_it(tmp_path):
    el9 = shared_target("el9")
    root = make_project(tmp_path)
    result = invoke(root, "build-site", SITE, "--target", "el9", "--headers", str(el9 / "devel"), "--no-verify")
    assert result.returncode == 0, result.stderr
    assert "verify: skipped (--no-verify)" in result.stderr
    released = rpms(root, "el9")
    assert len(released) == 3 and not rpms(root, "el9", "unverified/rpms")
    sel = next(p for p in released if p.name.startswith(f"sitepolicy-{SITE}-selinux-"))
    assert buildinfo(sel)["verify"] == "skipped (--no-verify)"
    assert manifest(root, "el9")["verify"] == "skipped (--no-verify)"
    assert {e["verify"] for e in record(root, "el9").values()} == {"skipped (--no-verify)"}
    repo = tmp_path / "repo"
    refused = invoke(root, "publish", "--repo", str(repo), "--target", "el9")
    assert refused.returncode == 3 and "Traceback" not in refused.stderr
    assert "refusing to publish packages without a passing verify" in refused.stderr
    assert f"{sel.name} (built with --no-verify)" in refused.stderr and "--allow-unverified" in refused.stderr
    assert not (repo / "repodata").exists()
    allowed = invoke(root, "publish", "--repo", str(repo), "--target", "el9", "--allow-unverified")
    assert allowed.returncode == 0, allowed.stderr
    assert f"published {sel.name}" in allowed.stdout


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_build_and_verify_against_each_target_root(tmp_path, name):
    """build-site for a target with its devel tree and its linked policy: verify runs against that root
    (linked into a copy; the root is unchanged byte for byte), every proof passes, the packages are
    released; invoke verify with the same options agrees."""
    tree = shared_target(name, need_root=True)
    before = tree_digest(tree / "root")
    root = make_project(tmp_path)
    args = ["--target", name, "--headers", str(tree / "devel"), "--policy-root", str(tree / "root")]
    built = invoke(root, "build-site", "--all", *args, *(["--dist", ".fc41"] if name == "fedora" else []))
    assert f"verify: against the {name} policy at {(tree / 'root').resolve()}" in built.stderr, built.stderr
    assert "web server (httpd_t)" in built.stderr  # the matrix of proven cells
    assert built.returncode == 0, built.stderr
    released = rpms(root, name)
    assert len(released) == 5 and not (root / "build" / name / "unverified").exists()
    assert sorted(built.stdout.split()) == sorted(str(p) for p in [*released, *rpms(root, name, "srpms")])
    assert {e["verify"] for e in record(root, name).values()} == {"passed"}
    again = invoke(root, "verify", *args)
    assert again.returncode == 0 and "web server (httpd_t)" in again.stdout, again.stdout + again.stderr
    assert tree_digest(tree / "root") == before  # linked into a copy; the root itself never written


def test_a_failed_verify_keeps_the_packages_out_of_rpms(tmp_path, target):
    """A policy root whose base policy lets every domain open and read every file (read alone is
    descriptor-only, accepted): proof 2 fails, the build fails, rpms/ stays empty; verify against this
    host's own policy then passes and releases them."""
    leaky = tmp_path / "leaky-policy"
    for sub in ("var/lib/selinux", "etc/selinux"):
        (leaky / sub).parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", f"/{sub}", str(leaky / sub)], check=True)
    (tmp_path / "leak.cil").write_text("(allow domain file_type (file (open read)))\n")
    subprocess.run(
        ["semodule", "-p", str(leaky), "-s", target.store, "-n", "-i", str(tmp_path / "leak.cil")],
        check=True,
        capture_output=True,
    )
    root = make_project(tmp_path)
    built = invoke(root, "build-site", "--all", "--policy-root", str(leaky))
    assert built.returncode == 3, built.stderr
    assert "FAIL" in built.stderr and "verify failed:" in built.stderr and built.stdout == ""
    assert not rpms(root, target.name) and len(rpms(root, target.name, "unverified/rpms")) == 5
    assert all(m["verify"] == "pending" for m in [manifest(root, target.name)])
    nothing = invoke(root, "publish", "--repo", str(tmp_path / "repo"))
    assert nothing.returncode != 0 and "nothing built" in nothing.stderr
    passed = invoke(root, "verify")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert len(rpms(root, target.name)) == 5 and not (root / "build" / target.name / "unverified").exists()
    assert {e["verify"] for e in record(root, target.name).values()} == {"passed"}
