"""The names the base module and the site CIL modules share: sitepolicy's own attributes and permission sets.

None ends in ``_t`` (every site type does) and each is ``sitepolicy_`` plus a single label, while every
site identifier holds at least two (a site name has 2+ DNS labels), so none can be a site's name.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..definition.names import TYPE_ROLES
from ..definition.site import Network

BASE_MODULE = "sitepolicy_base"

# A site type of each role joins the attribute of its role; the base puts that attribute into domain,
# file_type, logfile, pidfile ... as the target's interfaces do.
ROLE_ATTRIBUTES: dict[str, str] = {role: f"sitepolicy_{role or 'domain'}" for role in TYPE_ROLES}
DOCROOT_ATTRIBUTES: dict[str, str] = {
    "/home": "sitepolicy_docroot_home",
    "/opt": "sitepolicy_docroot_opt",
    "/data": "sitepolicy_docroot_default",
    "/web": "sitepolicy_docroot_default",
}
NETWORK_ATTRIBUTE = "sitepolicy_network"  # any network entry: tcp/udp sockets and DNS
NEED_ATTRIBUTES: dict[str, str] = {need.value: f"sitepolicy_net_{need.value}" for need in Network}

# The roles whose rules from the site domain onto its own type of that role the site module writes,
# each with one classpermission the base defines as the target spells the refpolicy patterns.
PERM_ROLES: tuple[str, ...] = tuple(role for role in TYPE_ROLES if role)
PLACEHOLDER_PREFIX = "sitepolicy_perm_"  # the base's placeholder types for those permission sets


@dataclass(frozen=True)
class PermSet:
    """One permission set: the placeholder pair the base's .te writes the patterns on, and its CIL name."""

    role: str

    @property
    def source(self) -> str:
        return f"{PLACEHOLDER_PREFIX}{self.role}"

    @property
    def target(self) -> str:
        return f"{PLACEHOLDER_PREFIX}{self.role}_on"

    @property
    def name(self) -> str:
        return f"sitepolicy_{self.role}_perms"


PERM_SETS: dict[str, PermSet] = {role: PermSet(role) for role in PERM_ROLES}


def base_attributes() -> tuple[str, ...]:
    """Every attribute the base declares (as a placeholder type in its .te)."""
    names = [*ROLE_ATTRIBUTES.values(), *dict.fromkeys(DOCROOT_ATTRIBUTES.values()), NETWORK_ATTRIBUTE]
    return tuple(names + list(NEED_ATTRIBUTES.values()))
