#!/usr/bin/env bash
# Provision a pinned Debian 12 Linux 6.1 kernel, its headers and a static
# busybox into the project's cache, for the benchmark's Linux side
# (tests/linux/, docs/design.md §12.4):
#
#   tests/tools/linux61.sh          prints the cache folder (downloading and
#                                   unpacking on first use)
#   tests/tools/linux61.sh --check  prints it if it is there, else fails
#
# The folder holds root/ (the packages unpacked with dpkg -x, never
# installed), and three files naming what a build needs: vmlinuz (the
# kernel), headers (the kbuild tree to build a module against) and busybox.
# As in qemu10.sh, apt runs with a private sources list and private state
# under the cache: the machine's apt configuration and packages are
# untouched. The archive is the one the system's apt uses for bookworm (or
# $POKETORTURE_DEBIAN_MIRROR); the cache is $POKETORTURE_CACHE (default:
# .cache/ at the top of the repository). Re-provision by deleting it.
set -euo pipefail

readonly ME=linux61.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly ROOT
CACHE=${POKETORTURE_CACHE:-$ROOT/.cache}
readonly DIR=$CACHE/linux-6.1
readonly SUITE=bookworm
readonly KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# THE PIN. One Debian package version of the linux source package and the
# ABI name it builds (the N of linux-image-6.1.0-N-amd64). To change it, pick
# a pair the mirror offers (`apt-cache madison linux-headers-6.1.0-N-amd64`
# lists them; this script prints them when the pin is gone), set both here
# and delete $DIR. Debian replaces bookworm's kernel at each point release,
# so a pin does not last for ever: when it is gone this script says so
# rather than silently measuring another kernel.
readonly LINUX_VERSION=6.1.176-1
readonly LINUX_ABI=6.1.0-50
readonly PACKAGES=(
    "linux-image-$LINUX_ABI-amd64-unsigned=$LINUX_VERSION"
    "linux-headers-$LINUX_ABI-amd64=$LINUX_VERSION"
    "linux-headers-$LINUX_ABI-common=$LINUX_VERSION"
    "linux-kbuild-6.1=$LINUX_VERSION"
    busybox-static
)

# shellcheck source=tests/tools/private-apt.sh
. "$ROOT/tests/tools/private-apt.sh"

# The pin is gone from the mirror: name it and what is offered instead.
pin_gone() {
    local offered
    offered=$(private_apt apt-cache search --names-only '^linux-headers-6\.1\.0-[0-9]+-amd64$' 2>/dev/null |
        awk '{print $1}' | while read -r p; do
            private_apt apt-cache madison "$p" 2>/dev/null | awk -v p="$p" '{print p "=" $3}'
        done | sort -u | paste -sd ' ')
    die "Linux $LINUX_VERSION (ABI $LINUX_ABI) is not on the $SUITE mirror any more;" \
        "it offers: ${offered:-nothing}; set LINUX_VERSION and LINUX_ABI in tests/tools/linux61.sh to one of those"
}

download() {
    echo "$ME: fetching ${PACKAGES[*]} from $SUITE into $DIR" >&2
    # --error-on=any: without it a mirror that cannot be reached is only a warning.
    private_apt apt-get update --error-on=any >&2 || die "apt-get update of $SUITE from $(system_mirror) failed (no network? see above)"
    private_apt apt-cache madison "linux-headers-$LINUX_ABI-amd64" 2>/dev/null |
        awk -v v="$LINUX_VERSION" '$3 == v {found = 1} END {exit !found}' || pin_gone
    rm -rf "$DIR/debs"
    mkdir -p "$DIR/debs"
    (cd "$DIR/debs" && private_apt apt-get download "${PACKAGES[@]}" >&2) ||
        die "apt-get download ${PACKAGES[*]} failed (see above)"
}

# dpkg -x keeps the packages' relative symlinks: the amd64 headers point at
# ../../lib/linux-kbuild-6.1, which lands beside them in root/. Their
# Makefile includes the -common tree's by its installed, absolute path
# (/usr/src/...): that line is rewritten to the tree beside it.
unpack() {
    local amd64=$DIR/root/usr/src/linux-headers-$LINUX_ABI-amd64
    unpack_debs
    grep -q "^include /usr/src/linux-headers-$LINUX_ABI-common/Makefile\$" "$amd64/Makefile" ||
        die "$amd64/Makefile does not include the -common headers where expected"
    sed -i "s|^include /usr/src/|include \$(abspath \$(dir \$(lastword \$(MAKEFILE_LIST)))..)/|" "$amd64/Makefile"
    echo "$DIR/root/boot/vmlinuz-$LINUX_ABI-amd64" >"$DIR/vmlinuz"
    echo "$DIR/root/usr/src/linux-headers-$LINUX_ABI-amd64" >"$DIR/headers"
    echo "$DIR/root/bin/busybox" >"$DIR/busybox"
    echo "$LINUX_VERSION" >"$DIR/version"
}

works() {
    [[ -f $DIR/version && $(cat "$DIR/version") == "$LINUX_VERSION" ]] &&
        [[ -f $(cat "$DIR/vmlinuz") && -f $(cat "$DIR/headers")/Makefile && -x $(cat "$DIR/busybox") ]]
}

main() {
    case ${1:-} in
        --check) works || exit 1; echo "$DIR"; return ;;
        '') ;;
        *) echo "$ME: usage error: unknown argument '$1' (accepted: --check, or nothing)" >&2; exit 2 ;;
    esac
    if works; then
        echo "$DIR"
        return
    fi
    mkdir -p "$CACHE"
    exec 9>"$CACHE/linux-6.1.lock"
    flock 9
    if works; then
        echo "$DIR"
        return
    fi
    command -v dpkg-deb >/dev/null || die "needs dpkg-deb and apt-get (Debian)"
    if ((EUID != 0)); then
        die "Linux $LINUX_VERSION is not in $DIR yet; fetching it uses apt as root: run 'sudo $ROOT/tests/tools/linux61.sh' once"
    fi
    setup_apt
    download
    unpack
    works || die "the unpacked packages lack a kernel, headers or busybox (see $DIR/root)"
    echo "$ME: Linux $LINUX_VERSION ($LINUX_ABI) ready" >&2
    echo "$DIR"
}

main "$@"
