"""Glue between invoke and the library: one optional positional argument, errors to exit codes."""

from __future__ import annotations

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
