"""Incremental builds: what a package's inputs are, and which release they get.

A package's inputs are everything its build reads: the rendered sources and spec (so the
definition, the templates, the tool version and the target all count), plus the content of the
policy headers it compiles against. Their SHA-256 is the package's digest.

Releases live in a lock file, `sites.d/releases.lock`, which the build updates and the user
commits with the definitions: one line per (target, package) with the version, the release and
the digest that release was built from. The same digest keeps its release; a new digest gets the
next one (1 again when the version changed). So `dnf upgrade` sees every real change, nothing is
bumped by hand, and a clean clone of the repository builds the very same releases.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import SitepolicyError
from ..render import Rendered, SiteSources
from ..targets import Target
from .headers import Headers, headers_fingerprint

LOCK_HEADER = (
    "# sitepolicy release lock: written by `invoke build-site`; commit it with the definitions.\n"
    "# A package keeps its release while its inputs (digest) stay the same; a change gets the next one.\n"
    "# target package version release digest\n"
)


def _digest(parts: list[tuple[str, str]]) -> str:
    h = hashlib.sha256()
    for name, text in parts:
        h.update(name.encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()


def headers_identity(headers: Headers) -> str:
    """The headers' content and the policy version they stand for (the floor)."""
    version = headers.policy_version.value if headers.policy_version else ""
    return f"{headers_fingerprint(headers.directory)} policy {version}"


def site_digest(sources: SiteSources, headers: Headers, no_verify: bool = False) -> str:
    """Keyed by headers_identity; ``no_verify``: BUILDINFO says so, so it is another package."""
    skipped = " no-verify" if no_verify else ""
    return site_digest_with(sources, headers_identity(headers) + skipped)


def site_digest_with(sources: SiteSources, headers_identity: str) -> str:
    """The digest of everything a site's packages are built from; ``headers_identity`` names the policy
    headers (their content for a local build, the mock config for a mock build)."""
    parts = sorted({**sources.policy.files, **sources.files.files}.items())
    parts += [("spec", sources.spec_template), ("dist", sources.target.dist), ("headers", headers_identity)]
    return _digest(parts)


def runtime_digest(target: Target, rendered: Rendered, headers: Headers) -> str:
    """``rendered``: the runtime rendered with RELEASE_PLACEHOLDER as its release; ``headers``: what its base
    module compiles against (headers_identity, as for a site)."""
    return _digest([*sorted(rendered.files.items()), ("dist", target.dist), ("headers", headers_identity(headers))])


@dataclass(frozen=True)
class LockEntry:
    version: str
    release: int
    digest: str


@dataclass(frozen=True)
class ReleaseLock:
    path: Path
    entries: dict[tuple[str, str], LockEntry]

    @classmethod
    def load(cls, path: Path) -> ReleaseLock:
        entries: dict[tuple[str, str], LockEntry] = {}
        if path.is_file():
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if not line.strip() or line.startswith("#"):
                    continue
                fields = line.split()
                if len(fields) != 5 or not fields[3].isdigit():
                    raise SitepolicyError(
                        f"{path}:{number}: expected 'target package version release digest', got {line!r}"
                    )
                target, package, version, release, digest = fields
                entries[(target, package)] = LockEntry(version, int(release), digest)
        return cls(path, entries)

    def release_for(self, target: Target, package: str, version: str, digest: str) -> int:
        """The release these inputs get: the recorded one, the next one, or 1 for a new version."""
        entry = self.entries.get((target.name, package))
        if entry is None or entry.version != version:
            return 1
        return entry.release if entry.digest == digest else entry.release + 1

    def with_entry(self, target: Target, package: str, version: str, release: int, digest: str) -> ReleaseLock:
        return replace(self, entries={**self.entries, (target.name, package): LockEntry(version, release, digest)})

    def save(self) -> None:
        """Write atomically (a reader never sees half a lock)."""
        lines = [
            f"{target} {package} {e.version} {e.release} {e.digest}\n"
            for (target, package), e in sorted(self.entries.items())
        ]
        text = LOCK_HEADER + "".join(lines)
        if self.path.is_file() and self.path.read_text() == text:
            return
        fd, tmp = tempfile.mkstemp(prefix=".releases-", dir=self.path.parent)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.path)
