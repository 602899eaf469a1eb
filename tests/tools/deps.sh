#!/usr/bin/env bash
# Make sure the host tools poketorture needs are present.
#
# Runs at the start of every run-qemu.sh and `make test`, so the common case
# (everything installed) must be a quick no-op: it only tests commands and
# files. On a fresh Debian 12 machine (CI runs as root, no terminal, no
# stdin) it installs the missing packages; as another user it names them.
set -euo pipefail

readonly ME=deps.sh

# Each requirement: "package|kind|what", kind being cmd (a command on PATH),
# file/dir (a path) or perl (a Perl module). Several requirements may map to
# the same package; it is installed once.
readonly REQUIREMENTS=(
    "qemu-system-x86|cmd|qemu-system-x86_64"
    "nasm|cmd|nasm"
    "grub-common|cmd|grub-mkrescue"
    "grub-pc-bin|dir|/usr/lib/grub/i386-pc"
    "grub-efi-amd64-bin|dir|/usr/lib/grub/x86_64-efi"
    "xorriso|cmd|xorriso"
    "mtools|cmd|mformat"
    "ovmf|file|/usr/share/OVMF/OVMF_CODE_4M.fd"
    "ovmf|file|/usr/share/OVMF/OVMF_VARS_4M.fd"
    "perl|perl|TAP::Parser"
    "build-essential|cmd|gcc"
    "build-essential|cmd|make"
    "libcmocka-dev|file|/usr/include/cmocka.h"
    "gnuplot-nox|cmd|gnuplot"
    "parallel|cmd|parallel"
    "gdb|cmd|gdb"
    "util-linux|cmd|flock"
)

present() {
    local kind=$1 what=$2
    case $kind in
        cmd) command -v "$what" >/dev/null 2>&1 ;;
        file) [[ -f $what ]] ;;
        dir) [[ -d $what ]] ;;
        perl) command -v perl >/dev/null 2>&1 && perl -M"$what" -e 1 2>/dev/null ;;
    esac
}

# Prints the missing packages, one per line, without duplicates.
missing_packages() {
    local req pkg kind what
    for req in "${REQUIREMENTS[@]}"; do
        IFS='|' read -r pkg kind what <<<"$req"
        present "$kind" "$what" || echo "$pkg"
    done | sort -u
}

# apt-get with the settings a headless root run needs: no questions, no
# recommends (qemu's would pull a GUI), and patience for a held dpkg lock.
apt_get() {
    DEBIAN_FRONTEND=noninteractive apt-get -q -y \
        -o DPkg::Lock::Timeout=300 --no-install-recommends "$@" </dev/null
}

# A fresh machine may have empty or stale package lists: then the install
# fails with "not found" style errors and an update fixes it. Other errors
# are reported as they are.
install_packages() {
    local out
    echo "$ME: installing: $*"
    if out=$(apt_get install "$@" 2>&1); then
        return 0
    fi
    if ! grep -Eq 'Unable to locate package|has no installation candidate|is not available|Failed to fetch|404 +Not Found' <<<"$out"; then
        printf '%s\n' "$out" >&2
        return 1
    fi
    echo "$ME: package lists look stale; running apt-get update once"
    apt_get update >/dev/null
    apt_get install "$@"
}

main() {
    local -a pkgs
    mapfile -t pkgs < <(missing_packages)
    ((${#pkgs[@]} == 0)) && return 0

    if ((EUID != 0)); then
        echo "$ME: missing packages: ${pkgs[*]}" >&2
        echo "$ME: as root run: apt-get install ${pkgs[*]}" >&2
        exit 1
    fi
    if ! install_packages "${pkgs[@]}"; then
        echo "$ME: could not install: ${pkgs[*]}" >&2
        exit 1
    fi
    mapfile -t pkgs < <(missing_packages)
    if ((${#pkgs[@]} != 0)); then
        echo "$ME: still missing after install: ${pkgs[*]}" >&2
        exit 1
    fi
}

main "$@"
