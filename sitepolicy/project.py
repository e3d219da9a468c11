"""A project: its directories, its definitions (loaded and validated once), its target (resolved once),
where a target's outputs live under build/, and the typed record each build leaves there.

Every stage takes a Project; none reads sites.d/ or build/<target>/sites/*/manifest.json on its own.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .definition.loading import Loaded, load_definitions
from .definition.site import Site, select_sites
from .errors import DefinitionError, SitepolicyError, TargetError
from .targets import Target, get_target, host_target, with_dist

MANIFEST = "manifest.json"
LOCK_NAME = "releases.lock"


@dataclass(frozen=True)
class TargetLayout:
    """Where one target's outputs live under build/: build/<target>/{rpms,srpms,runtime,sites/<site>,verify}."""

    build_dir: Path
    target: Target
    root: Path = field(init=False, compare=False)
    rpms: Path = field(init=False, compare=False)
    srpms: Path = field(init=False, compare=False)
    runtime_dir: Path = field(init=False, compare=False)  # the runtime's BuildRecord and sources
    verify_dir: Path = field(init=False, compare=False)
    staging: Path = field(init=False, compare=False)  # shared by every target: builds are moved out of it
    unverified: Path = field(init=False, compare=False)  # unverified/{rpms,srpms}: waiting for verify (gate.py)

    def __post_init__(self) -> None:
        root = self.build_dir / self.target.name
        below = {"root": root, "rpms": root / "rpms", "srpms": root / "srpms", "runtime_dir": root / "runtime"}
        below.update(verify_dir=root / "verify", staging=self.build_dir / ".staging", unverified=root / "unverified")
        for name, path in below.items():
            object.__setattr__(self, name, path)

    def site_dir(self, site: Site) -> Path:
        return self.root / "sites" / site.name

    def record(self, site: Site | None) -> BuildRecord | None:
        """The last complete build of ``site`` (None: the runtime), or None when there is none."""
        return BuildRecord.read(self, self.runtime_dir if site is None else self.site_dir(site))

    def records(self) -> list[BuildRecord]:
        """Every package built for this target: the runtime, then each site's record, by name."""
        dirs = [self.runtime_dir, *sorted(p for p in (self.root / "sites").glob("*") if p.is_dir())]
        return [r for r in (BuildRecord.read(self, d) for d in dirs) if r is not None]


@dataclass(frozen=True)
class BuildRecord:
    """What one complete build of a package left under build/<target>/: which inputs (digest), which
    release, and the RPMs and SRPM it made. Stored as <record dir>/manifest.json, beside sources/.

    A mock build records no release and an empty digest: the next local build rebuilds the site rather
    than taking mock's packages as its own.

    ``verify`` (package/gate.py): "pending" while the outputs wait in unverified/ for verify, "passed" once
    released into rpms/, "skipped (--no-verify)"; "" for a record written before the gate existed.
    ``promoted``: the files of this package in rpms/ and srpms/ (its last released build).
    """

    directory: Path
    name: str  # the site's name, or the runtime's package name
    release: str | None
    digest: str
    outputs: tuple[Path, ...]  # absolute paths
    verify: str = ""
    promoted: tuple[Path, ...] = ()

    @property
    def sources(self) -> Path:
        return self.directory / "sources"

    @property
    def rpms(self) -> tuple[Path, ...]:
        return tuple(p for p in self.outputs if not p.name.endswith(".src.rpm"))

    @property
    def srpms(self) -> tuple[Path, ...]:
        return tuple(p for p in self.outputs if p.name.endswith(".src.rpm"))

    def is_current(self, digest: str, release: int) -> bool:
        """Whether these outputs were built from exactly ``digest`` with ``release``, and all still exist."""
        return (
            self.digest == digest
            and self.release == str(release)
            and bool(self.outputs)
            and all(p.is_file() for p in self.outputs)
        )

    def output_named(self, package: str) -> Path | None:
        """The existing output file of binary package ``package`` (by its file name)."""
        return next((p for p in self.outputs if p.name.startswith(package + "-") and p.is_file()), None)

    @classmethod
    def read(cls, layout: TargetLayout, directory: Path) -> BuildRecord | None:
        try:
            data = json.loads((directory / MANIFEST).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        release = data.get("release")
        return cls(
            directory=directory,
            name=str(data.get("name", "")),
            release=None if release is None else str(release),
            digest=str(data.get("digest", "")),
            outputs=tuple(layout.root / str(p) for p in data.get("outputs", [])),
            verify=str(data.get("verify", "")),
            promoted=tuple(layout.root / str(p) for p in data.get("promoted", [])),
        )

    def write(self, layout: TargetLayout, directory: Path) -> None:
        """Write the manifest into ``directory`` (the record's directory, or where it is staged)."""
        data: dict[str, object] = {"name": self.name}
        if self.release is not None:
            data["release"] = self.release
        data["digest"] = self.digest
        data["outputs"] = [str(p.relative_to(layout.root)) for p in self.outputs]
        data["verify"] = self.verify
        data["promoted"] = [str(p.relative_to(layout.root)) for p in self.promoted]
        (directory / MANIFEST).write_text(json.dumps(data, indent=2) + "\n")


@dataclass(frozen=True)
class Project:
    """A sitepolicy checkout: sites.d/, build/ and the target a task works for.

    ``sites`` is loaded and validated together (names must not collide) on first use, ``target`` and
    ``host`` resolved on first use; both are then kept for the rest of the task.
    """

    root: Path
    target_name: str | None = None
    dist: str | None = None  # --dist: the dist tag of what this task builds (targets.with_dist)
    sites_dir: Path = field(init=False, compare=False)
    build_dir: Path = field(init=False, compare=False)
    lock_path: Path = field(init=False, compare=False)  # sites.d/releases.lock

    def __post_init__(self) -> None:
        object.__setattr__(self, "sites_dir", self.root / "sites.d")
        object.__setattr__(self, "build_dir", self.root / "build")
        object.__setattr__(self, "lock_path", self.sites_dir / LOCK_NAME)

    @cached_property
    def loaded(self) -> Loaded:
        """Every definition of sites.d/: the valid ones, and the refused (invalid, colliding, not a definition)."""
        return load_definitions(self.sites_dir)

    @property
    def sites(self) -> tuple[Site, ...]:
        """The valid definitions; a refused one is skipped, and the task exits 2 at the end (check_definitions)."""
        return tuple(self.loaded.sites)

    @property
    def refused(self) -> list[DefinitionError]:
        return self.loaded.refused

    def check_definitions(self) -> None:
        """Raise DefinitionsRefused (exit status 2) listing every refused file of sites.d/, if any."""
        self.loaded.check()

    @cached_property
    def host(self) -> Target:
        return host_target()

    @cached_property
    def target(self) -> Target:
        return get_target(self.target_name) if self.target_name else self.host

    @cached_property
    def build_target(self) -> Target:
        """The target with the dist tag its packages get: --dist, the profile's, or a Fedora host's own."""
        try:
            host: str | None = self.host.name
        except TargetError:
            host = None
        return with_dist(self.target, self.dist, host)

    @property
    def layout(self) -> TargetLayout:
        return self.layout_for(self.target)

    def layout_for(self, target: Target) -> TargetLayout:
        return TargetLayout(self.build_dir, target)

    def with_target(self, target_name: str | None) -> Project:
        """The same project for another target (the definitions already loaded are kept)."""
        other = dataclasses.replace(self, target_name=target_name)
        if "loaded" in self.__dict__:
            other.__dict__["loaded"] = self.loaded
        if "host" in self.__dict__:
            other.__dict__["host"] = self.host
        return other

    def select(self, names: Iterable[str]) -> list[Site]:
        return select_sites(list(self.sites), names, self.sites_dir)

    def choose(self, names: Sequence[str], everything: bool) -> list[Site]:
        """All definitions are validated together (collisions), then the requested valid ones are chosen
        (a refused one named here is skipped: it is in ``refused``)."""
        if bool(names) == everything:
            raise SitepolicyError("name one site, or pass --all for every definition in sites.d/")
        refused = self.loaded.refused_files()
        return (
            list(self.sites)
            if everything
            else self.select([n for n in names if str(self.sites_dir / f"{n}.yaml") not in refused])
        )

    def require_sites(self) -> tuple[Site, ...]:
        if not self.sites:
            raise SitepolicyError("no sites defined in sites.d/ (invoke new-site NAME)")
        return self.sites
