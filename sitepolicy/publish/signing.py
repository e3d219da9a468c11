"""GPG signing of packages (rpmsign) and of repository metadata (a detached, armored signature).

The key lives in the user's gpg keyring (GNUPGHOME is honoured). Debian's rpm defaults %__gpg to
/usr/bin/gpg2, which does not exist there: every rpmsign call names the gpg binary explicitly.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import SitepolicyError
from ..tools import require_tool, run

KEY_FILE = "RPM-GPG-KEY-sitepolicy"
# What a user may pass as --sign: a key id, a fingerprint or an e-mail/name; never an option.
KEY_SPEC = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._+ <>-]{0,199}$")


class SigningError(SitepolicyError):
    exit_code = 2


@dataclass(frozen=True)
class SigningKey:
    fingerprint: str  # 40 hex digits, upper case, as gpg prints it

    @property
    def key_id(self) -> str:
        """The long key id rpm prints for a signature (lower case)."""
        return self.fingerprint[-16:].lower()


def _gpg() -> str:
    return require_tool("gpg", "gnupg (Debian/Ubuntu) or gnupg2 (Fedora/EL)")


def resolve_key(spec: str) -> SigningKey:
    """The one secret key ``spec`` names; refused when it names none or several."""
    if not KEY_SPEC.fullmatch(spec):
        raise SigningError(f"--sign {spec!r}: a gpg key id, fingerprint or user id")
    try:
        listing = run([_gpg(), "--batch", "--with-colons", "--list-secret-keys", "--", spec])
    except SitepolicyError as exc:
        raise SigningError(f"--sign {spec!r}: no secret key of that name in the gpg keyring") from exc
    fingerprints = []
    expect_fpr = False
    for line in listing.splitlines():
        fields = line.split(":")
        if fields[0] == "sec":
            expect_fpr = True
        elif fields[0] == "fpr" and expect_fpr:
            fingerprints.append(fields[9])
            expect_fpr = False
    if len(fingerprints) != 1:
        raise SigningError(
            f"--sign {spec!r} names {len(fingerprints)} secret keys ({', '.join(fingerprints) or 'none'}): "
            "give the fingerprint of one"
        )
    return SigningKey(fingerprints[0].upper())


def sign_packages(paths: list[Path], key: SigningKey) -> None:
    """Sign RPMs in place with rpmsign --addsign."""
    if not paths:
        return
    require_tool("rpmsign", "rpm (Debian/Ubuntu) or rpm-sign (Fedora/EL)")
    run(
        [
            "rpmsign",
            "--addsign",
            "--define",
            f"__gpg {shutil.which('gpg') or '/usr/bin/gpg'}",
            "--define",
            f"_gpg_name {key.fingerprint}",
            *paths,
        ],
        hint="rpmsign could not sign; is the key's passphrase available to gpg (gpg-agent) in batch mode?",
    )


def sign_file(path: Path, key: SigningKey) -> Path:
    """A detached, armored signature ``<path>.asc`` (what dnf's repo_gpgcheck reads for repomd.xml)."""
    signature = path.with_name(path.name + ".asc")
    run(
        [
            _gpg(),
            "--batch",
            "--yes",
            "--local-user",
            key.fingerprint,
            "--armor",
            "--detach-sign",
            "--output",
            signature,
            path,
        ]
    )
    return signature


def export_public_key(key: SigningKey, destination: Path) -> Path:
    text = run([_gpg(), "--batch", "--armor", "--export", key.fingerprint])
    if "BEGIN PGP PUBLIC KEY BLOCK" not in text:
        raise SigningError(f"gpg exported no public key for {key.fingerprint}")
    destination.write_text(text[text.index("-----BEGIN") :])
    return destination
