"""Run external tools the same way everywhere: C locale, captured output, a timeout, one error type.

Library tools (rpmbuild, make, semodule, createrepo_c, gpg, ...) run in the caller's environment with
the C locale; host tools of the e2e harness (qemu, debootstrap, setfiles, ...) run with ``clean=True``:
a fixed system PATH, the C locale and HOME only. Every tool runs in a process group of its own with
a time limit; past it the whole group (rpmbuild -> sh -> make -> m4) is killed and ToolTimeout raised.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from subprocess import CompletedProcess
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:  # typing.Unpack is Python 3.11+; annotations are never evaluated at run time here
    from typing_extensions import Unpack

from .errors import SitepolicyError, ToolError, ToolMissingError, ToolTimeout

SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# Where each host tool of the e2e harness comes from on Debian/Ubuntu, for the message when it is missing
# (a tool not named here comes in a package of its own name: debootstrap, tar).
DEBIAN_PACKAGES: Mapping[str, str] = dict(
    pair.split("=")
    for pair in "mkfs.ext4=e2fsprogs setfiles=policycoreutils qemu-system-x86_64=qemu-system-x86 "
    "qemu-img=qemu-utils chroot=coreutils".split()
)
# Seconds any one tool may run unless its caller says otherwise (SITEPOLICY_TOOL_TIMEOUT overrides it).
# Generous: a policy link of hundreds of modules takes seconds; only a hang (m4 looping on a macro,
# a tool waiting for input) reaches it.
DEFAULT_TIMEOUT = 900.0


def default_timeout() -> float:
    value = os.environ.get("SITEPOLICY_TOOL_TIMEOUT", "")
    try:
        return float(value) if value else DEFAULT_TIMEOUT
    except ValueError:
        raise SitepolicyError(f"SITEPOLICY_TOOL_TIMEOUT={value!r}: a number of seconds") from None


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
    timeout: float | None  # seconds; None: default_timeout()
    log: Path | None  # where the combined output is written
    clean: bool  # a host tool (it must be installed, see require_tool) in clean_env()


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Kill the tool and everything it started (they share its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:  # the group is gone already
        pass


def call(argv: Sequence[str | Path], *, check: bool = False, **options: Unpack[Options]) -> CompletedProcess[str]:
    """Run a command and return it finished, its combined output in ``stdout`` (also written to
    ``options["log"]``). ToolError carrying the output when it cannot start or (``check``) exits
    non-zero; ToolTimeout (a ToolError) when it runs past its timeout, after killing its process group."""
    args = [str(a) for a in argv]
    env, hint = options.get("env"), options.get("hint", "")
    timeout = options.get("timeout")
    limit = default_timeout() if timeout is None else timeout
    if options.get("clean", False):
        require_tool(args[0])
        full_env = clean_env(env)
    else:
        full_env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", **(env or {})}
    input_text = options.get("input_text")
    try:
        proc = subprocess.Popen(
            args,
            cwd=options.get("cwd"),
            env=full_env,
            stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise ToolError(args, 127, str(exc), hint) from exc
    try:
        output, _ = proc.communicate(input_text, timeout=limit)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        output, _ = proc.communicate()
        raise ToolTimeout(args, limit, output or "", hint) from None
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    # A tool that exited may leave children behind in its group (a make job's m4): none may outlive it.
    _kill_group(proc)
    result = CompletedProcess(args, proc.returncode, output or "", None)
    log = options.get("log")
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(result.stdout)
    if check and result.returncode != 0:
        raise ToolError(args, result.returncode, result.stdout, hint)
    return result


def run(argv: Sequence[str | Path], **options: Unpack[Options]) -> str:
    """call() a command that must succeed; return its combined output."""
    return call(argv, check=True, **options).stdout
