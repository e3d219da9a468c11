"""Run external tools the same way everywhere: C locale, captured output, a timeout, one error type."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import SitepolicyError, ToolError, ToolTimeout

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


def require_tool(name: str, package_hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SitepolicyError(f"'{name}' is not installed; install {package_hint}")
    return path


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Kill the tool and everything it started (rpmbuild -> sh -> make -> m4 share its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:  # the group is gone already
        pass


def run_status(
    argv: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    hint: str = "",
    input_text: str | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command in a process group of its own; return its exit status and combined output.

    Past ``timeout`` seconds (default: :func:`default_timeout`) the whole group is killed and
    ToolTimeout raised. A missing program is a ToolError (exit 127).
    """
    args = [str(a) for a in argv]
    limit = default_timeout() if timeout is None else timeout
    full_env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", **(env or {})}
    try:
        proc = subprocess.Popen(
            args,
            cwd=cwd,
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
    return subprocess.CompletedProcess(args, proc.returncode, output or "", None)


def run(
    argv: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    hint: str = "",
    input_text: str | None = None,
    timeout: float | None = None,
) -> str:
    """Run a command; return its combined output, or raise ToolError carrying it.

    The command runs in a process group of its own; past ``timeout`` seconds (default:
    :func:`default_timeout`) the whole group is killed and ToolTimeout raised.
    """
    proc = run_status(argv, cwd=cwd, env=env, hint=hint, input_text=input_text, timeout=timeout)
    if proc.returncode != 0:
        raise ToolError(proc.args, proc.returncode, proc.stdout, hint)
    return proc.stdout
