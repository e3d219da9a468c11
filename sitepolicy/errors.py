"""The one exception family sitepolicy raises; tasks turn it into a message and an exit status."""

from __future__ import annotations

import reprlib
import shlex
from collections.abc import Sequence
from pathlib import Path

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 80
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 6
_SHORT.maxlevel = 2


def short_repr(value: object) -> str:
    """repr() bounded in length and depth: a hostile value must not come back whole in an error."""
    return _SHORT.repr(value)


class SitepolicyError(Exception):
    """Base of every error sitepolicy reports to a user."""

    exit_code = 1


class DefinitionError(SitepolicyError):
    """A site definition (or a set of them) is refused before anything is rendered."""

    exit_code = 2

    def __init__(self, file: Path | str, field: str, value: object, allowed: str) -> None:
        self.file = str(file)
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{self.file}: field '{field}': {short_repr(value)} is refused: {allowed}")


class TargetError(SitepolicyError):
    """A target profile or policy headers cannot be used on this build host."""

    exit_code = 2


class ToolError(SitepolicyError):
    """An external tool (rpmbuild, make, semodule, ...) failed; carries its command line and output."""

    def __init__(self, argv: Sequence[str], returncode: int, output: str, hint: str = "", head: str = "") -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output
        tail = "\n".join(output.strip().splitlines()[-40:])
        message = head or f"command failed (exit {returncode}): {shlex.join(self.argv)}"
        if hint:
            message += f"\n{hint}"
        if tail:
            message += f"\n--- last lines of its output ---\n{tail}"
        super().__init__(message)


class ToolTimeout(ToolError):
    """An external tool ran past its time limit; it and every process it started were killed."""

    def __init__(self, argv: Sequence[str], seconds: float, output: str, hint: str = "") -> None:
        self.seconds = seconds
        head = f"command did not finish within {seconds:g} s and was killed: {shlex.join(list(argv))}"
        super().__init__(argv, -9, output, hint, head)


class ToolMissingError(SitepolicyError):
    """A tool sitepolicy needs is not installed; the message says what to install."""

    def __init__(self, tool: str, message: str) -> None:
        self.tool = tool
        super().__init__(message)


class E2EError(SitepolicyError):
    """A failure of the end-to-end guest harness; the message says what failed and what to do."""


class GuestError(E2EError):
    """The guest hung, crashed or returned no results; carries the console tail."""

    def __init__(self, message: str, console_tail: str = "") -> None:
        self.console_tail = console_tail
        text = message if not console_tail else f"{message}\n--- console (tail) ---\n{console_tail}"
        super().__init__(text)
