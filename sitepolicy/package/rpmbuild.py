"""rpmbuild in a private tree: the source package, then the binary packages rebuilt from it alone."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..errors import SitepolicyError
from ..targets import Target
from ..tools import require_tool, run

# One site's rpmbuild (m4, checkmodule, packaging) takes about a second; only a hang reaches this.
RPMBUILD_TIMEOUT = 300.0


def _defines(defines: dict[str, str]) -> list[str]:
    args: list[str] = []
    for name, value in defines.items():
        args += ["--define", f"{name} {value}"]
    return args


def rpmbuild(args: list[str | Path], topdir: Path, defines: dict[str, str]) -> str:
    """Run rpmbuild with a private _topdir and HOME, so no ~/.rpmmacros leaks into a build."""
    require_tool("rpmbuild", "rpm (Debian/Ubuntu) or rpm-build (Fedora/EL)")
    topdir.mkdir(parents=True, exist_ok=True)
    base = {"_topdir": str(topdir), "_tmppath": str(topdir / "tmp")}
    (topdir / "tmp").mkdir(exist_ok=True)
    return run(
        ["rpmbuild", *_defines({**base, **defines}), *args],
        env={"HOME": str(topdir)},
        timeout=RPMBUILD_TIMEOUT,
        hint="rpmbuild (its %build compiles the policy module with make and m4)",
    )


def target_defines(target: Target, headers_dir: Path | None) -> dict[str, str]:
    defines = {"dist": target.dist} if target.dist else {}  # Fedora's mock build root brings its own
    if headers_dir is not None:
        defines["sp_devel"] = str(headers_dir)
    return defines


def build_srpm(spec: Path, sources: Path, out_dir: Path, topdir: Path, target: Target) -> Path:
    """A self-contained source package: the spec and every rendered source file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    defines = {**target_defines(target, None), "_sourcedir": str(sources), "_srcrpmdir": str(out_dir)}
    rpmbuild(["-bs", spec], topdir, defines)
    return _only(out_dir.glob("*.src.rpm"), out_dir, "source package")


def rebuild(
    srpm: Path,
    out_dir: Path,
    topdir: Path,
    target: Target,
    headers_dir: Path | None,
    nodeps: bool,
    defines: dict[str, str] | None = None,
) -> list[Path]:
    """Binary packages from the source package alone, as mock and Koji would make them.

    ``defines``: further macros (the policy version the module is compiled against, see build.py).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    defines = {
        **target_defines(target, headers_dir),
        **(defines or {}),
        "_rpmdir": str(out_dir),
        "_build_name_fmt": "%%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
    }
    run_args: list[str | Path] = ["--rebuild", srpm]
    if nodeps:
        run_args.insert(0, "--nodeps")
    rpmbuild(run_args, topdir, defines)
    built = sorted(out_dir.glob("*.rpm"))
    if not built:
        raise SitepolicyError(f"rpmbuild --rebuild {srpm} produced no package in {out_dir}")
    return built


def rpm_db_has(package: str) -> bool:
    """Whether the host's rpm database knows ``package`` (never on Debian, where dpkg owns the OS)."""
    try:
        run(["rpm", "-q", "--quiet", "--whatprovides", package])
    except SitepolicyError:
        return False
    return True


def _only(paths: Iterable[Path], directory: Path, what: str) -> Path:
    found = sorted(paths)
    if len(found) != 1:
        raise SitepolicyError(f"expected one {what} in {directory}, found {len(found)}")
    return found[0]
