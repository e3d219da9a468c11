"""The names the base module and the site CIL modules share: sitepolicy's own attributes and permission sets.

None ends in ``_t`` (every site type does) and each is ``sitepolicy_`` plus a single label, while every
site identifier holds at least two (a site name has 2+ DNS labels), so none can be a site's name.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..definition.names import TYPE_ROLES
from ..definition.site import Network
from .basecil import BaseNames

BASE_MODULE = "sitepolicy_base"
# The version of what the base offers site modules (attribute, permission-set and macro names): a -selinux
# package requires a runtime providing exactly it. Raise it whenever a site module could not link otherwise.
BASE_INTERFACE = "1"

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
MAIL_ATTRIBUTE = "sitepolicy_mail"  # the helper domain of each site with mail: sendmail (site.te.j2)
MAIL_SENDER_ATTRIBUTE = "sitepolicy_mail_sender"  # the site domains with mail: sendmail
MAIL_CONTENT_ATTRIBUTE = "sitepolicy_mail_content"  # their docroots (the mail domain's search is not logged)
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

PAIR_PREFIX = "sitepolicy_pair_"  # the base's placeholder types for rules between two types of one site


@dataclass(frozen=True)
class Pair:
    """Rules between two types of one site that are more than a permission set (a type_transition naming
    both, rules in both directions or onto other types): the base's .te writes them on a placeholder
    pair, which becomes a CIL macro taking the two types; each site's module calls it with its own."""

    name: str

    @property
    def first(self) -> str:
        return f"{PAIR_PREFIX}{self.name}"

    @property
    def second(self) -> str:
        return f"{PAIR_PREFIX}{self.name}_on"

    @property
    def macro(self) -> str:
        return f"sitepolicy_{self.name}_pair"


# mail: the site domain runs /bin/sh into its own mail helper (corecmd_shell_domtrans, as the target has it).
PAIRS: dict[str, Pair] = {"mail": Pair("mail")}


def base_attributes() -> tuple[str, ...]:
    """Every attribute the base declares (as a placeholder type in its .te)."""
    names = [*ROLE_ATTRIBUTES.values(), *dict.fromkeys(DOCROOT_ATTRIBUTES.values()), NETWORK_ATTRIBUTE]
    names += [MAIL_ATTRIBUTE, MAIL_SENDER_ATTRIBUTE, MAIL_CONTENT_ATTRIBUTE]
    return tuple(names + list(NEED_ATTRIBUTES.values()))


def base_names() -> BaseNames:
    """What basecil.py needs to know of these names, to turn the compiled base's placeholders into them."""
    return BaseNames(
        base_attributes(),
        tuple((p.source, p.target, p.name) for p in PERM_SETS.values()),
        tuple((p.name, p.first, p.second, p.macro) for p in PAIRS.values()),
        PLACEHOLDER_PREFIX,
    )
