"""Quick tests of the harness's host side: the cache keys and the disk transport (no guest)."""

from __future__ import annotations

import dataclasses
import io
import tarfile
from pathlib import Path

import pytest

from sitepolicy.e2e.guest import _extract, _pack_payload
from sitepolicy.e2e.image import ImageSpec
from sitepolicy.errors import GuestError


def test_cache_keys_follow_their_inputs() -> None:
    spec = ImageSpec(mirror="http://mirror.example/debian")
    assert spec.image_key() == ImageSpec(mirror="http://mirror.example/debian").image_key()
    more = dataclasses.replace(spec, packages=(*spec.packages, "strace"))
    assert more.rootfs_key() != spec.rootfs_key() and more.image_key() != spec.image_key()
    configured = dataclasses.replace(spec, configure=spec.configure + "\ntrue\n")
    # a configuration change rebuilds the image, not the (slow) debootstrap tree
    assert configured.rootfs_key() == spec.rootfs_key() and configured.image_key() != spec.image_key()
    assert dataclasses.replace(spec, mirror="http://other.example/debian").rootfs_key() != spec.rootfs_key()


def test_the_app_layer_is_keyed_on_the_base_tree_and_its_packages() -> None:
    spec = ImageSpec(mirror="http://mirror.example/debian")
    app = ImageSpec.default("http://mirror.example/debian", app=True)
    # the app's packages are a layer: the base tree (and its debootstrap) is shared with the default image
    assert app.rootfs_key() == spec.rootfs_key() and spec.tree_key() == spec.rootfs_key()
    assert app.tree_key() == app.app_key() != app.rootfs_key() and app.image_key() != spec.image_key()
    fewer = dataclasses.replace(app, app_packages=app.app_packages[1:])
    assert fewer.app_key() != app.app_key() and fewer.image_key() != app.image_key()
    new_base = dataclasses.replace(app, packages=(*app.packages, "strace"))
    assert new_base.app_key() != app.app_key()


def test_payload_is_a_whole_number_of_mib(tmp_path: Path) -> None:
    src = tmp_path / "payload"
    src.mkdir()
    (src / "run.sh").write_text("echo hi\n")
    disk = tmp_path / "payload.tar"
    _pack_payload(src, disk)
    assert disk.stat().st_size % (1 << 20) == 0
    with tarfile.open(disk) as tar:
        assert tar.getnames() == ["run.sh"]


def _tar_with(tmp_path: Path, name: str, kind: bytes = tarfile.REGTYPE) -> Path:
    path = tmp_path / "results.img"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo(name)
        info.type = kind
        data = b"x"
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return path


@pytest.mark.parametrize(
    ("name", "kind"), [("../escape", tarfile.REGTYPE), ("/abs", tarfile.REGTYPE), ("link", tarfile.SYMTYPE)]
)
def test_results_refuse_entries_outside_plain_files(tmp_path: Path, name: str, kind: bytes) -> None:
    with pytest.raises(GuestError, match="unexpected entry"):
        _extract(_tar_with(tmp_path, name, kind), tmp_path / "out")


def test_results_unpack(tmp_path: Path) -> None:
    _extract(_tar_with(tmp_path, "./run.rc"), tmp_path / "out")
    assert (tmp_path / "out" / "run.rc").read_text() == "x"


def test_a_missing_tool_names_its_package() -> None:
    from sitepolicy.errors import ToolMissingError
    from sitepolicy.tools import require_tool

    with pytest.raises(ToolMissingError, match=r"no-such-qemu not found on PATH: install it \(apt-get install"):
        require_tool("no-such-qemu")
