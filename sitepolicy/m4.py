"""m4, as the policy devel Makefile runs it: quoting definition values, and running it the same way.

What the devel Makefile (include/Makefile, identical in this respect on Debian and EL 8/9/10/Fedora)
does with each file of a module X:

* X.if: ``m4 support/*.spt include/*/*.if ./*.if iferror.m4`` into tmp/all_interfaces.conf, whose
  output is discarded (divert(-1)) but whose interface() calls define macros, for every .if of the
  build directory at once;
* X.te: ``m4 -D... -s support/*.spt tmp/all_interfaces.conf X.te`` then checkmodule;
* X.fc: ``m4 -D... support/*.spt X.fc`` into tmp/X.mod.fc, which semodule_package stores in the .pp
  as it is (the support files' comments included).

So every builtin and every refpolicy support macro (and in the .te every interface) is live.
Text after ``#`` on a line is an m4 comment and is copied unexpanded; everything else is scanned.
m4 expands WORDS: a DNS label or path component such as ``dnl``,
``divnum``, ``include``, ``esyscmd`` or ``shiftn`` is a macro call, and a ``(`` right after it opens
its argument list. So every value a definition contributes reaches m4 inside m4 quotes (`...'),
which m4 copies to its output once, without expanding anything in them. The allow-lists of
sitepolicy.site admit no quote character, so a value can never close the quote early.

Names derived from the site name (module, types, interfaces) are single m4 words that start with
the fixed prefix ``sitepolicy_``, which no m4 builtin and no refpolicy macro uses
(:func:`macros_with_prefix` proves it for a devel tree), and each module is compiled in a directory
of its own, so no other site's interfaces are defined while it is read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from .errors import SitepolicyError
from .tools import run

OPEN_QUOTE = "`"
CLOSE_QUOTE = "'"
M4_TIMEOUT = 60.0  # seconds; m4 on one module takes well under one


class M4QuoteError(SitepolicyError):
    """A value to be quoted for m4 contains an m4 quote character (validation should have refused it)."""


def m4_quote(value: object) -> str:
    """``value`` between m4 quotes: m4 outputs it literally, expanding no word in it."""
    text = str(value)
    if OPEN_QUOTE in text or CLOSE_QUOTE in text:
        raise M4QuoteError(f"{text!r} contains an m4 quote character and cannot be quoted for m4")
    return f"{OPEN_QUOTE}{text}{CLOSE_QUOTE}"


def support_files(headers_dir: Path) -> list[Path]:
    """The support macros the Makefile puts before every .te and .fc: include/support/*.spt, sorted as make does."""
    return sorted((headers_dir / "include" / "support").glob("*.spt"))


_ASSIGNMENT = re.compile(r"^\s*(?:override\s+)?([A-Z_]+)\s*[?:]?=(.*)$")


def makefile_params(headers_dir: Path) -> list[str]:
    """The -D options the devel Makefile passes to m4 for this tree (mcs/mls, distro, systemd, category counts)."""
    build_conf = headers_dir / "include" / "build.conf"
    conf: dict[str, str] = {}
    if build_conf.is_file():
        for line in build_conf.read_text().splitlines():
            match = _ASSIGNMENT.match(line)
            if match:
                conf[match.group(1)] = match.group(2).strip()
    params = []
    kind = conf.get("TYPE", "mcs")
    if kind in ("mls", "mcs"):
        params += ["-D", f"enable_{kind}"]
    if conf.get("DISTRO"):
        params += ["-D", f"distro_{conf['DISTRO']}"]
    if conf.get("SYSTEMD") == "y":
        params += ["-D", "init_systemd"]
    if conf.get("DIRECT_INITRC") == "y":
        params += ["-D", "direct_sysadm_daemon"]
    if conf.get("UBAC") == "y":
        params += ["-D", "enable_ubac"]
    params += [arg for opt in conf.get("CUSTOM_BUILDOPT", "").split() for arg in ("-D", opt)]
    params += ["-D", f"mls_num_sens={conf.get('MLS_SENS', '16')}"]
    params += [
        "-D",
        f"mls_num_cats={conf.get('MLS_CATS', '1024')}",
        "-D",
        f"mcs_num_cats={conf.get('MCS_CATS', '1024')}",
    ]
    return params


def run_m4(headers_dir: Path, files: Sequence[Path], *, synclines: bool = False, timeout: float = M4_TIMEOUT) -> str:
    """m4 over the target's support macros and ``files``, as the Makefile runs it for a .fc (``-s`` for a .te)."""
    argv: list[str | Path] = ["m4", *makefile_params(headers_dir)]
    if synclines:
        argv.append("-s")
    argv += [*support_files(headers_dir), *files]
    return run(argv, hint=f"m4 with the support macros of {headers_dir}", timeout=timeout)


_DEFINITION = re.compile(r"(?:define|interface|template)\(`([A-Za-z_][A-Za-z0-9_]*)'")


def macros_with_prefix(headers_dir: Path, prefix: str) -> set[str]:
    """Macro names a devel tree defines (support macros and every interface) that start with ``prefix``."""
    found: set[str] = set()
    include = headers_dir / "include"
    for path in [*support_files(headers_dir), *include.rglob("*.if")]:
        for name in _DEFINITION.findall(path.read_text(errors="replace")):
            if name.startswith(prefix):
                found.add(name)
    return found
