"""submit: hand the SRPMs to scale-out builders, Copr (copr-cli) or Koji (koji).

The SRPMs are built here (self-contained, see builders.build_source_package); Copr and Koji build
them in the target's own root, like mock. Exit codes are those the tools document in their sources:
- copr-cli (fedora-copr/copr, cli/copr_cli/main.py main()): 1 request error or interrupted,
  2 bad argument, 3 other Copr error, 4 a build failed, 5 unknown response / outdated client,
  6 configuration (~/.config/copr missing or wrong), 7 authentication (API token expired);
- koji: 1 the task failed or the call was refused (including authentication), 2 command-line usage error.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import SitepolicyError
from ..package.mock import target_for_build_root
from ..targets import PROFILES, Target

COPR_PROJECT = re.compile(r"^@?[A-Za-z0-9][A-Za-z0-9_.-]{0,99}/[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$")
KOJI_TARGET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")
# Koji build targets are site-defined; these are the usual spellings (Fedora's, CentOS's, EPEL's).
KOJI_EL = re.compile(r"^(?:epel|el|rhel-?|c|cs)(\d+)(?:[-.]|$)")
KOJI_FEDORA = re.compile(r"^(?:f\d+|rawhide|eln)(?:[-.]|$)")

COPR_EXIT = {
    1: "request error (network, or the Copr frontend refused it) or interrupted",
    2: "bad argument",
    3: "Copr error",
    4: "a build failed in Copr",
    5: "unknown response from Copr, or copr-cli is too old for the frontend",
    6: "configuration error: ~/.config/copr is missing or wrong (get it from the Copr web UI, API page)",
    7: "authentication failed: the API token in ~/.config/copr expired",
}
KOJI_EXIT = {
    1: "the build task failed, or koji refused the call (authentication, permissions, unknown target)",
    2: "command-line usage error",
}


class SubmitError(SitepolicyError):
    def __init__(self, message: str, code: int | None = None) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Submission:
    tool: str  # copr-cli or koji
    commands: tuple[tuple[str, ...], ...]  # one or more command lines, run in order
    target: Target

    def shell(self) -> list[str]:
        return [shlex.join(c) for c in self.commands]


def check_copr_project(project: str) -> str:
    if not COPR_PROJECT.fullmatch(project):
        raise SubmitError(f"--copr {project!r}: owner/project (a group owner is written @group/project)")
    return project


def check_koji_target(name: str) -> str:
    if not KOJI_TARGET.fullmatch(name):
        raise SubmitError(f"--koji {name!r}: a Koji build target name (letters, digits, ._+-)")
    return name


def copr_target(chroot: str) -> Target:
    return target_for_build_root(chroot)


def koji_target(name: str) -> Target:
    check_koji_target(name)
    el = KOJI_EL.match(name)
    if el and f"el{el.group(1)}" in PROFILES:
        return PROFILES[f"el{el.group(1)}"]
    if KOJI_FEDORA.match(name):
        return PROFILES["fedora"]
    raise SubmitError(
        f"cannot tell which target the Koji target {name!r} builds for (Koji targets are named by each "
        "site): pass --target el8|el9|el10|fedora"
    )


def copr_submission(project: str, chroots: Sequence[str], srpms: Sequence[Path], target: Target) -> Submission:
    check_copr_project(project)
    if not chroots:
        raise SubmitError("--copr needs --chroot CHROOT (e.g. epel-9-x86_64): the build roots to build in")
    argv = ["copr-cli", "build"]
    for chroot in chroots:
        if copr_target(chroot) != target:
            raise SubmitError(
                f"--chroot {chroot} builds for {copr_target(chroot).name}, the SRPMs are for {target.name}"
            )
        argv += ["--chroot", chroot]
    return Submission("copr-cli", ((*argv, project, *map(str, srpms)),), target)


def koji_submission(koji: str, srpms: Sequence[Path], target: Target) -> Submission:
    # `koji build` takes one source per call.
    check_koji_target(koji)
    return Submission("koji", tuple(("koji", "build", koji, str(srpm)) for srpm in srpms), target)


def explain(tool: str, code: int, command: Sequence[str], output: str) -> SubmitError:
    meanings = COPR_EXIT if tool == "copr-cli" else KOJI_EXIT
    meaning = meanings.get(code, f"exit code {code}, not one {tool} documents")
    tail = "\n".join(output.strip().splitlines()[-20:])
    message = f"{tool} failed with exit code {code}: {meaning}\ncommand: {shlex.join(command)}"
    if tail:
        message += f"\n--- last lines of its output ---\n{tail}"
    return SubmitError(message, code)
