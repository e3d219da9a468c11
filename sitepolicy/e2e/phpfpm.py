"""The stand-in php-fpm RPM of the php-fpm scenario (issue 15): built on the host, upgraded in the guest.

On a target whose php-fpm is an RPM (el9: /usr/sbin/php-fpm from `php-fpm`), the runtime's file trigger must
try-restart every site pool once when that package is upgraded. The guest's userspace is Debian's, so the
package is a stand-in: releases 1 and 2 of a package with the target's name that owns the target's path, with
the bytes of the guest image's own php-fpm (read from the image with debugfs) plus a trailer naming the release,
so that each release is a different file and the pools keep working on it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from jinja2 import Environment, StrictUndefined

from ..errors import E2EError
from ..package.rpmbuild import rpmbuild
from ..targets import Target
from ..tools import require_tool, run

# The guest's own php-fpm (Debian 12's), the bytes every release of the stand-in carries.
GUEST_PHP_FPM = "/usr/sbin/php-fpm8.2"
VERSION = "8.2"
RELEASES = ("1", "2")
SPEC = Path(__file__).parent / "guestfiles" / "php-fpm-stand-in.spec"
# Where the stand-in's %post records the label rpm gave the binary (reconcile then restores the policy's).
RPM_LABEL_FILE = "/run/sitepolicy-e2e-php-fpm-rpm-label"


def trailer(release: str) -> bytes:
    """What ends each release's binary (after the ELF's last byte; the loader never reads it)."""
    return f"\nsitepolicy-e2e stand-in php-fpm release {release}\n".encode()


def build_stand_in(image_root: Path, target: Target, dest: Path) -> list[Path]:
    """Releases 1 and 2 of the stand-in `target.php_fpm_package`, owning `target.php_fpm`, in release order."""
    require_tool("debugfs", "e2fsprogs")
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    binary = dest / "php-fpm8.2"
    # debugfs opens the image read-only; it reports a missing file on stderr and still exits 0.
    run(["debugfs", "-R", f"dump {GUEST_PHP_FPM} {binary}", image_root], clean=True, timeout=120)
    if not binary.is_file() or binary.stat().st_size == 0:
        raise E2EError(f"{image_root} has no {GUEST_PHP_FPM} to build the stand-in {target.php_fpm_package} from")
    template = Environment(undefined=StrictUndefined, keep_trailing_newline=True).from_string(SPEC.read_text())
    rpms = []
    for release in RELEASES:
        top = dest / f"top-{release}"
        sources = top / "SOURCES"
        sources.mkdir(parents=True)
        (sources / "php-fpm").write_bytes(binary.read_bytes() + trailer(release))
        spec = top / f"{target.php_fpm_package}.spec"
        spec.write_text(
            template.render(
                name=target.php_fpm_package,
                version=VERSION,
                release=release,
                path=str(target.php_fpm),
                rpm_label_file=RPM_LABEL_FILE,
            )
        )
        out = dest / "rpms"
        rpmbuild(
            ["-bb", "--target", "x86_64", spec],
            top,
            {"_sourcedir": str(sources), "_rpmdir": str(out), "_binary_payload": "w6.gzdio"},
        )
        rpms.append(_one(out, f"{target.php_fpm_package}-{VERSION}-{release}.x86_64.rpm"))
    return rpms


def _one(out: Path, name: str) -> Path:
    found = list(out.rglob(name))
    if len(found) != 1:
        raise E2EError(f"rpmbuild of the stand-in php-fpm gave {[p.name for p in out.rglob('*.rpm')]}, not {name}")
    return found[0]
