#!/usr/bin/env bash
# Build a hybrid BIOS+UEFI boot image of poketorture with grub-mkrescue.
#
# The same file boots as a CD-ROM in QEMU and, written raw to a USB stick,
# on a real machine with BIOS or UEFI firmware.
set -euo pipefail

readonly ME=mkimage.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly ROOT
readonly TEMPLATE=$ROOT/boot/x86_64/grub.cfg.in

usage() {
    cat <<EOF
Usage: boot/x86_64/mkimage.sh --kernel ELF --out FILE.iso [--options "KERNEL OPTIONS"] [--timeout SECONDS]

  --kernel ELF       the Multiboot2 kernel (build/poketorture.elf)
  --out FILE.iso     the image to write (replaced atomically)
  --options "..."    kernel options of the default GRUB entry (default: none)
  --timeout SECONDS  GRUB menu timeout before the default entry (default: 5;
                     run-qemu.sh uses 0)
EOF
}

die_usage() {
    echo "$ME: $*" >&2
    echo "Try 'boot/x86_64/mkimage.sh --help'." >&2
    exit 2
}

die() {
    echo "$ME: $*" >&2
    exit 1
}

# Quote one word for the GRUB script lexer: inside single quotes nothing is
# special, and a single quote itself is closed, escaped and reopened.
grub_quote() {
    local q=\'
    printf "'%s'" "${1//$q/$q\\$q$q}"
}

# Every kernel option becomes its own quoted GRUB word.
quote_options() {
    local -a words quoted=()
    local w
    read -r -a words <<<"$1"
    for w in "${words[@]}"; do
        quoted+=("$(grub_quote "$w")")
    done
    printf '%s' "${quoted[*]}"
}

render_cfg() {
    local options=$1 timeout=$2 title cfg quoted
    if [[ -n ${options// /} ]]; then
        title="poketorture: $options"
    else
        title="poketorture: default suite"
    fi
    cfg=$(<"$TEMPLATE")
    # Quoted replacements: bash 5.2 would otherwise expand '&' in them.
    cfg=${cfg//@TIMEOUT@/"$timeout"}
    cfg=${cfg//@DEFAULT_TITLE@/"$(grub_quote "$title")"}
    quoted=$(quote_options "$options")
    # No options: drop the placeholder with its space, not just the word.
    [[ -n $quoted ]] || cfg=${cfg// @DEFAULT_OPTIONS@/}
    cfg=${cfg//@DEFAULT_OPTIONS@/"$quoted"}
    printf '%s\n' "$cfg"
}

# grub-mkrescue is chatty on success; show what it said only if it failed.
run_mkrescue() {
    local out=$1 stage=$2 log
    log=$(mktemp)
    # Skip locales, fonts and themes: the menu is text on serial and console.
    if ! grub-mkrescue --locales= --fonts= --themes= -o "$out" "$stage" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        die "grub-mkrescue failed"
    fi
    rm -f "$log"
}

main() {
    local kernel="" out="" options="" timeout=5
    while (($#)); do
        case $1 in
            --kernel) kernel=${2-}; shift ;;
            --out) out=${2-}; shift ;;
            --options) options=${2-}; shift ;;
            --timeout) timeout=${2-}; shift ;;
            -h | --help) usage; exit 0 ;;
            *) die_usage "unknown argument '$1'" ;;
        esac
        (($#)) && shift
    done
    [[ -n $kernel ]] || die_usage "--kernel ELF is required"
    [[ -n $out ]] || die_usage "--out FILE.iso is required"
    [[ -f $kernel ]] || die_usage "--kernel '$kernel': no such file"
    [[ $timeout =~ ^[0-9]+$ ]] || die_usage "--timeout '$timeout': accepted: a whole number of seconds, 0 or more"
    [[ $options != *[[:cntrl:]]* ]] || die_usage "--options: control characters (newlines) are not accepted"

    mkdir -p "$ROOT/build" "$(dirname "$out")"
    # A private staging dir: two runs building different images can't collide.
    local stage
    stage=$(mktemp -d "$ROOT/build/stage.XXXXXX")
    # shellcheck disable=SC2064 # expand now: $stage is local
    trap "rm -rf '$stage' '$out.tmp.$$'" EXIT
    mkdir -p "$stage/boot/grub"
    cp "$kernel" "$stage/boot/poketorture.elf"
    render_cfg "$options" "$timeout" >"$stage/boot/grub/grub.cfg"

    run_mkrescue "$out.tmp.$$" "$stage"
    mv -f "$out.tmp.$$" "$out"
}

main "$@"
