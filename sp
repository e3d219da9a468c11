#!/bin/sh
# sitepolicy's entry point on a fresh machine: installs what the project needs (OS packages, a
# virtualenv on the system python3 that sees the OS's rpm/selinux/setools bindings, pinned Python
# packages), once per change of those lists, then runs the command.
#
#   ./sp invoke build-site selinux.rskeens.com    build the example site
#   ./sp test [pytest args]                        run the whole test suite
#   ./sp test --quick                              the same without the enforcing-guest scenarios
#   ./sp setup                                     only install
set -eu

cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"

DEBIAN_PACKAGES="rpm rpmlint selinux-policy-dev selinux-policy-default checkpolicy semodule-utils
policycoreutils setools python3-setools python3-selinux python3-rpm python3-venv createrepo-c dnf
gnupg m4 make gawk bzip2 cpio qemu-system-x86 qemu-utils debootstrap e2fsprogs nginx-light apache2-bin"
FEDORA_PACKAGES="rpm-build rpmlint selinux-policy-devel selinux-policy-targeted checkpolicy
policycoreutils setools-console python3-setools python3-libselinux python3-rpm createrepo_c dnf
gnupg2 m4 make gawk bzip2 cpio qemu-system-x86-core qemu-img debootstrap e2fsprogs"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_os_packages() {
    if command -v apt-get >/dev/null 2>&1; then
        as_root apt-get update -qq
        # shellcheck disable=SC2086
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $DEBIAN_PACKAGES
    elif command -v dnf >/dev/null 2>&1; then
        # shellcheck disable=SC2086
        as_root dnf install -y $FEDORA_PACKAGES
    else
        echo "sp: neither apt-get nor dnf found; install the packages listed in ./sp by hand" >&2
        exit 1
    fi
}

setup() {
    stamp_key=$(printf '%s\n' "$DEBIAN_PACKAGES" "$FEDORA_PACKAGES" | cat - requirements.txt | sha256sum | cut -c1-16)
    stamp="$VENV/.sp-setup-$stamp_key"
    [ -f "$stamp" ] && return 0
    install_os_packages
    # The system python3 (not a pyenv or other interpreter on PATH): the OS bindings live there.
    /usr/bin/python3 -m venv --system-site-packages "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt
    rm -f "$VENV"/.sp-setup-*
    touch "$stamp"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
    setup)
        setup ;;
    invoke)
        setup
        exec "$VENV/bin/invoke" "$@" ;;
    test)
        setup
        "$VENV/bin/ruff" check sitepolicy tests tasks.py benchmarks
        "$VENV/bin/mypy"  # strict, on the library (pyproject.toml [tool.mypy])
        if [ "${1:-}" = "--quick" ]; then
            shift
            exec "$VENV/bin/python" -m pytest -m "not e2e" "$@"
        fi
        exec "$VENV/bin/python" -m pytest "$@" ;;
    *)
        sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
        exit 2 ;;
esac
