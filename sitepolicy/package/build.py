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
from .gate import PENDING, SKIPPED, UNVERIFIED
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

    @property
    def unverified(self) -> Path:
        """Where a build's packages wait until verify passed (gate.py): unverified/{rpms,srpms}."""
        return self.root / UNVERIFIED

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
    site: Site,
    target: Target,
    headers: Headers,
    build_dir: Path,
    release: str = "1",
    digest: str = "",
    no_verify: bool = False,
) -> SiteBuild:
    """Build one site's packages into build/<target>/unverified/ (into rpms/ with ``no_verify``)."""
    layout = TargetLayout(build_dir, target)

    def render(sources: Path) -> Path:
        return render_sources(site, target, release, sources)

    built = _build_package(site.name, render, layout, layout.site_dir(site), headers, release, digest, no_verify)
    return SiteBuild(site, target, built.record_dir / "sources", built.srpm, built.rpms)


def build_runtime(
    target: Target, build_dir: Path, release: str = "1", digest: str = "", no_verify: bool = False
) -> PackageBuild:
    """sitepolicy-selinux-runtime for ``target``: the reconcile script and its file triggers. Gated with the
    sites it serves: it reaches rpms/ with them."""
    layout = TargetLayout(build_dir, target)

    def render(sources: Path) -> Path:
        render_runtime(target, release).write(sources)
        return sources / f"{RUNTIME_PACKAGE}.spec"

    return _build_package(RUNTIME_PACKAGE, render, layout, layout.runtime_dir, None, release, digest, no_verify)


def _build_package(
    name: str,
    render: Callable[[Path], Path],
    layout: TargetLayout,
    record_dir: Path,
    headers: Headers | None,
    release: str,
    digest: str,
    no_verify: bool,
) -> PackageBuild:
    """Render into a staging directory, build the SRPM, rebuild it, check, move into place: unverified/
    until verify passed (gate.py), or rpms/ at once with ``no_verify``."""
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
        # BUILDINFO says whether these packages are released only after verify passed
        defines = {**policy_defines(headers), "sp_verify": SKIPPED if no_verify else "required before release"}
        rpms = rebuild(srpm, stage / "rpms", topdir, layout.target, headers_dir, nodeps, defines)
        for path in rpms:
            check_scriptlets_expanded(read_package(path))
        manifest = {"name": name, "release": release, "digest": digest, "verify": SKIPPED if no_verify else PENDING}
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
    """Move a complete build into build/<target>/, replacing the package's previous outputs.

    A build waiting for verify (manifest verify: pending) goes into unverified/{rpms,srpms}; the files
    of its last verified build stay in rpms/ (``promoted``) until gate.promote replaces them.
    """
    previous = read_manifest(record_dir)
    promoted = [str(p) for p in previous.get("promoted", []) or []]  # type: ignore[union-attr]
    for old in previous.get("outputs", []):  # type: ignore[union-attr]
        if str(old) not in promoted:
            (layout.root / str(old)).unlink(missing_ok=True)
    base = layout.unverified if manifest.get("verify") == PENDING else layout.root
    if base == layout.root:  # straight into rpms/: these replace the promoted files
        for old in promoted:
            (layout.root / old).unlink(missing_ok=True)
        promoted = []
    (base / "rpms").mkdir(parents=True, exist_ok=True)
    (base / "srpms").mkdir(parents=True, exist_ok=True)
    final_rpms = tuple(_move(path, base / "rpms" / path.name) for path in rpms)
    final_srpm = _move(srpm, base / "srpms" / srpm.name)
    new_record = record_dir.with_name(record_dir.name + ".new")
    shutil.rmtree(new_record, ignore_errors=True)
    shutil.copytree(sources, new_record / "sources")
    outputs = [str(p.relative_to(layout.root)) for p in (*final_rpms, final_srpm)]
    if base == layout.root:
        promoted = outputs
    record = {**manifest, "outputs": outputs, "promoted": promoted}
    (new_record / "manifest.json").write_text(json.dumps(record, indent=2) + "\n")
    shutil.rmtree(record_dir, ignore_errors=True)
    new_record.rename(record_dir)
    return PackageBuild(record_dir, final_srpm, final_rpms)


def publish_site_outputs(
    site: Site, target: Target, layout: TargetLayout, sources: Path, srpm: Path, rpms: list[Path]
) -> SiteBuild:
    """Move a site's packages built elsewhere (mock) into build/<target>/. Without a digest in its
    manifest, the next local build-site rebuilds the site rather than taking mock's packages as its own."""
    manifest = {"name": site.name, "digest": "", "verify": PENDING}
    built = _publish_outputs(layout, layout.site_dir(site), sources, srpm, rpms, manifest)
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
