"""Errors raised by the end-to-end guest harness."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from ..errors import SitepolicyError


class E2EError(SitepolicyError):
    """Base of every harness failure; the message says what failed and what to do."""


class ToolMissingError(E2EError):
    """A host tool the harness needs is not installed."""

    def __init__(self, tool: str, package: str) -> None:
        super().__init__(f"{tool} not found on PATH: install it (apt-get install {package})")
        self.tool = tool
        self.package = package


class CommandError(E2EError):
    """A host command failed; carries the exact command line and its output."""

    def __init__(self, argv: Sequence[str], returncode: int, output: str) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.output = output
        tail = "\n".join(output.strip().splitlines()[-30:])
        super().__init__(f"command failed (exit {returncode}): {shlex.join(self.argv)}\n{tail}")


class GuestError(E2EError):
    """The guest hung, crashed or returned no results; carries the console tail."""

    def __init__(self, message: str, console_tail: str = "") -> None:
        self.console_tail = console_tail
        text = message if not console_tail else f"{message}\n--- console (tail) ---\n{console_tail}"
        super().__init__(text)
