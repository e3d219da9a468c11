"""The php-fpm scenario's stand-in RPM (issue 15), host side only: built from an image's php-fpm (no guest)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sitepolicy.e2e.phpfpm import GUEST_PHP_FPM, build_stand_in, trailer
from sitepolicy.errors import E2EError
from sitepolicy.inspect import read_payload_file
from sitepolicy.targets import get_target


def _image(tmp_path: Path, binary: bytes | None) -> Path:
    tree = tmp_path / "tree"
    (tree / "usr/sbin").mkdir(parents=True)
    if binary is not None:
        (tree / GUEST_PHP_FPM.lstrip("/")).write_bytes(binary)
    image = tmp_path / "root.ext4"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(tree), str(image), "8M"], check=True)
    return image


def _query(rpm: Path, fmt: str) -> str:
    return subprocess.run(["rpm", "-qp", "--qf", fmt, str(rpm)], capture_output=True, text=True, check=True).stdout


def test_the_stand_in_owns_the_targets_binary_with_the_images_bytes(tmp_path: Path) -> None:
    el9 = get_target("el9")
    binary = Path("/usr/bin/true").read_bytes()  # a real ELF: rpmbuild must neither strip it nor add build-id links
    first, second = build_stand_in(_image(tmp_path, binary), el9, tmp_path / "out")
    for rpm, release in ((first, "1"), (second, "2")):
        assert _query(rpm, "%{NAME} %{RELEASE} %{ARCH}") == f"{el9.php_fpm_package} {release} x86_64"
        assert _query(rpm, "[%{FILENAMES}\n]") == f"{el9.php_fpm}\n"  # only the binary: no build-id links
        # no library dependency (AutoReqProv: no); /bin/sh for %post (the guest installs it with --nodeps)
        assert all(r.startswith("rpmlib(") or r == "/bin/sh" for r in _query(rpm, "[%{REQUIRENAME}\n]").split())
        # not stripped: each release is the image's binary and its own trailer, a different file
        assert read_payload_file(rpm, str(el9.php_fpm)) == binary + trailer(release)
        assert _query(rpm, "[%{FILEMODES:perms}\n]") == "-rwxr-xr-x\n"
        # %post only records the label rpm wrote: putting it right is reconcile's job, which the scenario checks
        post = _query(rpm, "%{POSTIN}")
        assert f"stat -c %C {el9.php_fpm} > " in post and "restorecon" not in post


def test_an_image_without_php_fpm_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(E2EError, match=GUEST_PHP_FPM):
        build_stand_in(_image(tmp_path, None), get_target("el9"), tmp_path / "out")
