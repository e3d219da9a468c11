"""Policy headers a module compiles against, and the names the base policy already uses."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import DefinitionError, SitepolicyError
from ..targets import Target
from .site import Site


@dataclass(frozen=True)
class BasePolicyNames:
    """Module and type names of an installed policy store; a site must add none of them again."""

    store: str
    modules: frozenset[str]
    types: frozenset[str]


@lru_cache(maxsize=4)
def base_policy_names(store: str, root: Path = Path("/")) -> BasePolicyNames | None:
    """Names in ``root``'s policy store ``store``, or None when this host has no such store."""
    active = root / "var/lib/selinux" / store / "active"
    policy_dir = root / "etc/selinux" / store / "policy"
    if not active.is_dir() or not policy_dir.is_dir():
        return None
    modules = frozenset(p.name for p in (active / "modules").glob("*/*") if p.is_dir())
    kernel_policies = sorted(policy_dir.glob("policy.*"))
    if not kernel_policies:
        return None
    import setools  # the OS's python3-setools; imported here so rendering needs no SELinux stack

    policy = setools.SELinuxPolicy(str(kernel_policies[-1]))
    types = frozenset(str(t) for t in policy.types()) | frozenset(str(a) for a in policy.typeattributes())
    return BasePolicyNames(store, modules, types)


def check_against_base(sites: list[Site], names: BasePolicyNames | None) -> None:
    """Refuse a site whose type names the base policy (or any other module) already uses.

    A store that already holds the site's own module (a host that installed an earlier build)
    naturally has its types: that is the same site, not a clash.
    """
    if names is None:
        return
    for site in sites:
        if site.names.module in names.modules:
            continue
        for type_name in site.names.types.values():
            if type_name in names.types:
                raise DefinitionError(
                    site.source,
                    "site",
                    site.name,
                    f"a name whose SELinux type ({type_name}) the {names.store} policy does not already define",
                )


def host_store_names(target: Target, root: Path = Path("/")) -> BasePolicyNames | None:
    try:
        return base_policy_names(target.store, root)
    except Exception as exc:  # a broken local store must not hide behind a traceback
        raise SitepolicyError(f"cannot read the {target.store} policy store on this host: {exc}") from exc
