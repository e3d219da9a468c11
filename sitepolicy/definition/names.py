"""Every name a site produces, derived from its DNS name by one documented, injective encoding.

A DNS name here is lowercase labels of [a-z0-9-] joined by dots, and no label starts or ends with
'-'. So a '.' is always between two alphanumerics and '-' never touches a '.':

* SELinux identifiers (module, types) allow only [A-Za-z0-9_]. We write '.' as '_' and '-' as
  '__'. A run of underscores of odd length (always 1) was a dot; a run of even length 2k was k
  hyphens. Decoding is unique, so two sites never share an identifier. The fixed prefix
  ``sitepolicy_`` makes every identifier start with a letter and keeps it out of the names the
  base policy uses.
* RPM package, systemd unit and path names allow '.' and '-' as they are: the site name is used
  verbatim behind the fixed prefix ``sitepolicy-``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SELINUX_PREFIX = "sitepolicy_"
PACKAGE_PREFIX = "sitepolicy-"
SELINUX_SUFFIX = "-selinux"  # the binary package with the policy module
PHP_FPM_SUFFIX = "-php-fpm"  # the binary package with the pool and its unit
MODULE_SUFFIX = ".cil.bz2"  # a site's CIL module as its -selinux package installs it (issue 11's shape)
LEGACY_MODULE_SUFFIX = ".pp.bz2"  # a compiled module, as -selinux packages before issue 11 installed it

# sitepolicy-selinux-runtime: one per target; every -selinux package requires it (specs/runtime.spec.j2).
RUNTIME_PACKAGE = PACKAGE_PREFIX + "selinux-runtime"
RECONCILE = "/usr/libexec/sitepolicy/reconcile"
UNIT_DIR = "/usr/lib/systemd/system"  # %{_unitdir} on Fedora/EL; the site spec's fallback where rpm has none
PRESET_DIR = "/usr/lib/systemd/system-preset"  # %{_presetdir}
RUNTIME_STATE_DIR = "/var/lib/sitepolicy/runtime"  # a site name has 2+ DNS labels, so no site's state dir is this

# Build metadata every package carries: Provides: sitepolicy-target(<target>), sitepolicy-site(<site>) = <identity>.
TARGET_PROVIDE = re.compile(r"^sitepolicy-target\(([a-z0-9]+)\)$")
SITE_PROVIDE = re.compile(r"^sitepolicy-site\(([a-z0-9.-]+)\)$")


def target_provide(target_name: str) -> str:
    return f"{PACKAGE_PREFIX}target({target_name})"


def module_dir(store: str) -> str:
    """Where site packages install <module>.pp.bz2 (the Fedora -selinux layout); the runtime's triggers watch it."""
    return f"/usr/share/selinux/packages/{store}"


def fc_dir(store: str) -> str:
    """Where site packages install <module>.fc, the file contexts reconcile compares to relabel."""
    return f"/usr/share/sitepolicy/fc/{store}"


def repo_id(target_name: str) -> str:
    """The section name of a target's repository in sites.repo."""
    return PACKAGE_PREFIX + target_name


# Suffixes of the types every site module declares; verify and the templates share this list.
TYPE_ROLES: tuple[str, ...] = ("", "exec", "content", "rw", "sessions", "tmp", "log", "run", "conf")


def selinux_identifier(site_name: str) -> str:
    """Encode a validated DNS name as the stem of the site's SELinux identifiers."""
    return SELINUX_PREFIX + site_name.replace("-", "__").replace(".", "_")


def site_name_from_identifier(identifier: str) -> str:
    """Invert :func:`selinux_identifier` (used to prove, and test, that the encoding is injective)."""
    if not identifier.startswith(SELINUX_PREFIX):
        raise ValueError(f"{identifier!r} does not start with {SELINUX_PREFIX!r}")
    out: list[str] = []
    runs = identifier[len(SELINUX_PREFIX) :]
    i = 0
    while i < len(runs):
        if runs[i] != "_":
            out.append(runs[i])
            i += 1
            continue
        j = i
        while j < len(runs) and runs[j] == "_":
            j += 1
        length = j - i
        if length == 1:
            out.append(".")
        elif length % 2 == 0:
            out.append("-" * (length // 2))
        else:
            raise ValueError(f"{identifier!r} is not an encoded site name")
        i = j
    return "".join(out)


@dataclass(frozen=True)
class SiteNames:
    """The names derived from one site name; nothing else in sitepolicy invents a name."""

    site: str

    @property
    def stem(self) -> str:
        return selinux_identifier(self.site)

    module = stem  # the policy module is named by the stem itself

    def type(self, role: str) -> str:
        """The SELinux type for ``role`` (one of TYPE_ROLES); the domain is role ''."""
        if role not in TYPE_ROLES:
            raise KeyError(role)
        return f"{self.stem}_{role}_t" if role else f"{self.stem}_t"

    @property
    def domain(self) -> str:
        return self.type("")

    @property
    def types(self) -> dict[str, str]:
        return {role: self.type(role) for role in TYPE_ROLES}

    @property
    def mail_helper(self) -> str:
        """The domain of the shell the site starts for mail(), declared only with `mail: sendmail`; reserved
        (all_names) either way, so that turning mail on never collides with another site's name."""
        return f"{self.stem}_mail_t"

    @property
    def package(self) -> str:
        """Source package name; the binary packages are ``<package>-selinux`` and ``<package>-php-fpm``."""
        return PACKAGE_PREFIX + self.site

    @property
    def selinux_package(self) -> str:
        return self.package + SELINUX_SUFFIX

    @property
    def php_fpm_package(self) -> str:
        return self.package + PHP_FPM_SUFFIX

    def module_file(self, store: str) -> str:
        """Where the -selinux package installs the site's CIL module, for a policy store."""
        return f"{module_dir(store)}/{self.module}{MODULE_SUFFIX}"

    @property
    def unit(self) -> str:
        return f"{self.php_fpm_package}.service"

    def all_names(self) -> dict[str, str]:
        """Every name that must be unique across sites, keyed by what it names."""
        names = {
            "source package": self.package,
            "selinux package": self.selinux_package,
            "php-fpm package": self.php_fpm_package,
            "policy module": self.module,
            "systemd unit": self.unit,
        }
        names.update({f"SELinux type ({role or 'domain'})": t for role, t in self.types.items()})
        names["SELinux type (mail helper)"] = self.mail_helper
        return names
