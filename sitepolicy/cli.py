"""Glue between invoke and the library: one optional positional argument, errors to exit codes."""

from __future__ import annotations

import sys
from typing import Any

from invoke import Exit, Task
from invoke.parser import Argument

from .errors import SitepolicyError


class _SatisfiesPositional(Argument):
    """A flag (--all) that, once given, stands in for the task's positional argument."""

    positional_partner: Argument

    def set_value(self, value: Any, cast: bool = True) -> None:
        super().set_value(value, cast)
        if self.positional_partner.raw_value is None:
            self.positional_partner.set_value("", cast=False)


class SiteOrAll(Task):
    """A task taking `NAME` or `--all`.

    invoke makes every positional argument mandatory; `invoke build-site --all` must work without
    a name, so the --all flag marks the `site` argument as given.
    """

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        args = super().get_arguments(ignore_unknown_help)
        site = next(a for a in args if a.name == "site")
        out: list[Argument] = []
        for arg in args:
            if arg.name == "all":
                flag = _SatisfiesPositional(
                    names=arg.names, kind=arg.kind, default=arg.default, help=arg.help, attr_name=arg.attr_name
                )
                flag.positional_partner = site  # deep-copied together with the parser context
                arg = flag
            out.append(arg)
        return out


def exit_for(exc: SitepolicyError) -> Exit:
    """The message and exit status a task ends with; never a traceback."""
    return Exit(f"sitepolicy: {exc}", code=exc.exit_code)


class _OptionalPositional(Argument):
    """A positional argument the command line may leave out.

    invoke's parser eats the next plain token for a positional argument whose value is None, and
    at the end of the task's arguments (Parser.complete_context) refuses the command if one is still
    None. This argument reads as None while tokens are parsed, and as "" in that final check only.
    """

    @property  # type: ignore[override]
    def value(self) -> Any:
        raw = self._value if self._value is not None else self.default
        if raw is None and _called_from("complete_context"):
            return ""
        return raw

    @value.setter
    def value(self, arg: str) -> None:
        self.set_value(arg, cast=True)


def _called_from(function: str, depth: int = 4) -> bool:
    frame = sys._getframe(2)
    for _ in range(depth):
        if frame is None:
            return False
        if frame.f_code.co_name == function:
            return True
        frame = frame.f_back
    return False


class OptionalSite(Task):
    """A task taking an optional `NAME` (`invoke verify` checks every site, `invoke verify NAME` one)."""

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        out: list[Argument] = []
        for arg in super().get_arguments(ignore_unknown_help):
            if arg.name == "site":
                arg = _OptionalPositional(
                    names=arg.names,
                    kind=arg.kind,
                    default=None,
                    help=arg.help,
                    positional=True,
                    attr_name=arg.attr_name,
                )
            out.append(arg)
        return out
