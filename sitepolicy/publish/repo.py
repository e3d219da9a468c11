"""publish: sitepolicy packages into a yum repository, signed, atomically, under a lock.

Layout of a repository directory (one per target):

    Packages/*.rpm            binary packages (signed when the repository is signed)
    SRPMS/*.src.rpm           source packages (--with-srpms)
    repodata -> .meta/<id>/repodata   the current metadata; a symlink swapped in one rename(2)
    .meta/<id>/repodata/      metadata generations (the current and the previous one are kept)
    RPM-GPG-KEY-sitepolicy    the public key (signed repositories)
    sites.repo                what hosts put into /etc/yum.repos.d/
    .sitepolicy/repo.json     the repository's target and signing key, fixed by its first publish
    .sitepolicy/lock          flock(2)ed for the whole publish

Order of a publish: lock; inspect every candidate and the repository and refuse (before anything is
written) what does not belong; stage and sign the candidates inside the repository; link them into
place; build a complete new metadata generation aside (createrepo_c, sign repomd.xml); swap the
symlink; then prune. A reader (dnf) sees the old metadata or the new one, never a mix; a failure
before the swap removes what it added.

The repository is what its live metadata lists. Package files no metadata generation lists (pruned
ones, once the previous generation is gone; leftovers of a killed publish; files dropped in by hand)
are deleted by the next publish.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import SitepolicyError
from ..tools import require_tool, run
from .admission import Package, Plan, plan_publish, read_package, to_prune
from .metadata import listed_packages, metadata_files, metadata_problems
from .repofile import REPO_FILE, check_base_url, default_base_url, render_repo_file
from .signing import KEY_FILE, SigningKey, export_public_key, sign_file, sign_packages

PACKAGES = "Packages"
SOURCES = "SRPMS"
STATE_DIR = ".sitepolicy"
META_DIR = ".meta"
DEFAULT_KEEP = 3
# The system createrepo_c: a PyPI wheel of the same name would shadow it inside a virtualenv and
# write different metadata (zstd, no sqlite).
CREATEREPO = "/usr/bin/createrepo_c"


class RepoError(SitepolicyError):
    """The repository cannot be used as asked (locked state, wrong target or key)."""

    exit_code = 2


class PublishRefused(SitepolicyError):
    """One or more packages may not go into the repository; nothing was changed."""

    exit_code = 2

    def __init__(self, repo: Path, reasons: list[str]) -> None:
        self.reasons = reasons
        lines = "\n".join(f"  - {r}" for r in reasons)
        super().__init__(f"publish to {repo} refused, nothing was changed:\n{lines}")


# --------------------------------------------------------------------------- repository state


@dataclass(frozen=True)
class RepoState:
    target: str
    signing_key: str | None  # fingerprint; None for an unsigned repository
    base_url: str | None = None  # where hosts reach it (the .repo file); None: its file:// URL

    @staticmethod
    def load(repo: Path) -> RepoState | None:
        path = repo / STATE_DIR / "repo.json"
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            return RepoState(str(data["target"]), data.get("signing_key"), data.get("base_url"))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RepoError(f"{path}: unreadable repository state ({exc}); restore it or use a new directory") from exc

    def save(self, repo: Path) -> None:
        _write_atomic(
            repo / STATE_DIR / "repo.json",
            json.dumps({"target": self.target, "signing_key": self.signing_key, "base_url": self.base_url}, indent=2)
            + "\n",
        )


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@contextlib.contextmanager
def locked(repo: Path) -> Iterator[None]:
    """Exclusive flock(2) on the repository for the whole publish; a second publish waits."""
    lock_path = repo / STATE_DIR / "lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def published_packages(repo: Path, listed: set[str]) -> list[Package]:
    """The packages the live metadata lists. Files it does not list (pruned ones kept for readers of
    the previous metadata, leftovers of an interrupted publish) are not part of the repository."""
    return [read_package(repo / rel, deep=False) for rel in sorted(listed) if (repo / rel).is_file()]


# --------------------------------------------------------------------------- metadata


def build_metadata(repo: Path, files: list[Path], previous: Path | None) -> Path:
    """A complete metadata generation in .meta/<id>/repodata, built aside from the live one."""
    if not Path(CREATEREPO).exists():
        require_tool("createrepo_c", "createrepo-c (Debian/Ubuntu) or createrepo_c (Fedora/EL)")
    meta_root = repo / META_DIR
    meta_root.mkdir(exist_ok=True)
    generation = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%dT%H%M%S-"), dir=meta_root))
    pkglist = generation / "pkglist"
    pkglist.write_text("".join(f"{f.relative_to(repo)}\n" for f in files))
    argv: list[str | Path] = [
        CREATEREPO if Path(CREATEREPO).exists() else "createrepo_c",
        "--quiet",
        "--outputdir",
        generation,
        "--pkglist",
        pkglist,
    ]
    if previous is not None and (previous / "repomd.xml").exists():
        argv += ["--update", "--update-md-path", previous]
    argv.append(repo)
    run(argv)
    pkglist.unlink()
    repodata = generation / "repodata"
    if previous is not None and (previous / "repomd.xml").exists():
        # A reader that fetched the previous repomd.xml just before the swap asks for its files through
        # the new link: hard-link them into the new generation (metadata file names are checksums).
        for name in metadata_files(previous):
            if not (repodata / name).exists() and (previous / name).exists():
                os.link(previous / name, repodata / name)
    return repodata


def swap_metadata(repo: Path, repodata: Path) -> None:
    """Point repo/repodata at the new generation with one rename(2) of a symlink."""
    link = repo / "repodata"
    if link.exists() and not link.is_symlink():
        # A repository made by hand (createrepo_c on it): move its metadata into a generation.
        legacy = repo / META_DIR / "legacy"
        shutil.rmtree(legacy, ignore_errors=True)
        legacy.mkdir(parents=True)
        link.rename(legacy / "repodata")
    tmp_link = repo / f".repodata.{os.getpid()}.new"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(repodata.relative_to(repo))
    os.replace(tmp_link, link)


def key_changes(repo: Path, key: SigningKey | None) -> bool:
    """Whether the published key file is missing for a signed repository (e.g. deleted by hand)."""
    return key is not None and not (repo / KEY_FILE).exists()


def current_metadata(repo: Path) -> Path | None:
    link = repo / "repodata"
    return link.resolve() if link.exists() else None


def drop_old_generations(repo: Path, keep: tuple[Path, ...]) -> None:
    """Keep the live generation and the one before (a reader may still be fetching it)."""
    keep_dirs = {p.parent.resolve() for p in keep if p is not None}
    for generation in (repo / META_DIR).iterdir() if (repo / META_DIR).is_dir() else []:
        if generation.resolve() not in keep_dirs:
            shutil.rmtree(generation, ignore_errors=True)


# --------------------------------------------------------------------------- publish


@dataclass(frozen=True)
class PublishResult:
    repo: Path
    added: tuple[str, ...]
    unchanged: tuple[str, ...]
    pruned: tuple[str, ...]
    repo_file: Path
    signed: bool


def publish(
    repo: Path,
    candidates: list[Path],
    target: str,
    key: SigningKey | None = None,
    base_url: str | None = None,
    keep: int = DEFAULT_KEEP,
    force: bool = False,
) -> PublishResult:
    if keep < 1:
        raise RepoError(f"--keep {keep}: at least 1 (the newest version of each package stays)")
    if not candidates:
        raise RepoError("nothing to publish: build the sites first (invoke build-site --all)")
    repo.mkdir(parents=True, exist_ok=True)
    with locked(repo):
        state = RepoState.load(repo)
        fingerprint = key.fingerprint if key else None
        url = check_base_url(base_url) if base_url else None
        refusals: list[str] = []
        if state is not None:
            if state.target != target:
                raise RepoError(f"{repo} is the repository of target {state.target!r}, not {target!r}: one per target")
            if state.signing_key is not None and fingerprint is None:
                refusals.append(f"the repository is signed (key {state.signing_key}): publish with --sign")
            elif state.signing_key != fingerprint:
                raise PublishRefused(
                    repo,
                    [
                        f"the repository is {'signed by ' + state.signing_key if state.signing_key else 'unsigned'}; "
                        f"this publish signs with {fingerprint}: one key per repository"
                    ],
                )
            state = RepoState(state.target, state.signing_key, url or state.base_url)
        else:
            state = RepoState(target, fingerprint, url)

        for stale in repo.glob(".incoming-*"):  # left by a publish that was killed; we hold the lock
            shutil.rmtree(stale, ignore_errors=True)
        previous = current_metadata(repo)
        listed = set(listed_packages(repo, previous)) if previous is not None else set()
        existing = published_packages(repo, listed)
        # A package already published byte-for-byte in its header (signing leaves the header digest as
        # it is) needs no staging, signing or checking again.
        published = {(p.nevra, p.header_sha256) for p in existing}
        unchanged: list[Package] = []
        fresh: list[Package] = []
        for path in candidates:
            if not path.is_file():
                raise RepoError(f"{path}: no such package")
            quick = read_package(path, deep=False)
            (unchanged if (quick.nevra, quick.header_sha256) in published else fresh).append(quick)
        stage = Path(tempfile.mkdtemp(prefix=".incoming-", dir=repo))
        try:
            staged = [Path(shutil.copy2(p.path, stage / p.path.name)) for p in fresh]
            if key is not None:
                sign_packages([p for p in staged if not read_package(p, deep=False).problems], key)
            packages = [read_package(p) for p in staged]
            plan = plan_publish(packages, existing, target, state.signing_key, force)
            plan = dataclasses.replace(plan, unchanged=plan.unchanged + tuple(unchanged))
            if refusals or plan.reasons:
                raise PublishRefused(repo, refusals + list(plan.reasons))
            result = _commit(repo, state, key, plan, existing, keep, previous, listed)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    return result


def _commit(
    repo: Path,
    state: RepoState,
    key: SigningKey | None,
    plan: Plan,
    existing: list[Package],
    keep: int,
    previous: Path | None,
    before: set[str],
) -> PublishResult:
    """Move the packages in, build and sign new metadata, swap it in; undo the moves on any failure."""
    (repo / PACKAGES).mkdir(exist_ok=True)
    moved: list[Path] = []
    replaced_backup: list[tuple[Path, Path]] = []
    try:
        for pkg in (*plan.add, *plan.replace):
            final = repo / (SOURCES if pkg.is_source else PACKAGES) / pkg.path.name
            final.parent.mkdir(exist_ok=True)
            if final.exists():
                backup = final.with_name(f".{final.name}.replaced")
                os.replace(final, backup)
                replaced_backup.append((backup, final))
            os.replace(pkg.path, final)
            moved.append(final)
        published = [p for p in existing if p.path.exists() and p.path.name not in {m.name for m in moved}]
        now = published + [read_package(m, deep=False) for m in moved]
        dropped = to_prune(now, keep)
        live = sorted({p.path for p in now} - {p.path for p in dropped})
        pruned = [p for p in dropped if str(p.path.relative_to(repo)) in before or p.path in moved]
        if previous is not None and before == {str(p.relative_to(repo)) for p in live} and not key_changes(repo, key):
            repodata = previous  # nothing changed: the live metadata stands
        else:
            repodata = build_metadata(repo, live, previous)
            problems = metadata_problems(repo, repodata)
            if problems:
                raise RepoError("the new metadata does not match the files; nothing published:\n" + "\n".join(problems))
        if key is not None and repodata != previous:
            sign_file(repodata / "repomd.xml", key)
            export_public_key(key, repo / f".{KEY_FILE}.new")
            os.replace(repo / f".{KEY_FILE}.new", repo / KEY_FILE)
        state.save(repo)
        if repodata != previous:
            swap_metadata(repo, repodata)
    except BaseException:
        for path in moved:
            path.unlink(missing_ok=True)
        for backup, final in replaced_backup:
            os.replace(backup, final)
        raise
    for backup, _ in replaced_backup:
        backup.unlink(missing_ok=True)
    # Past the swap. A reader may still hold the previous repomd.xml: keep what it lists (packages and
    # metadata) one more generation; delete package files neither generation lists, and older generations.
    listed = set(listed_packages(repo, repodata)) | before
    for directory in (repo / PACKAGES, repo / SOURCES):
        for path in directory.glob("*.rpm") if directory.is_dir() else []:
            if str(path.relative_to(repo)) not in listed:
                path.unlink(missing_ok=True)
    drop_old_generations(repo, (repodata, previous) if previous else (repodata,))
    repo_file = repo / REPO_FILE
    _write_atomic(repo_file, render_repo_file(state.target, state.base_url or default_base_url(repo), key is not None))
    return PublishResult(
        repo=repo,
        added=tuple(p.path.name for p in (*plan.add, *plan.replace)),
        unchanged=tuple(p.path.name for p in plan.unchanged),
        pruned=tuple(p.path.name for p in pruned),
        repo_file=repo_file,
        signed=key is not None,
    )
