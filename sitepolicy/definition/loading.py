"""Load every definition of sites.d/: the valid ones, and a list of everything refused.

One refused definition must not stop the others: a definition invalid on its own is reported and
skipped; two that collide are both refused (neither may take the other's paths or names); a file
that is not a definition (``*.yml``, a backup) is reported, never silently ignored. The task builds
what is valid and exits with status 2 at the end, listing what was refused (:class:`DefinitionsRefused`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DefinitionError, SitepolicyError
from .site import Site, collisions, load_site

LOCK_FILE = "releases.lock"


class DefinitionsRefused(SitepolicyError):
    """Some definitions were refused (the others were handled); lists every one of them."""

    exit_code = 2

    def __init__(self, refused: list[DefinitionError]) -> None:
        self.refused = refused
        lines = [f"{len(refused)} definition(s) refused:"] + [f"  {error}" for error in refused]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Loaded:
    sites: list[Site]  # valid on their own and colliding with no other
    refused: list[DefinitionError]  # in file order: invalid, colliding (both sides), not a definition

    def refused_files(self) -> set[str]:
        return {error.file for error in self.refused}

    def check(self) -> None:
        """Raise DefinitionsRefused when anything was refused."""
        if self.refused:
            raise DefinitionsRefused(self.refused)


def load_definitions(sites_dir: Path) -> Loaded:
    if not sites_dir.is_dir():
        raise DefinitionError(sites_dir, "(directory)", str(sites_dir), "an existing directory of <site>.yaml files")
    refused: list[DefinitionError] = []
    valid: list[Site] = []
    for path in sorted(sites_dir.iterdir()):
        if path.name == LOCK_FILE:
            continue
        if path.suffix != ".yaml" or not path.is_file():
            what = "a directory" if path.is_dir() else "a file"
            refused.append(
                DefinitionError(
                    path, "(file)", path.name, f"only <site>.yaml definitions and {LOCK_FILE} in sites.d/ ({what})"
                )
            )
            continue
        try:
            valid.append(load_site(path))
        except DefinitionError as exc:
            refused.append(exc)
    clashes = collisions(valid)
    clashing = {error.file for error in clashes}
    refused += clashes
    order = {str(p): i for i, p in enumerate(sorted(sites_dir.iterdir()))}
    refused.sort(key=lambda e: order.get(e.file, len(order)))
    return Loaded([s for s in valid if str(s.source) not in clashing], refused)
