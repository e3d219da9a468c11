"""The one reader of a built RPM: its header through the OS rpm bindings (python3-rpm, no rpm database
involved, signatures not checked), and single payload files through rpmfile."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rpmfile

from .errors import SitepolicyError

SCRIPTLET_TAGS = ("prein", "postin", "preun", "postun", "pretrans", "posttrans")
# A macro rpm could not expand stays in the text as %name or %{name}; shell never needs either.
UNEXPANDED_MACRO = re.compile(r"%\{?[A-Za-z_?!]")


class PackageError(SitepolicyError):
    """A file that should be an RPM cannot be read as one."""

    exit_code = 2


def header(path: Path) -> Any:
    """The RPM header of ``path`` (an rpm.hdr); PackageError when it is no readable RPM."""
    import rpm  # the OS bindings (python3-rpm); the virtualenv sees them through --system-site-packages

    ts = rpm.TransactionSet()
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    try:
        with path.open("rb") as handle:
            return ts.hdrFromFdno(handle.fileno())
    except (OSError, rpm.error) as exc:
        raise PackageError(f"{path}: not a readable RPM ({exc})") from exc


def compare_evr(a: tuple[str, str, str], b: tuple[str, str, str]) -> int:
    """rpm's own ordering of two (epoch, version, release)."""
    import rpm

    return int(rpm.labelCompare(a, b))


@dataclass(frozen=True)
class PackageInfo:
    """What a built RPM says about itself."""

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


def _dependencies(hdr: Any, prefix: str) -> tuple[str, ...]:
    names = _list(hdr[f"{prefix}name"])
    versions = _list(hdr[f"{prefix}version"]) or [""] * len(names)
    flags = hdr[f"{prefix}flags"] or [0] * len(names)
    if not isinstance(flags, (list, tuple)):
        flags = [flags]
    out = []
    for name, version, flag in zip(names, versions, flags):
        op = {2: "<", 4: ">", 8: "=", 10: "<=", 12: ">="}.get(int(flag) & 0xE, "")
        out.append(f"{name} {op} {version}" if op and version else name)
    return tuple(out)


def read_package(path: Path) -> PackageInfo:
    hdr = header(path)
    return PackageInfo(
        path=path,
        name=_text(hdr["name"]),
        version=_text(hdr["version"]),
        release=_text(hdr["release"]),
        arch=_text(hdr["arch"]),
        files=tuple(sorted(_list(hdr["filenames"]))),
        requires=_dependencies(hdr, "require"),
        provides=_dependencies(hdr, "provide"),
        scriptlets={tag: _text(hdr[tag]) for tag in SCRIPTLET_TAGS if hdr[tag]},
    )


def read_payload_file(path: Path, member: str) -> bytes:
    """The content of one file in an RPM's payload (``member`` is the installed path)."""
    with rpmfile.open(str(path)) as rpm:
        for info in rpm.getmembers():
            if info.name.lstrip(".") == member or "/" + info.name.lstrip("./") == member:
                data: bytes = rpm.extractfile(info).read()
                return data
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
