"""Glue between invoke and the library: one optional positional argument, errors to exit codes."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

from invoke.exceptions import Exit
from invoke.parser.argument import Argument
from invoke.tasks import Task

from .errors import SitepolicyError

F = TypeVar("F", bound=Callable[..., Any])


def exit_for(exc: SitepolicyError) -> Exit:
    """The message and exit status a task ends with; never a traceback."""
    return Exit(f"sitepolicy: {exc}", code=exc.exit_code)


def boundary(body: F) -> F:
    """The task boundary: a SitepolicyError raised anywhere in ``body`` becomes its message and exit status.

    functools.wraps keeps the signature, which invoke reads for the task's arguments.
    """

    @functools.wraps(body)
    def task_body(*args: Any, **kwargs: Any) -> Any:
        try:
            return body(*args, **kwargs)
        except SitepolicyError as exc:
            raise exit_for(exc) from None

    return task_body  # type: ignore[return-value]


class _OptionalPositional(Argument):
    """A positional argument the command line may leave out.

    invoke's parser eats the next plain token for a positional argument whose value is None, and
    at the end of the task's arguments (Parser.complete_context) refuses the command if one is still
    None. This argument reads as None while tokens are parsed, and as "" in that final check only.
    """

    @property
    def value(self) -> Any:
        raw = self._value if self._value is not None else self.default
        if raw is None and _called_from("complete_context"):
            return ""
        return raw

    @value.setter
    def value(self, arg: str) -> None:
        self.set_value(arg, cast=True)


def _called_from(function: str, depth: int = 4) -> bool:
    frame: FrameType | None = sys._getframe(2)
    for _ in range(depth):
        if frame is None:
            return False
        if frame.f_code.co_name == function:
            return True
        frame = frame.f_back
    return False


class OptionalSite(Task[Callable[..., Any]]):
    """A task whose `site` argument is an optional positional: `invoke verify`, `invoke verify NAME`,
    `invoke build-site NAME` or `invoke build-site --all`."""

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
