"""build-site: render -> rpmbuild -bs -> rpmbuild --rebuild -> check -> move into build/.

Everything happens in a staging directory; only a site that built completely is moved into
build/<target>/, so a failure leaves the previous outputs as they were.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import SitepolicyError
from .render import Rendered, render_package_files, render_policy, render_spec
from .rpm import build_srpm, check_scriptlets_expanded, read_package, rebuild, rpm_db_has
from .selinux import Headers
from .site import Site
from .targets import Target


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
    def staging(self) -> Path:
        return self.build_dir / ".staging"


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


def build_site(site: Site, target: Target, headers: Headers, build_dir: Path, release: str = "1") -> SiteBuild:
    layout = TargetLayout(build_dir, target)
    layout.staging.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f"{site.name}-", dir=layout.staging))
    try:
        sources = stage / "sources"
        spec = render_sources(site, target, release, sources)
        topdir = stage / "rpmbuild"
        srpm = build_srpm(spec, sources, stage / "srpms", topdir, target)
        # Debian's rpm database is empty: BuildRequires would all be "missing" there.
        nodeps = not rpm_db_has("selinux-policy-devel")
        headers_dir = None if headers.is_host else headers.directory
        rpms = rebuild(srpm, stage / "rpms", topdir, target, headers_dir, nodeps)
        for path in rpms:
            check_scriptlets_expanded(read_package(path))
        return _publish_outputs(site, target, layout, sources, srpm, rpms)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _publish_outputs(
    site: Site, target: Target, layout: TargetLayout, sources: Path, srpm: Path, rpms: list[Path]
) -> SiteBuild:
    """Move a complete build into build/<target>/, replacing the site's previous outputs."""
    site_dir = layout.site_dir(site)
    manifest = site_dir / "manifest.json"
    if manifest.is_file():
        for old in json.loads(manifest.read_text()).get("outputs", []):
            (layout.root / old).unlink(missing_ok=True)
    layout.rpms.mkdir(parents=True, exist_ok=True)
    layout.srpms.mkdir(parents=True, exist_ok=True)
    final_rpms = tuple(_move(path, layout.rpms / path.name) for path in rpms)
    final_srpm = _move(srpm, layout.srpms / srpm.name)
    new_sources = site_dir.with_name(site_dir.name + ".new")
    shutil.rmtree(new_sources, ignore_errors=True)
    shutil.copytree(sources, new_sources / "sources")
    outputs = [str(p.relative_to(layout.root)) for p in (*final_rpms, final_srpm)]
    (new_sources / "manifest.json").write_text(json.dumps({"site": site.name, "outputs": outputs}, indent=2) + "\n")
    shutil.rmtree(site_dir, ignore_errors=True)
    new_sources.rename(site_dir)
    return SiteBuild(site, target, site_dir / "sources", final_srpm, final_rpms)


def _move(src: Path, dst: Path) -> Path:
    shutil.move(str(src), str(dst))
    return dst


def build_sites(
    sites: list[Site], target: Target, headers: Headers, build_dir: Path, release: str = "1"
) -> list[SiteBuild]:
    if not sites:
        raise SitepolicyError("no site to build: add a definition to sites.d/ (invoke new-site NAME)")
    return [build_site(site, target, headers, build_dir, release) for site in sites]
