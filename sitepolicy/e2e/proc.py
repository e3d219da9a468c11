"""Running host commands with timeouts and errors that carry the command line."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import CommandError, ToolMissingError

# Where each host tool comes from on Debian/Ubuntu, for the error message.
TOOL_PACKAGES: Mapping[str, str] = {
    "debootstrap": "debootstrap",
    "mkfs.ext4": "e2fsprogs",
    "setfiles": "policycoreutils",
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "tar": "tar",
    "chroot": "coreutils",
}


def require_tool(tool: str) -> str:
    """Return the path of `tool`, or raise ToolMissingError naming its package."""
    found = shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if found is None:
        raise ToolMissingError(tool, TOOL_PACKAGES.get(tool, tool))
    return found


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": os.environ.get("HOME", "/root"),
    }
    if extra:
        env.update(extra)
    return env


def run(
    argv: Sequence[str | Path],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    stdin_text: str | None = None,
    log: Path | None = None,
) -> str:
    """Run a command, return its combined output; raise CommandError on failure or timeout."""
    args = [str(a) for a in argv]
    require_tool(args[0])
    try:
        proc = subprocess.run(
            args,
            input=stdin_text,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            env=clean_env(env),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.output if isinstance(exc.output, str) else (exc.output or b"").decode(errors="replace")
        raise CommandError(args, -1, f"timed out after {timeout:.0f} s\n{out}") from exc
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(proc.stdout)
    if proc.returncode != 0:
        raise CommandError(args, proc.returncode, proc.stdout)
    return proc.stdout
