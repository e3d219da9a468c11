"""What the benchmarks ran on, and definitions to generate: shared by the scripts in benchmarks/."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT), str(PROJECT / "tests")]


def _first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        return "absent"
    return out.strip().splitlines()[0] if out.strip() else "unknown"


def _dpkg_or_rpm(package: str) -> str:
    version = _first_line(["dpkg-query", "-W", "-f", "${Version}", package])
    if version in ("absent", "unknown"):
        version = _first_line(["rpm", "-q", "--qf", "%{VERSION}-%{RELEASE}", package])
    return version


def describe() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), "unknown")
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line))
    os_name = next(
        (
            line.split("=", 1)[1].strip('"')
            for line in Path("/etc/os-release").read_text().splitlines()
            if line.startswith("PRETTY_NAME=")
        ),
        "unknown",
    )
    from sitepolicy import __version__

    lines = [
        f"machine : {cpu}, {os.cpu_count()} cores, {mem_kb / 1024 / 1024:.1f} GiB RAM",
        f"os      : {os_name}, kernel {platform.release()}",
        f"tools   : {_first_line(['rpm', '--version'])}, dnf {_first_line(['dnf', '--version'])}, "
        f"policycoreutils {_dpkg_or_rpm('policycoreutils')}, libsemanage {_dpkg_or_rpm('libsemanage2')}, "
        f"selinux-policy-default {_dpkg_or_rpm('selinux-policy-default')}",
        f"python  : {platform.python_version()}, sitepolicy {__version__}",
        describe_load(),
    ]
    return "\n".join(lines)


def describe_load() -> str:
    """Other work on the machine skews timings: say how busy it was."""
    one, five, fifteen = os.getloadavg()
    return f"load    : {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min averages, {os.cpu_count()} cores)"


def write_definitions(directory: Path, count: int, prefix: str = "site") -> list[str]:
    """``count`` valid, distinct site definitions, like a hosting server's."""
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        name = f"{prefix}{i:03d}.bench.example"
        user = f"{prefix[:4]}{i:03d}"
        (directory / f"{name}.yaml").write_text(
            f"site: {name}\ndocroot: /srv/www/{name}\nuser: {user}\nwritable: [uploads]\nnetwork: [database]\n"
        )
        names.append(name)
    return names


def make_project(directory: Path) -> Path:
    """A project root like a user's: tasks.py, the package, its own sites.d/ and build/."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tasks.py").write_text((PROJECT / "tasks.py").read_text())
    (directory / "sitepolicy").symlink_to(PROJECT / "sitepolicy")
    (directory / "sites.d").mkdir()
    return directory
