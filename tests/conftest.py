"""Shared fixtures: the real tools, a private build tree per test session, the example sites."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from policy_tools import compile_module

from sitepolicy.definition.site import Site, load_sites
from sitepolicy.package.build import PackageBuild, SiteBuild, build_runtime, build_sites
from sitepolicy.package.headers import Headers, resolve_headers
from sitepolicy.render import render_policy
from sitepolicy.targets import Target, host_target
from sitepolicy.verify.modules import SiteModule, modules_from_dir

PROJECT = Path(__file__).resolve().parent.parent
EXAMPLES = PROJECT / "sites.d"
# The Fedora/RHEL devel trees and linked targeted policies (test data, never committed): ../shared beside the clone.
SHARED_TARGETS = Path(os.environ.get("SITEPOLICY_SHARED", PROJECT.parent / "shared")) / "targets"
TARGET_NAMES = ("el8", "el9", "el10", "fedora")


def shared_target(name: str, need_root: bool = False) -> Path:
    """../shared/targets/NAME (devel/, root/, VERSION), or skip: a user's clone has no ../shared."""
    path = SHARED_TARGETS / name
    if not (path / "devel" / "Makefile").is_file():
        pytest.skip(f"{path}/devel is absent: the Fedora/RHEL policy trees live in ../shared beside the clone")
    if need_root and not (path / "root" / "var" / "lib" / "selinux").is_dir():
        pytest.skip(f"{path}/root is absent: no linked {name} policy to verify against")
    return path


@pytest.fixture(autouse=True, scope="session")
def _c_locale() -> None:
    os.environ["LANG"] = os.environ["LC_ALL"] = "C.UTF-8"


@pytest.fixture(autouse=True, scope="session")
def _no_gpg_agent_left(tmp_path_factory):
    """gpg (ours, and dnf's own keyrings) starts an agent per home directory: stop them all at the end."""
    yield
    # An agent's sockets live under /run/user, not in its home: find the homes by their key store.
    for keys in tmp_path_factory.getbasetemp().rglob("private-keys-v1.d"):
        subprocess.run(["gpgconf", "--homedir", str(keys.parent), "--kill", "all"], check=False, capture_output=True)


@pytest.fixture(scope="session")
def target() -> Target:
    return host_target()


@pytest.fixture(scope="session")
def headers(target: Target) -> Headers:
    return resolve_headers(target, None)


@pytest.fixture(scope="session")
def example_sites() -> list[Site]:
    return load_sites(EXAMPLES)


@pytest.fixture(scope="session")
def example_builds(tmp_path_factory, example_sites, target, headers) -> dict[str, SiteBuild]:
    """Both example sites built once per session with the real rpmbuild, from a clean tree."""
    build_dir = tmp_path_factory.mktemp("build")
    return {b.site.name: b for b in build_sites(example_sites, target, headers, build_dir)}


@pytest.fixture(scope="session")
def example_runtime(tmp_path_factory, target) -> PackageBuild:
    """sitepolicy-selinux-runtime, which every site's -selinux package requires (built once per session)."""
    return build_runtime(target, tmp_path_factory.mktemp("build-runtime"))


def make_project(tmp_path: Path, definitions: dict[str, str] | None = None) -> Path:
    """A throwaway project root: tasks.py and the package linked, its own sites.d/ and build/."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(PROJECT / "tasks.py", root / "tasks.py")
    (root / "sitepolicy").symlink_to(PROJECT / "sitepolicy")
    sites = root / "sites.d"
    sites.mkdir()
    if definitions is None:
        for path in EXAMPLES.glob("*.yaml"):
            shutil.copy(path, sites / path.name)
    else:
        for name, text in definitions.items():
            (sites / name).write_text(text)
    return root


def invoke(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a task the way a user does: the invoke command in the project root."""
    invoke_bin = Path(os.environ.get("VIRTUAL_ENV", PROJECT / ".venv")) / "bin" / "invoke"
    if not invoke_bin.exists():
        invoke_bin = Path(shutil.which("invoke") or "invoke")
    return subprocess.run([str(invoke_bin), *args], cwd=root, capture_output=True, text=True, check=False, timeout=300)


def compiled_from(templates: Path, sites: list[Site], target: Target, headers: Headers, out: Path) -> list[SiteModule]:
    """Each site's module rendered from ``templates`` and compiled with ``headers``, one directory each."""
    for site in sites:
        directory = out / site.names.module
        render_policy(site, target, templates).write(directory)
        compile_module(directory, headers, site.names.module)
    return modules_from_dir(out, sites)
