#!/usr/bin/env bash
# Provision QEMU 10 from Debian's bookworm-backports suite into the
# project's cache, beside the system QEMU and without touching it:
#
#   tests/tools/qemu10.sh          prints the path of a wrapper that runs it
#                                  (downloading and unpacking it on first use)
#   tests/tools/qemu10.sh --check  prints the path if it is there, else fails
#
# Why not `apt-get install -t bookworm-backports`: that replaces the system's
# 7.2, which stock Debian 12 users have and the suite must keep passing on.
# So apt runs with a private sources list and private state (its own lists
# and archive folders under the cache): the machine's apt configuration,
# package lists and installed packages stay as they were. The packages are
# unpacked with dpkg-deb -x, never installed (tests/tools/private-apt.sh).
#
# The archive is the one the system's apt already uses for bookworm (or
# $POKETORTURE_DEBIAN_MIRROR). The cache is $POKETORTURE_CACHE (default: .cache/ at the top of the
# repository). Re-provision by deleting it.
set -euo pipefail

readonly ME=qemu10.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly ROOT
CACHE=${POKETORTURE_CACHE:-$ROOT/.cache}
readonly DIR=$CACHE/qemu-10
readonly SUITE=bookworm-backports
readonly KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# The three packages QEMU 10's x86 system emulator is split into; its shared
# libraries come from the system's qemu-system-x86 7.2 dependencies (deps.sh
# installs that first), checked with ldd below.
readonly PACKAGES=(qemu-system-x86 qemu-system-common qemu-system-data)
readonly WRAPPER=$DIR/qemu-system-x86_64

# shellcheck source=tests/tools/private-apt.sh
. "$ROOT/tests/tools/private-apt.sh"

download() {
    local -a want=()
    local p
    for p in "${PACKAGES[@]}"; do
        want+=("$p/$SUITE")
    done
    echo "$ME: fetching ${PACKAGES[*]} from $SUITE into $DIR" >&2
    private_apt apt-get update --error-on=any >&2 || die "apt-get update of $SUITE failed (network? see above)"
    rm -rf "$DIR/debs"
    mkdir -p "$DIR/debs"
    (cd "$DIR/debs" && private_apt apt-get download "${want[@]}" >&2) ||
        die "apt-get download ${want[*]} failed (see above)"
}

# The wrapper: QEMU 10's own firmware folder first, then SeaBIOS from the
# system (qemu-system-data links its BIOS images there; Debian's seabios
# package, a dependency of the system QEMU, provides them). QEMU loads its
# modules from QEMU_MODULE_DIR; the system's 7.2 modules would not load.
write_wrapper() {
    local r=$DIR/root
    cat >"$WRAPPER" <<EOF
#!/bin/sh
# QEMU 10 from $SUITE, unpacked by tests/tools/qemu10.sh (not installed).
QEMU_MODULE_DIR=$r/usr/lib/x86_64-linux-gnu/qemu
export QEMU_MODULE_DIR
exec $r/usr/bin/qemu-system-x86_64 -L $r/usr/share/qemu -L /usr/share/seabios "\$@"
EOF
    chmod +x "$WRAPPER"
}

# A binary whose libraries are missing fails at every start: say which.
check_libraries() {
    local missing
    missing=$(ldd "$DIR/root/usr/bin/qemu-system-x86_64" 2>&1 | awk '/not found/ {print $1}' | sort -u)
    [[ -z $missing ]] || die "QEMU 10 needs libraries this system lacks: $(echo $missing);" \
        "install the system QEMU first (tests/tools/deps.sh) or the packages that provide them"
}

works() {
    [[ -x $WRAPPER ]] && "$WRAPPER" --version 2>/dev/null | grep -q '^QEMU emulator version 10\.'
}

main() {
    case ${1:-} in
        --check) works || exit 1; echo "$WRAPPER"; return ;;
        '') ;;
        *) echo "$ME: usage error: unknown argument '$1' (accepted: --check, or nothing)" >&2; exit 2 ;;
    esac
    if works; then
        echo "$WRAPPER"
        return
    fi
    # One provisioning at a time: the suite's workers may ask together.
    mkdir -p "$CACHE"
    exec 9>"$CACHE/qemu-10.lock"
    flock 9
    if works; then
        echo "$WRAPPER"
        return
    fi
    command -v dpkg-deb >/dev/null || die "needs dpkg-deb and apt-get (Debian)"
    if ((EUID != 0)); then
        die "QEMU 10 is not in $DIR yet; fetching it uses apt as root: run 'sudo $ROOT/tests/tools/qemu10.sh' once"
    fi
    setup_apt
    download
    unpack_debs
    check_libraries
    write_wrapper
    works || die "the unpacked QEMU does not start: $("$WRAPPER" --version 2>&1 | head -n 1)"
    echo "$ME: $("$WRAPPER" --version | head -n 1) ready" >&2
    echo "$WRAPPER"
}

main "$@"
