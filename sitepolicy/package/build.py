"""build-site: render -> rpmbuild -bs -> rpmbuild --rebuild -> check -> move into build/.

Everything happens in a staging directory; only a site that built completely is moved into
build/<target>/, so a failure leaves the previous outputs as they were.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..definition.base_policy import Headers
from ..definition.runtime import PACKAGE as RUNTIME_PACKAGE
from ..definition.site import Site
from ..errors import SitepolicyError
from ..render import Rendered, render_package_files, render_policy, render_runtime, render_spec
from ..targets import Target
from .rpmbuild import build_srpm, check_scriptlets_expanded, read_package, rebuild, rpm_db_has


@dataclass(frozen=True)
class TargetLayout:
    """Where one target's outputs live under build/."""

    build_dir: Path
    target: Target

    @property
    def root(self) -> Path:
        return self.build_dir / self.target.name

    @property
    def rpms(self) -> Path:
        return self.root / "rpms"

    @property
    def srpms(self) -> Path:
        return self.root / "srpms"

    def site_dir(self, site: Site) -> Path:
        return self.root / "sites" / site.name

    @property
    def runtime_dir(self) -> Path:
        return self.root / "runtime"

    @property
    def staging(self) -> Path:
        return self.build_dir / ".staging"


@dataclass(frozen=True)
class PackageBuild:
    """What one rpmbuild run produced, moved into build/<target>/."""

    record_dir: Path  # sources/ as the SRPM holds them, and manifest.json
    srpm: Path
    rpms: tuple[Path, ...]

    @property
    def outputs(self) -> tuple[Path, ...]:
        return (*self.rpms, self.srpm)


@dataclass(frozen=True)
class SiteBuild:
    site: Site
    target: Target
    sources: Path  # rendered policy, package files and spec, as the SRPM holds them
    srpm: Path
    rpms: tuple[Path, ...]

    @property
    def outputs(self) -> tuple[Path, ...]:
        return (*self.rpms, self.srpm)


def render_sources(site: Site, target: Target, release: str, directory: Path) -> Path:
    """Write the site's sources and spec into ``directory``; return the spec's path."""
    policy = render_policy(site, target)
    files = render_package_files(site, target)
    sources = list(policy.files) + list(files.files)
    spec = render_spec(site, target, release, sources)
    policy.write(directory)
    files.write(directory)
    spec_path = directory / f"{site.names.package}.spec"
    Rendered({spec_path.name: spec}).write(directory)
    return spec_path


def build_site(
    site: Site, target: Target, headers: Headers, build_dir: Path, release: str = "1", digest: str = ""
) -> SiteBuild:
    layout = TargetLayout(build_dir, target)

    def render(sources: Path) -> Path:
        return render_sources(site, target, release, sources)

    built = _build_package(site.name, render, layout, layout.site_dir(site), headers, release, digest)
    return SiteBuild(site, target, built.record_dir / "sources", built.srpm, built.rpms)


def build_runtime(target: Target, build_dir: Path, release: str = "1", digest: str = "") -> PackageBuild:
    """sitepolicy-selinux-runtime for ``target``: the reconcile script and its file triggers."""
    layout = TargetLayout(build_dir, target)

    def render(sources: Path) -> Path:
        render_runtime(target, release).write(sources)
        return sources / f"{RUNTIME_PACKAGE}.spec"

    return _build_package(RUNTIME_PACKAGE, render, layout, layout.runtime_dir, None, release, digest)


def _build_package(
    name: str,
    render: Callable[[Path], Path],
    layout: TargetLayout,
    record_dir: Path,
    headers: Headers | None,
    release: str,
    digest: str,
) -> PackageBuild:
    """Render into a staging directory, build the SRPM, rebuild it, check, move into place."""
    layout.staging.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=layout.staging))
    try:
        sources = stage / "sources"
        spec = render(sources)
        topdir = stage / "rpmbuild"
        srpm = build_srpm(spec, sources, stage / "srpms", topdir, layout.target)
        # Debian's rpm database is empty: BuildRequires would all be "missing" there.
        nodeps = not _host_has_devel()
        headers_dir = None if headers is None or headers.is_host else headers.directory
        rpms = rebuild(srpm, stage / "rpms", topdir, layout.target, headers_dir, nodeps, policy_defines(headers))
        for path in rpms:
            check_scriptlets_expanded(read_package(path))
        manifest = {"name": name, "release": release, "digest": digest}
        return _publish_outputs(layout, record_dir, sources, srpm, rpms, manifest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def policy_defines(headers: Headers | None) -> dict[str, str]:
    """The selinux-policy version the spec requires as a floor and records in BUILDINFO, and whence it came."""
    if headers is None or headers.policy_version is None:
        return {}
    version = headers.policy_version
    return {"sp_policy_version": version.value, "sp_policy_version_from": version.source}


@lru_cache(maxsize=1)
def _host_has_devel() -> bool:
    return rpm_db_has("selinux-policy-devel")


def read_manifest(record_dir: Path) -> dict[str, object]:
    """What the last complete build into ``record_dir`` recorded ({} when there is none)."""
    try:
        data = json.loads((record_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _publish_outputs(
    layout: TargetLayout, record_dir: Path, sources: Path, srpm: Path, rpms: list[Path], manifest: dict[str, str]
) -> PackageBuild:
    """Move a complete build into build/<target>/, replacing the package's previous outputs."""
    for old in read_manifest(record_dir).get("outputs", []):  # type: ignore[union-attr]
        (layout.root / str(old)).unlink(missing_ok=True)
    layout.rpms.mkdir(parents=True, exist_ok=True)
    layout.srpms.mkdir(parents=True, exist_ok=True)
    final_rpms = tuple(_move(path, layout.rpms / path.name) for path in rpms)
    final_srpm = _move(srpm, layout.srpms / srpm.name)
    new_record = record_dir.with_name(record_dir.name + ".new")
    shutil.rmtree(new_record, ignore_errors=True)
    shutil.copytree(sources, new_record / "sources")
    outputs = [str(p.relative_to(layout.root)) for p in (*final_rpms, final_srpm)]
    (new_record / "manifest.json").write_text(json.dumps({**manifest, "outputs": outputs}, indent=2) + "\n")
    shutil.rmtree(record_dir, ignore_errors=True)
    new_record.rename(record_dir)
    return PackageBuild(record_dir, final_srpm, final_rpms)


def publish_site_outputs(
    site: Site, target: Target, layout: TargetLayout, sources: Path, srpm: Path, rpms: list[Path]
) -> SiteBuild:
    """Move a site's packages built elsewhere (mock) into build/<target>/. Without a digest in its
    manifest, the next local build-site rebuilds the site rather than taking mock's packages as its own."""
    built = _publish_outputs(layout, layout.site_dir(site), sources, srpm, rpms, {"name": site.name, "digest": ""})
    return SiteBuild(site, target, built.record_dir / "sources", built.srpm, built.rpms)


def _move(src: Path, dst: Path) -> Path:
    shutil.move(str(src), str(dst))
    return dst


def build_sites(
    sites: list[Site], target: Target, headers: Headers, build_dir: Path, release: str = "1"
) -> list[SiteBuild]:
    if not sites:
        raise SitepolicyError("no site to build: add a definition to sites.d/ (invoke new-site NAME)")
    return [build_site(site, target, headers, build_dir, release) for site in sites]
