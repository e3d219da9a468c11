"""Which site a type belongs to: the names every site's module declares (definition/names.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..definition.names import SELINUX_PREFIX, TYPE_ROLES, site_name_from_identifier
from ..definition.site import Site

MAIL_HELPER = "mail"  # the role of the site's mail() helper domain (names.SiteNames.mail_helper)


@dataclass(frozen=True)
class Owner:
    """A type of a site's module: the site (None when no definition in sites.d/ declares it) and its role."""

    site_name: str
    role: str  # one of names.TYPE_ROLES ("" is the domain), or "?" for a sitepolicy type no role explains
    site: Site | None

    @property
    def is_domain(self) -> bool:
        return self.role == ""

    @property
    def what(self) -> str:
        return {
            "": "php-fpm domain",
            "exec": "entry type",
            "content": "docroot (read-only)",
            "rw": "writable directories",
            "sessions": "PHP sessions",
            "tmp": "tmp",
            "log": "logs",
            "run": "run directory and socket",
            "conf": "pool configuration",
            MAIL_HELPER: "mail() helper domain",
        }.get(self.role, "type")


class Owners:
    """type -> Owner for the project's sites; a ``sitepolicy_`` type of no defined site is decoded from its name."""

    def __init__(self, sites: Sequence[Site]) -> None:
        self._types: dict[str, Owner] = {}
        for site in sites:
            for role, type_name in site.names.types.items():
                self._types[type_name] = Owner(site.name, role, site)
            self._types[site.names.mail_helper] = Owner(site.name, MAIL_HELPER, site)

    def __call__(self, type_name: str) -> Owner | None:
        if type_name in self._types:
            return self._types[type_name]
        if not type_name.startswith(SELINUX_PREFIX) or not type_name.endswith("_t"):
            return None
        stem = type_name[: -len("_t")]
        for role in sorted((*TYPE_ROLES, MAIL_HELPER), key=len, reverse=True):
            candidate = stem[: -len(role) - 1] if role else stem
            if role and not stem.endswith("_" + role):
                continue
            try:
                return Owner(site_name_from_identifier(candidate), role, None)
            except ValueError:
                continue
        return Owner(type_name, "?", None)
