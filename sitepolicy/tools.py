"""Run external tools the same way everywhere: C locale, captured output, one error type.

Library tools (rpmbuild, make, semodule, createrepo_c, gpg, ...) run in the caller's environment with
the C locale; host tools of the e2e harness (qemu, debootstrap, setfiles, ...) run with ``clean=True``:
a fixed system PATH, the C locale and HOME only, and a timeout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from subprocess import CompletedProcess
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:  # typing.Unpack is Python 3.11+; annotations are never evaluated at run time here
    from typing_extensions import Unpack

from .errors import ToolError, ToolMissingError

SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# Where each host tool of the e2e harness comes from on Debian/Ubuntu, for the message when it is missing
# (a tool not named here comes in a package of its own name: debootstrap, tar).
DEBIAN_PACKAGES: Mapping[str, str] = dict(
    pair.split("=")
    for pair in "mkfs.ext4=e2fsprogs setfiles=policycoreutils qemu-system-x86_64=qemu-system-x86 "
    "qemu-img=qemu-utils chroot=coreutils".split()
)


def require_tool(name: str, package_hint: str | None = None) -> str:
    """The path of ``name``, or ToolMissingError saying what to install.

    ``package_hint`` None: a host tool, also looked for in /usr/sbin and /sbin, named by its Debian package.
    """
    if package_hint is not None:
        found = shutil.which(name)
        if found is None:
            raise ToolMissingError(name, f"'{name}' is not installed; install {package_hint}")
        return found
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if found is None:
        package = DEBIAN_PACKAGES.get(name, name)
        raise ToolMissingError(name, f"{name} not found on PATH: install it (apt-get install {package})")
    return found


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a host tool: the system PATH, the C locale, HOME; nothing else leaks in."""
    env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": os.environ.get("HOME", "/root")}
    env.update(extra or {})
    return env


class Options(TypedDict, total=False):
    """How call() and run() run a command (all optional)."""

    cwd: Path | None
    env: Mapping[str, str] | None  # added to the environment (with ``clean``: to clean_env())
    hint: str  # a line for the error message: what was being done, what to check
    input_text: str | None
    timeout: float | None
    log: Path | None  # where the combined output is written
    clean: bool  # a host tool (it must be installed, see require_tool) in clean_env()


def call(argv: Sequence[str | Path], *, check: bool = False, **options: Unpack[Options]) -> CompletedProcess[str]:
    """Run a command and return it finished, its combined output in ``stdout`` (also written to
    ``options["log"]``). ToolError carrying the output when it cannot start, runs past its timeout, or
    (``check``) exits non-zero."""
    args = [str(a) for a in argv]
    env, hint, timeout = options.get("env"), options.get("hint", ""), options.get("timeout")
    if options.get("clean", False):
        require_tool(args[0])
        full_env = clean_env(env)
    else:
        full_env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", **(env or {})}
    try:
        proc = subprocess.run(
            args,
            cwd=options.get("cwd"),
            env=full_env,
            input=options.get("input_text"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ToolError(args, 127, str(exc), hint) from exc
    except subprocess.TimeoutExpired as exc:
        out = exc.output if isinstance(exc.output, str) else (exc.output or b"").decode(errors="replace")
        raise ToolError(args, -1, f"timed out after {timeout or 0:.0f} s\n{out}", hint) from exc
    log = options.get("log")
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(proc.stdout)
    if check and proc.returncode != 0:
        raise ToolError(args, proc.returncode, proc.stdout, hint)
    return proc


def run(argv: Sequence[str | Path], **options: Unpack[Options]) -> str:
    """call() a command that must succeed; return its combined output."""
    return call(argv, check=True, **options).stdout
