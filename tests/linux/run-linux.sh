#!/usr/bin/env bash
# Boot Linux 6.1 (Debian 12's, pinned in tests/tools/linux61.sh) under QEMU
# with the ptbench module: Linux's side of the benchmark (docs/design.md
# §12.4). Builds the module against that kernel's headers and an initramfs
# (static busybox, the module, an /init that loads it and powers off) in
# build/linux/, then boots them on the same QEMU, accelerator, -cpu, -smp and
# -m as ./run-qemu.sh gives poketorture.
#
#   tests/linux/run-linux.sh [--smp N] [--accel tcg|tcg-mt] [--qemu system|10]
#                            [--mem MB] [--timeout S] [--log FILE]
#                            [--modes LIST] [--n N]
#
# The serial console goes to --log (default build/linux/serial.log), with
# one "# bench: name=static_key ..." line per mode (tests/linux/ptbench.c).
# Exit: 0 every mode printed its line with status=ok; 1 a boot that failed,
# hung (killed after --timeout seconds) or printed an error; 2 a usage error;
# 4 this host cannot run it (no kernel could be fetched, the module does not
# build, no such QEMU): the reason on stderr, which bench.sh turns into a
# SKIP of the Linux rows.
set -euo pipefail

readonly ME=run-linux.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly ROOT
readonly OUT=$ROOT/build/linux

smp=4 accel=tcg qemu=system mem=128 timeout=900 log=$OUT/serial.log
modes=idle,pause,tight,sites64 n=200

die() { echo "$ME: $*" >&2; exit 1; }
die_usage() { echo "$ME: usage error: $*" >&2; exit 2; }
die_host() { echo "$ME: $*" >&2; exit 4; }

parse_args() {
    while (($#)); do
        [[ $1 == -h || $1 == --help ]] && { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0; }
        [[ $# -ge 2 ]] || die_usage "$1 needs a value"
        case $1 in
            --smp) [[ $2 =~ ^[1-9][0-9]*$ ]] || die_usage "--smp '$2': a whole number from 1"; smp=$2 ;;
            --accel) [[ $2 == tcg || $2 == tcg-mt ]] || die_usage "--accel '$2': accepted: tcg, tcg-mt"; accel=$2 ;;
            --qemu) [[ $2 == system || $2 == 10 ]] || die_usage "--qemu '$2': accepted: system, 10"; qemu=$2 ;;
            --mem) [[ $2 =~ ^[1-9][0-9]*$ ]] || die_usage "--mem '$2': megabytes"; mem=$2 ;;
            --timeout) [[ $2 =~ ^[1-9][0-9]*$ ]] || die_usage "--timeout '$2': seconds"; timeout=$2 ;;
            --log) log=$2 ;;
            --modes) [[ $2 =~ ^(idle|pause|tight|sites64)(,(idle|pause|tight|sites64))*$ ]] ||
                         die_usage "--modes '$2': comma-separated idle, pause, tight, sites64"
                     modes=$2 ;;
            --n) [[ $2 =~ ^[1-9][0-9]*$ && $2 -ge 2 ]] || die_usage "--n '$2': a whole number from 2"; n=$2 ;;
            *) die_usage "unknown option '$1' (see --help)" ;;
        esac
        shift 2
    done
}

# The module, built with the host's gcc against the pinned headers (Debian
# 12's gcc 12 built that kernel). A copy of the sources in build/: kbuild
# writes its objects beside them.
build_module() {
    local headers=$1 mod=$OUT/module
    mkdir -p "$mod"
    cp "$ROOT/tests/linux/ptbench.c" "$ROOT/tests/linux/Makefile" "$mod/"
    make -s -C "$headers" M="$mod" modules >"$OUT/module-build.log" 2>&1 ||
        die_host "the module does not build against $headers: $(grep -m 1 -i 'error' "$OUT/module-build.log" || tail -n 1 "$OUT/module-build.log")"
}

# /init: mounts what it needs, gives itself the console (the archive has no
# device nodes, so that building it needs no root), loads the module and
# powers off (ACPI poweroff ends QEMU).
write_init() {
    cat >"$1" <<EOF
#!/bin/busybox sh
/bin/busybox mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
echo 7 >/proc/sys/kernel/printk
echo "# linux: \$(/bin/busybox uname -r) cpus=\$(/bin/busybox nproc) clocksource=\$(/bin/busybox cat /sys/devices/system/clocksource/clocksource0/current_clocksource) cmdline=\$(/bin/busybox cat /proc/cmdline)"
/bin/busybox insmod /ptbench.ko modes=$modes n=$n
echo "# linux-bench: insmod exit \$?"
/bin/busybox poweroff -f
EOF
    chmod +x "$1"
}

build_initramfs() {
    local busybox=$1 dir=$OUT/initramfs
    rm -rf "$dir"
    mkdir -p "$dir/bin" "$dir/dev" "$dir/proc" "$dir/sys"
    cp "$busybox" "$dir/bin/busybox"
    cp "$OUT/module/ptbench.ko" "$dir/"
    write_init "$dir/init"
    (cd "$dir" && find . | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null | gzip -1 >"$OUT/initramfs.cpio.gz") ||
        die_host "could not build the initramfs"
}

qemu_bin() {
    case $qemu in
        system) command -v qemu-system-x86_64 || die_host "no qemu-system-x86_64 on PATH" ;;
        10) "$ROOT/tests/tools/qemu10.sh" 2>/dev/null || die_host "QEMU 10 could not be provisioned (tests/tools/qemu10.sh)" ;;
    esac
}

# The same machine as run-qemu.sh's: -machine pc, -cpu max under TCG, the
# same -smp and -m. Mitigations are the kernel's defaults.
boot() {
    local bin=$1 vmlinuz=$2 rc=0 thread=single
    [[ $accel == tcg-mt ]] && thread=multi
    rm -f "$log"
    timeout --kill-after=10 "$timeout" "$bin" -machine pc -accel "tcg,thread=$thread" -cpu max \
        -smp "$smp" -m "$mem" -display none -parallel none -nic none -no-reboot -monitor none \
        -serial "file:$log" -kernel "$vmlinuz" -initrd "$OUT/initramfs.cpio.gz" \
        -append "console=ttyS0 quiet printk.time=0 panic=1" </dev/null 2>"$OUT/qemu.err" || rc=$?
    ((rc != 124 && rc != 137)) || die "the Linux boot did not end within $timeout s: killed (see $log)"
    ((rc == 0)) || die "QEMU exited with $rc: $(head -n 1 "$OUT/qemu.err") (see $log)"
}

verdict() {
    local got want
    tr -d '\r' <"$log" | grep -a '^# error: ' >&2 && die "the module reported errors (above; see $log)"
    grep -aq '^# linux-bench: done' "$log" || die "the module did not finish (see $log)"
    got=$(grep -ac '^# bench: name=static_key .* status=ok' "$log" || true)
    want=$(tr ',' '\n' <<<"$modes" | grep -c .)
    ((got == want)) || die "$got of $want figures with status=ok (see $log)"
}

main() {
    local dir bin
    parse_args "$@"
    mkdir -p "$OUT" "$(dirname "$log")"
    dir=$("$ROOT/tests/tools/linux61.sh" 2>"$OUT/fetch.err") ||
        die_host "no Linux 6.1: $(grep -a "^linux61.sh: " "$OUT/fetch.err" | tail -n 1 | sed "s/^linux61.sh: //")"
    bin=$(qemu_bin)
    build_module "$(cat "$dir/headers")"
    build_initramfs "$(cat "$dir/busybox")"
    boot "$bin" "$(cat "$dir/vmlinuz")"
    verdict
}

main "$@"
