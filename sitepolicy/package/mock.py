"""mock: build a site's SRPM in the exact build root of a target, and read what mock left behind.

Only what mock itself defines lives here: its command lines, the meaning of its exit codes, and the
layout of its result directories. Sources (mock's own code, rpm-software-management/mock):
- exit codes: mock/py/mockbuild/exception.py (get_class_by_code and the table above it);
- logs in the result directory: state.log, build.log (rpmbuild's output), root.log (building the
  chroot, the package manager): mock/py/mockbuild/buildroot.py; the compress_logs plugin may gzip them;
- --rebuild --resultdir DIR: the RPMs, the SRPM mock rebuilt, and the logs, directly in DIR;
- --chain --localrepo DIR: DIR/results/<config name>/<SRPM file name without .src.rpm>/ per package,
  with an empty `success` or `fail` file, a repository of the results in DIR/results/<config name>/,
  and exit code 4 when only some packages were built (mock/py/mockbuild/backend.py, Commands.chain).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..errors import SitepolicyError
from ..targets import PROFILES, Target

MOCK = "mock"
LOG_TAIL_LINES = 30


class Log(Enum):
    """Which of mock's logs explains a failure."""

    BUILD = "build.log"
    ROOT = "root.log"
    STATE = "state.log"


@dataclass(frozen=True)
class ExitMeaning:
    meaning: str
    log: Log | None  # the log to show; None when mock's own output says it all


# mock's documented exit codes (mockbuild/exception.py). 0 is success.
EXIT_CODES: dict[int, ExitMeaning] = {
    1: ExitMeaning("unknown error", Log.STATE),
    2: ExitMeaning("run without the setuid wrapper (run mock as a user in the mock group)", None),
    3: ExitMeaning("invalid configuration (the -r CONFIG file)", None),
    4: ExitMeaning("only some packages were built during --chain", Log.BUILD),
    5: ExitMeaning("command-line processing error", None),
    6: ExitMeaning("invalid architecture", None),
    10: ExitMeaning("build failure: rpmbuild failed in the chroot", Log.BUILD),
    11: ExitMeaning("command timeout expired", Log.BUILD),
    20: ExitMeaning("error in the chroot (creating or using the build root)", Log.ROOT),
    25: ExitMeaning("LVM manipulation failed", Log.ROOT),
    30: ExitMeaning("package manager error (installing the build root or BuildRequires)", Log.ROOT),
    31: ExitMeaning("unknown external dependency", Log.ROOT),
    40: ExitMeaning("error with the SRPM given to mock (bad SRPM or spec)", Log.BUILD),
    50: ExitMeaning("error in the mock command", Log.STATE),
    60: ExitMeaning("build root locked: another mock process uses this config", None),
    65: ExitMeaning("LVM thin pool locked", None),
    70: ExitMeaning("result directory could not be created", None),
    80: ExitMeaning("unshare(2) of a namespace failed (containers: run mock with --isolation=simple)", None),
    90: ExitMeaning("bootstrap chroot preparation failed", Log.ROOT),
    110: ExitMeaning("unbalanced call to state functions", Log.STATE),
    120: ExitMeaning("weak dependent package not installed", Log.ROOT),
    129: ExitMeaning("mock got SIGHUP: the console was closed", None),
    141: ExitMeaning("mock got SIGPIPE: its output pipe was closed", None),
    143: ExitMeaning("mock got SIGTERM: something killed it", None),
}

# A mock config name (or a path ending in .cfg) as it may be passed to `mock -r`.
CONFIG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
# Config / chroot names that identify an EL or Fedora build root: alma+epel-9-x86_64, rocky-9-x86_64,
# centos-stream+epel-next-9-x86_64, rhel+epel-10-x86_64, epel-9-x86_64 (Copr), fedora-41-x86_64 ...
EL_NAME = re.compile(
    r"^(?:epel|rhel|almalinux|alma|rocky|centos-stream|centos|oraclelinux|navy|circlelinux)"
    r"(?:\+epel)?(?:-next)?-(\d+)(?:-|$)"
)
FEDORA_NAME = re.compile(r"^fedora-(?:\d+|rawhide|eln)(?:-|$)")


class MockError(SitepolicyError):
    """mock failed; carries its exit code, what it means and the tail of the log that explains it."""

    def __init__(self, message: str, code: int | None = None) -> None:
        self.code = code
        super().__init__(message)


def config_name(config: str) -> str:
    """What mock calls the build root of ``config`` (its chroot_name): a path's file name without .cfg."""
    if not config or len(config) > 4096 or "\n" in config:
        raise MockError(f"--mock {config!r}: a mock config name (e.g. alma+epel-9-x86_64) or a path to a .cfg")
    name = Path(config).name.removesuffix(".cfg") if config.endswith(".cfg") else config
    if not CONFIG_NAME.fullmatch(name):
        raise MockError(f"--mock {config!r}: a mock config name of letters, digits and ._+- (e.g. alma+epel-9-x86_64)")
    return name


def target_for_build_root(name: str) -> Target:
    """The target profile a mock config (or Copr chroot) builds for: alma+epel-9-x86_64 -> el9."""
    name = config_name(name)
    for profile in PROFILES.values():
        if profile.mock_config == name:
            return profile
    el = EL_NAME.match(name)
    if el and f"el{el.group(1)}" in PROFILES:
        return PROFILES[f"el{el.group(1)}"]
    if FEDORA_NAME.match(name):
        return PROFILES["fedora"]
    known = ", ".join(p.mock_config for p in PROFILES.values() if p.mock_config)
    raise MockError(
        f"{name!r} names no build root sitepolicy has a target for: EL 8/9/10 (e.g. {known}) or Fedora "
        "(fedora-NN-ARCH, fedora-rawhide-ARCH); pass --target to say which one it is"
    )


def rebuild_command(config: str, srpm: Path, resultdir: Path) -> list[str]:
    """One SRPM, one build root: the RPMs and the logs land in ``resultdir``."""
    return [MOCK, "-r", config, "--rebuild", str(srpm), "--resultdir", str(resultdir)]


def chain_command(config: str, srpms: Sequence[Path], localrepo: Path) -> list[str]:
    """Several SRPMs in one build root, each seeing those built before it; --continue past failures."""
    return [MOCK, "-r", config, "--chain", "--continue", "--localrepo", str(localrepo), *map(str, srpms)]


def chain_result_dir(localrepo: Path, config: str, srpm: Path) -> Path:
    return localrepo / "results" / config_name(config) / srpm.name.removesuffix(".src.rpm")


def read_log(directory: Path, log: Log) -> str | None:
    """A log of a result directory, gzipped (compress_logs plugin) or not; None when absent."""
    plain = directory / log.value
    if plain.is_file():
        return plain.read_text(errors="replace")
    packed = directory / (log.value + ".gz")
    if packed.is_file():
        with gzip.open(packed, "rt", errors="replace") as handle:
            return handle.read()
    return None


def log_tail(directory: Path, log: Log, lines: int = LOG_TAIL_LINES) -> str:
    text = read_log(directory, log)
    if text is None:
        return f"({log.value} is not in {directory})"
    return "\n".join(text.rstrip().splitlines()[-lines:])


def explain(code: int, resultdir: Path, output: str = "") -> MockError:
    """The error for mock's exit ``code``: its documented meaning and the tail of the log that tells why."""
    meaning = EXIT_CODES.get(code, ExitMeaning(f"exit code {code}, not one mock documents", Log.STATE))
    message = f"mock failed with exit code {code}: {meaning.meaning}"
    if meaning.log is not None:
        message += f"\n--- last lines of {resultdir / meaning.log.value} ---\n{log_tail(resultdir, meaning.log)}"
    tail = "\n".join(output.strip().splitlines()[-10:])
    if tail:
        message += f"\n--- last lines of mock's output ---\n{tail}"
    return MockError(message, code)


@dataclass(frozen=True)
class MockResult:
    resultdir: Path
    rpms: tuple[Path, ...]  # binary packages; the SRPM mock rebuilt is left out
    srpm: Path | None


def collect(resultdir: Path) -> MockResult:
    """The packages a successful mock build left in its result directory."""
    if not resultdir.is_dir():
        raise MockError(f"mock reported success but left no result directory {resultdir}")
    rpms = tuple(sorted(p for p in resultdir.glob("*.rpm") if not p.name.endswith(".src.rpm")))
    srpms = sorted(resultdir.glob("*.src.rpm"))
    if not rpms:
        raise MockError(
            f"mock reported success but {resultdir} holds no binary RPM\n"
            f"--- last lines of build.log ---\n{log_tail(resultdir, Log.BUILD)}"
        )
    return MockResult(resultdir, rpms, srpms[0] if srpms else None)


class ChainStatus(Enum):
    BUILT = "built"
    FAILED = "failed"
    NOT_BUILT = "not built"  # mock stopped before it (or the directory is missing)


@dataclass(frozen=True)
class ChainEntry:
    srpm: Path
    resultdir: Path
    status: ChainStatus
    result: MockResult | None
    error: str | None  # for a failed package: the tail of the log that tells why


def collect_chain(localrepo: Path, config: str, srpms: Sequence[Path]) -> list[ChainEntry]:
    """Each SRPM's outcome in a --chain local repository, read from its success/fail marker."""
    entries = []
    for srpm in srpms:
        directory = chain_result_dir(localrepo, config, srpm)
        if (directory / "success").exists():
            entries.append(ChainEntry(srpm, directory, ChainStatus.BUILT, collect(directory), None))
        elif (directory / "fail").exists():
            # Chain mode gives one exit code for all: the build log tells a build failure, else the root log.
            build_log = read_log(directory, Log.BUILD)
            log = Log.BUILD if build_log and build_log.strip() else Log.ROOT
            entries.append(
                ChainEntry(
                    srpm,
                    directory,
                    ChainStatus.FAILED,
                    None,
                    f"--- last lines of {directory / log.value} ---\n{log_tail(directory, log)}",
                )
            )
        else:
            entries.append(ChainEntry(srpm, directory, ChainStatus.NOT_BUILT, None, None))
    return entries
