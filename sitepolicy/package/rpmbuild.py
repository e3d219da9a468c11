"""rpmbuild in a private tree, and reading what it built."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import rpmfile

from ..errors import SitepolicyError
from ..targets import Target
from ..tools import require_tool, run

SCRIPTLET_TAGS = ("prein", "postin", "preun", "postun", "pretrans", "posttrans")
# A macro rpm could not expand stays in the text as %name or %{name}; shell never needs either.
UNEXPANDED_MACRO = re.compile(r"%\{?[A-Za-z_?!]")


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
    return run(["rpmbuild", *_defines({**base, **defines}), *args], env={"HOME": str(topdir)})


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


@dataclass(frozen=True)
class PackageInfo:
    """What a built RPM says about itself, read with rpmfile (no rpm database involved)."""

    path: Path
    name: str
    version: str
    release: str
    arch: str
    files: tuple[str, ...]
    requires: tuple[str, ...]
    provides: tuple[str, ...]
    scriptlets: dict[str, str]


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [_text(v) for v in value]
    return [_text(value)]


def _dependencies(headers: dict[str, object], prefix: str) -> tuple[str, ...]:
    # rpmfile names the PROVIDENAME tag "provides" but REQUIRENAME "requirename".
    names = _list(headers.get(f"{prefix}name") or headers.get(f"{prefix}s"))
    versions = _list(headers.get(f"{prefix}version")) or [""] * len(names)
    flags = headers.get(f"{prefix}flags") or [0] * len(names)
    if not isinstance(flags, (list, tuple)):
        flags = [flags]
    out = []
    for name, version, flag in zip(names, versions, flags):
        op = {2: "<", 4: ">", 8: "=", 10: "<=", 12: ">="}.get(int(flag) & 0xE, "")
        out.append(f"{name} {op} {version}" if op and version else name)
    return tuple(out)


def read_package(path: Path) -> PackageInfo:
    with rpmfile.open(str(path)) as rpm:
        headers = rpm.headers
        dirnames = _list(headers.get("dirnames"))
        basenames = _list(headers.get("basenames"))
        indexes = headers.get("dirindexes") or []
        if not isinstance(indexes, (list, tuple)):
            indexes = [indexes]
        if len(indexes) != len(basenames):  # zip(strict=True) is Python >= 3.10; EL 9 runs 3.9
            raise SitepolicyError(f"{path}: {len(basenames)} file names but {len(indexes)} directory indexes")
        files = tuple(sorted(dirnames[int(i)] + base for i, base in zip(indexes, basenames)))
        scriptlets = {tag: _text(headers[tag]) for tag in SCRIPTLET_TAGS if headers.get(tag)}
        return PackageInfo(
            path=path,
            name=_text(headers.get("name")),
            version=_text(headers.get("version")),
            release=_text(headers.get("release")),
            arch=_text(headers.get("arch")),
            files=files,
            requires=_dependencies(headers, "require"),
            provides=_dependencies(headers, "provide"),
            scriptlets=scriptlets,
        )


def read_payload_file(path: Path, member: str) -> bytes:
    """The content of one file in an RPM's payload (``member`` is the installed path)."""
    with rpmfile.open(str(path)) as rpm:
        for info in rpm.getmembers():
            if info.name.lstrip(".") == member or "/" + info.name.lstrip("./") == member:
                fd = rpm.extractfile(info)
                return fd.read()
    raise SitepolicyError(f"{path.name} has no file {member}")


def check_scriptlets_expanded(info: PackageInfo) -> None:
    """Fail the build when rpm left a macro unexpanded in a scriptlet (it does so silently)."""
    for tag, text in info.scriptlets.items():
        match = UNEXPANDED_MACRO.search(text)
        if match:
            line = text[: match.start()].count("\n") + 1
            raise SitepolicyError(
                f"{info.path.name}: scriptlet %{tag} line {line} still contains the macro "
                f"'{text[match.start() :].split()[0]}': rpm could not expand it on this build host"
            )
