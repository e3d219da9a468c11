"""Check a yum repository's metadata against its files: every checksum repomd.xml and primary.xml name.

publish runs it on each new metadata generation before swapping it in; tests run it after concurrent
publishes.
"""

from __future__ import annotations

import gzip
import hashlib
import xml.etree.ElementTree as ET
from pathlib import Path

REPO_NS = {"repo": "http://linux.duke.edu/metadata/repo"}
COMMON_NS = {"common": "http://linux.duke.edu/metadata/common"}


def _digest(path: Path, kind: str, opener=open) -> str:  # type: ignore[no-untyped-def]
    h = hashlib.new(kind)
    with opener(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def metadata_problems(repo: Path, repodata: Path | None = None) -> list[str]:
    """Every mismatch between the metadata and the files; an empty list when all checksums verify.

    ``repodata`` defaults to repo/repodata; locations in it are relative to ``repo``.
    """
    repodata = repodata or repo / "repodata"
    problems: list[str] = []
    repomd_path = repodata / "repomd.xml"
    try:
        repomd = ET.parse(repomd_path).getroot()
    except (OSError, ET.ParseError) as exc:
        return [f"{repomd_path}: unreadable ({exc})"]
    primary: Path | None = None
    for data in repomd.findall("repo:data", REPO_NS):
        kind = data.get("type", "?")
        location = data.find("repo:location", REPO_NS)
        checksum = data.find("repo:checksum", REPO_NS)
        if location is None or checksum is None:
            problems.append(f"repomd.xml: entry {kind} lacks a location or checksum")
            continue
        # Metadata hrefs are "repodata/<file>": resolve them in the generation being checked.
        path = repodata / Path(location.get("href", "")).name
        if not path.is_file():
            problems.append(f"repomd.xml: {kind}: {path.name} is missing")
            continue
        actual = _digest(path, checksum.get("type", "sha256"))
        if actual != (checksum.text or "").strip():
            problems.append(f"repomd.xml: {kind}: {path.name} has checksum {actual}, the metadata says {checksum.text}")
        if kind == "primary":
            primary = path
    if primary is None:
        return [*problems, "repomd.xml names no primary metadata"]
    opener = gzip.open if primary.name.endswith(".gz") else open
    with opener(primary, "rb") as handle:
        root = ET.parse(handle).getroot()
    for package in root.findall("common:package", COMMON_NS):
        location = package.find("common:location", COMMON_NS)
        checksum = package.find("common:checksum", COMMON_NS)
        if location is None or checksum is None:
            problems.append("primary.xml: a package lacks a location or checksum")
            continue
        href = location.get("href", "")
        path = repo / href
        if not path.is_file():
            problems.append(f"primary.xml: {href} is missing")
        elif _digest(path, checksum.get("type", "sha256")) != (checksum.text or "").strip():
            problems.append(f"primary.xml: {href} does not match its checksum")
    return problems


def metadata_files(repodata: Path) -> list[str]:
    """The file names repomd.xml in ``repodata`` refers to."""
    repomd = ET.parse(repodata / "repomd.xml").getroot()
    return [
        Path(location.get("href", "")).name
        for data in repomd.findall("repo:data", REPO_NS)
        if (location := data.find("repo:location", REPO_NS)) is not None
    ]


def listed_packages(repo: Path, repodata: Path | None = None) -> list[str]:
    """The location (relative to ``repo``) of every package the metadata in ``repodata`` lists."""
    repodata = repodata or repo / "repodata"
    repomd = ET.parse(repodata / "repomd.xml").getroot()
    for data in repomd.findall("repo:data", REPO_NS):
        if data.get("type") == "primary":
            location = data.find("repo:location", REPO_NS)
            assert location is not None
            path = repodata / Path(location.get("href", "")).name
            opener = gzip.open if path.name.endswith(".gz") else open
            with opener(path, "rb") as handle:
                root = ET.parse(handle).getroot()
            return sorted(
                loc.get("href", "")
                for pkg in root.findall("common:package", COMMON_NS)
                if (loc := pkg.find("common:location", COMMON_NS)) is not None
            )
    return []
