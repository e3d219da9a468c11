"""Policy headers a module compiles against, and the names the base policy already uses."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import DefinitionError, SitepolicyError, TargetError
from ..targets import HOST_DEVEL_DIR, Target, host_target
from .policy_version import PolicyVersion, resolve_policy_version
from .site import Site


@dataclass(frozen=True)
class Headers:
    """A devel tree: the Makefile and include/ that `make -f DIR/Makefile x.pp` compiles with."""

    directory: Path
    is_host: bool
    # The selinux-policy version these headers stand for: the -selinux package requires it as a floor.
    policy_version: PolicyVersion | None = None

    @property
    def makefile(self) -> Path:
        return self.directory / "Makefile"


def resolve_headers(target: Target, headers_dir: Path | None, policy_version: str | None = None) -> Headers:
    """The host's own headers for the host's target; any other target needs --headers DIR.

    Also the policy version they stand for (policy_version.py): ``policy_version`` (--policy-version),
    else the host's installed policy or the VERSION file beside the tree.
    """
    headers = _resolve_directory(target, headers_dir)
    version = resolve_policy_version(target.store, headers.directory, headers.is_host, policy_version)
    return Headers(headers.directory, headers.is_host, version)


def _resolve_directory(target: Target, headers_dir: Path | None) -> Headers:
    if headers_dir is not None:
        directory = headers_dir.resolve()
        if not (directory / "Makefile").is_file() or not (directory / "include").is_dir():
            raise TargetError(
                f"--headers {headers_dir}: not a policy devel tree (expected Makefile and include/ in it, "
                "e.g. usr/share/selinux/devel unpacked from the target's selinux-policy-devel RPM)"
            )
        return Headers(directory, is_host=False)
    host = host_target()
    if target.name != host.name:
        raise TargetError(
            f"target {target.name} needs its own policy headers, and this host is {host.name}: "
            f"pass --headers DIR (the target's selinux-policy-devel tree), or build in mock"
        )
    if not (HOST_DEVEL_DIR / "Makefile").is_file():
        raise TargetError(
            f"{HOST_DEVEL_DIR}/Makefile is missing: install selinux-policy-dev (Debian/Ubuntu) "
            "or selinux-policy-devel (Fedora/EL)"
        )
    return Headers(HOST_DEVEL_DIR, is_host=True)


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


PP_TO_CIL = Path("/usr/libexec/selinux/hll/pp")  # policycoreutils' converter, on Debian and Fedora alike


def module_cil(pp: Path) -> str:
    """A compiled module (.pp or .pp.bz2) as CIL text, via the converter semodule itself uses."""
    import bz2
    import tempfile

    from ..tools import run

    data = pp.read_bytes()
    if pp.suffix == ".bz2":
        data = bz2.decompress(data)
    # The converter reads a plain file; decompress into a directory of our own, never beside the input.
    with tempfile.TemporaryDirectory(prefix="sitepolicy-pp-") as work:
        plain = Path(work) / "module.pp"
        plain.write_bytes(data)
        return run([PP_TO_CIL, plain], hint="is policycoreutils installed?")


def declared_types(cil: str) -> set[str]:
    """Types a module declares (not those it only requires)."""
    return {line[len("(type ") : -1] for line in cil.splitlines() if line.startswith("(type ") and line.endswith(")")}


def compile_module(sources_dir: Path, headers: Headers, module: str) -> Path:
    """Compile ``sources_dir/<module>.te`` (+ .fc, .if) with the devel Makefile, as the spec's %build does.

    The Makefile reads every .if in the directory, so each module needs a directory of its own.
    """
    from ..tools import require_tool, run

    require_tool("make", "make")
    run(
        ["make", "-f", headers.makefile, f"HEADERDIR={headers.directory / 'include'}", f"{module}.pp"],
        cwd=sources_dir,
        hint=f"compiling the policy module {module} against {headers.directory}",
    )
    return sources_dir / f"{module}.pp"
