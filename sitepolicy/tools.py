"""Run external tools the same way everywhere: C locale, captured output, one error type."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import SitepolicyError, ToolError


def require_tool(name: str, package_hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SitepolicyError(f"'{name}' is not installed; install {package_hint}")
    return path


def run(
    argv: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    hint: str = "",
    input_text: str | None = None,
) -> str:
    """Run a command; return its combined output, or raise ToolError carrying it."""
    args = [str(a) for a in argv]
    full_env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", **(env or {})}
    try:
        proc = subprocess.run(
            args,
            cwd=cwd,
            env=full_env,
            input=input_text,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ToolError(args, 127, str(exc), hint) from exc
    if proc.returncode != 0:
        raise ToolError(args, proc.returncode, proc.stdout, hint)
    return proc.stdout
