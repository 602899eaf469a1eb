#!/usr/bin/env bash
# Boot poketorture under QEMU, stream its serial console, and turn its
# verdict into an exit status:
#   0 SUCCESS, 1 FAILURE, 2 anything else the kernel or the user did (usage
#   error of this script or of the kernel, crash, timeout, missing final
#   line), 4 this host cannot run the configuration (QEMU could not start a
#   guest at all, no usable /dev/kvm, no OVMF, no QEMU 10): not a verdict on
#   the kernel, so the suite counts it as a skip.
# Each non-zero exit prints one line on stderr saying why.
set -euo pipefail

readonly ME=run-qemu.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly ROOT
readonly BUILD=$ROOT/build
readonly OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
readonly OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
# Testing hook (tests/qemu/run-qemu-selftest.sh): the KVM device to check.
readonly KVM_DEV=${POKETORTURE_KVM_DEV:-/dev/kvm}
# In deterministic mode the kernel's budgets are in virtual seconds (2^shift
# ns per instruction); the host allows this many real seconds for each.
readonly VIRTUAL_SLOWDOWN=3
readonly FINAL_RE='^poketorture: End of test: (SUCCESS|FAILURE) \([0-9]+ passed, [0-9]+ failed, [0-9]+ skipped\)$'

# Testing hook: a directory holding poketorture.elf and poketorture-mb1.elf
# to boot instead of the ones `make kernel` builds (make is then not run).
KERNEL_DIR=${POKETORTURE_KERNEL_DIR:-}

# Options, with their defaults.
smp=4 mem=128 accel=auto boot=kernel firmware=bios machine=pc qemu_choice=system
timeout=0 timeout_given=0 timeout_derived=0 gdb=0 log=""
deterministic=0 icount_shift=3 screen=0
kernel_opts=()

# Filled while running; cleanup() looks at them.
tmp_files=() qemu_pid="" tail_pid="" watch_pid="" timeout_mark=""
qemu_bin="" qemu_version="" cpu_model=""
screen_sock="" screen_shot="" screen_pid=""

usage() {
    cat <<'EOF'
Usage: ./run-qemu.sh [OPTIONS] [-- KERNEL OPTIONS]

Boot poketorture in QEMU, show its serial console, exit with its verdict.

  --smp N          virtual CPUs, 1..288 (default 4)
  --mem MB         guest memory in MiB (default 128)
  --accel A        auto, tcg (single-threaded, the gate), tcg-mt, kvm
                   (default auto: kvm only if the CPU has vmx/svm and /dev/kvm
                   opens read-write, else tcg)
  --boot B         kernel (QEMU -kernel, Multiboot1), iso (GRUB image as a
                   CD-ROM) or usb (the same image as a USB stick) (default kernel)
  --firmware F     bios (SeaBIOS) or uefi (OVMF; needs --boot iso or usb)
                   (default bios)
  --machine M      pc or q35 (default pc)
  --qemu Q         system (qemu-system-x86_64 on PATH, Debian 12's 7.2),
                   10 (QEMU 10 from bookworm-backports, fetched on first use
                   into .cache/ by tests/tools/qemu10.sh, beside the
                   system's), or the path of a qemu-system-x86_64 binary
                   (default system)
  --timeout S      kill QEMU after S seconds (default: derived from the run:
                   300 + N^2 x 8 ms for N CPUs to boot (300 s at 4, 963 s
                   at 288), then from the kernel's "# budget: ..., at most
                   B s, at most P s per test" line, at most B + X in all
                   and P + X from one test result to the next, X = 60 s +
                   N^2 x 4 ms; none with --gdb)
  --deterministic  a run that is a pure function of the image, QEMU, options,
                   seed, --smp, --machine and the icount shift: single-threaded
                   TCG under QEMU's -icount (sleep=off, align=off), clocks
                   that follow the instruction count, a seed always given
                   (chosen here and printed if -- has no seed=); the kernel
                   says so in its banner and its times are virtual. Slower
                   than plain TCG; one interleaving per seed and shift
  --icount-shift S with --deterministic: 2^S ns of virtual time per
                   instruction, 0..10 (default 3); another S is another
                   interleaving (implies --deterministic)
  --gdb            start halted with a gdb stub on localhost:1234
  --log FILE       also write the serial console to FILE
  --screen         a display (-vga std) and, once the kernel shows its
                   verdict screen (kernel option screen_hold=N, 2 s unless
                   given), a screendump through QEMU's monitor, read back
                   as text by tests/tools/screenshot.pl: LOG.screen.ppm and
                   LOG.screen.txt beside --log LOG (build/screen.* without)
  -h, --help       this text

Everything after -- is the kernel command line, e.g.
  ./run-qemu.sh --smp 2 -- tests=boot.* verbose

Exit status: 0 SUCCESS, 1 FAILURE, 2 usage error, crash or timeout,
4 this host cannot run it (QEMU could not start a guest, no /dev/kvm, ...).
EOF
}

# A one-line reason on stderr, then the exit status.
die() {
    local status=$1
    shift
    echo "$ME: $*" >&2
    exit "$status"
}

# The host, not the kernel: QEMU or what it needs is not usable here.
die_host() {
    echo "$ME: host cannot run this: $*" >&2
    exit 4
}

die_usage() {
    echo "$ME: usage error: $* (see --help)" >&2
    exit 2
}

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
    [[ -z $qemu_pid ]] || kill "$qemu_pid" 2>/dev/null || true
    [[ -z $tail_pid ]] || kill "$tail_pid" 2>/dev/null || true
    [[ -z $watch_pid ]] || kill "$watch_pid" 2>/dev/null || true
    [[ -z $screen_pid ]] || kill "$screen_pid" 2>/dev/null || true
    ((${#tmp_files[@]} == 0)) || rm -rf "${tmp_files[@]}"
}

# An option's value must be there and must not look like the next option.
need_value() {
    [[ $# -ge 2 && $2 != --* ]] || die_usage "$1 needs a value"
}

check_int() {
    local opt=$1 value=$2 min=$3 max=$4
    if [[ ! $value =~ ^[0-9]{1,9}$ ]] || ((10#$value < min || 10#$value > max)); then
        die_usage "$opt '$value': accepted: a whole number from $min to $max"
    fi
}

check_choice() {
    local opt=$1 value=$2 choice
    shift 2
    for choice in "$@"; do
        [[ $value == "$choice" ]] && return 0
    done
    local IFS='|'
    die_usage "$opt '$value': accepted: $*"
}

parse_args() {
    local opt value
    while (($#)); do
        opt=$1
        # Accept both "--smp 4" and "--smp=4".
        if [[ $opt == --*=* ]]; then
            set -- "${opt%%=*}" "${opt#*=}" "${@:2}"
            opt=$1
        fi
        case $opt in
            -h | --help) usage; exit 0 ;;
            --gdb) gdb=1; shift; continue ;;
            --deterministic) deterministic=1; shift; continue ;;
            --screen) screen=1; shift; continue ;;
            --) shift; kernel_opts=("$@"); break ;;
            --smp | --mem | --accel | --boot | --firmware | --machine | --timeout | --log | --qemu | --icount-shift)
                need_value "$@"; value=$2; shift 2 ;;
            *) die_usage "unknown argument '$opt' (kernel options go after --)" ;;
        esac
        case $opt in
            --smp) check_int "$opt" "$value" 1 288; smp=$((10#$value)) ;;
            --mem) check_int "$opt" "$value" 16 1048576; mem=$((10#$value)) ;;
            --accel) check_choice "$opt" "$value" auto tcg tcg-mt kvm; accel=$value ;;
            --icount-shift) check_int "$opt" "$value" 0 10; icount_shift=$((10#$value)); deterministic=1 ;;
            --boot) check_choice "$opt" "$value" kernel iso usb; boot=$value ;;
            --firmware) check_choice "$opt" "$value" bios uefi; firmware=$value ;;
            --machine) check_choice "$opt" "$value" pc q35; machine=$value ;;
            --timeout) check_int "$opt" "$value" 1 86400; timeout=$((10#$value)); timeout_given=1 ;;
            --log) log=$value ;;
            --qemu)
                [[ $value == system || $value == 10 || $value == */* ]] ||
                    die_usage "--qemu '$value': accepted: system, 10, or a path to a qemu-system-x86_64 binary (with a /)"
                qemu_choice=$value ;;
        esac
    done
    if [[ $firmware == uefi && $boot == kernel ]]; then
        die_usage "--firmware uefi needs --boot iso or --boot usb: QEMU's -kernel loads a Multiboot kernel only through SeaBIOS's option ROM"
    fi
    if ((deterministic)); then
        [[ $accel == auto || $accel == tcg ]] ||
            die_usage "--deterministic with --accel '$accel': accepted: --accel tcg (or none): only single-threaded TCG runs under -icount"
        accel=tcg
        deterministic_seed
    fi
    # A debugging session lasts as long as the person at gdb wants.
    if ((gdb && !timeout_given)); then
        timeout=0
    elif ((!timeout_given)); then
        timeout=$(default_timeout "$smp")
        timeout_derived=1
    fi
}

# A deterministic run needs its seed on the command line (the kernel would
# otherwise take the time, which is virtual and so the same every run: a
# hidden constant). One chosen here is printed, and it is in the replay line.
deterministic_seed() {
    local opt
    for opt in "${kernel_opts[@]}"; do
        [[ $opt == seed=* ]] && return 0
    done
    opt=seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
    kernel_opts+=("$opt")
    echo "$ME: deterministic: no seed given, using $opt" >&2
}

# The last resort against a wedged QEMU; the kernel's own watchdog ends a
# hung test long before. Under single-threaded TCG every round trip to
# another CPU costs time in proportion to the CPU count, and a test's
# budget grows with N^2 (kernel/test.c): so does this, at twice the rate.
default_timeout() {
    local n=$1
    echo $((300 + n * n * 8 / 1000))
}

# After the kernel's budget line: the time left for its last words (the
# run's totals, the final line) and QEMU's exit.
budget_slack() {
    local n=$1
    echo $((60 + n * n * 4 / 1000))
}

now_s() {
    printf '%(%s)T' -1
}

# The derived timeout (--timeout not given): the boot allowance until the
# kernel prints "# budget: T tests, at most B s, at most P s per test"
# (kernel/test.c: the watchdog ends each test at its budget), then the
# earlier of B plus slack from that line and P plus slack from the last
# test result: a run whose tests wedge one after another still reaches its
# verdict, and a kernel that stopped altogether is found one test's budget
# after its last sign of life. On expiry the seconds run are left in
# $timeout_mark and QEMU is killed.
deadline_watch() {
    local pid=$1 start now deadline total="" per="" line results=0 n slack
    slack=$(budget_slack "$smp")
    start=$(now_s)
    deadline=$((start + timeout))
    while kill -0 "$pid" 2>/dev/null; do
        now=$(now_s)
        if [[ -z $total ]]; then
            line=$(tr -d '\r' <"$serial_log" | grep -a -m1 -E '^# budget: [0-9]+ tests, at most [0-9]+ s, at most [0-9]+ s per test' || true)
            if [[ -n $line ]]; then
                total=$(sed -E 's/.*tests, at most ([0-9]+) s,.*/\1/' <<<"$line")
                per=$(sed -E 's/.*, at most ([0-9]+) s per test.*/\1/' <<<"$line")
                if ((deterministic)); then
                    # Virtual seconds: under -icount a slow host runs them
                    # slower than real time.
                    total=$((total * VIRTUAL_SLOWDOWN))
                    per=$((per * VIRTUAL_SLOWDOWN))
                fi
                total=$((now + total + slack))
                deadline=$((now + per + slack))
                echo "$ME: timeout: the kernel's budget, at most $((total - start)) s in all and $((per + slack)) s from one test result to the next" >&2
            fi
        else
            n=$(grep -acE '^(not )?ok [0-9]+ ' "$serial_log" || true)
            if ((n != results)); then
                results=$n
                deadline=$((now + per + slack))
            fi
            ((deadline <= total)) || deadline=$total
        fi
        if ((now >= deadline)); then
            echo "$((now - start))" >"$timeout_mark"
            kill -TERM "$pid" 2>/dev/null
            sleep 5
            kill -KILL "$pid" 2>/dev/null
            return 0
        fi
        sleep 1
    done
}

# Tells the kernel how it was started (its runner= option, informational):
# every replay line it prints is then "./run-qemu.sh <these> -- <options>".
# The items are --name=value, comma-separated, so that no quoting is needed
# on the command line of QEMU or of GRUB. A --qemu path the kernel could not
# print back as it is (a character outside [A-Za-z0-9._/+-]) is left out.
add_runner_option() {
    local opt items
    for opt in "${kernel_opts[@]}"; do
        [[ $opt == runner=* ]] && return 0
    done
    items="--smp=$smp,--accel=$accel,--machine=$machine"
    if [[ $qemu_choice =~ ^[A-Za-z0-9._/+-]+$ && ${#qemu_choice} -lt 160 ]]; then
        items+=",--qemu=$qemu_choice"
    fi
    ((!deterministic)) || items+=",--icount-shift=$icount_shift"
    [[ $boot == kernel ]] || items+=",--boot=$boot"
    [[ $firmware == bios ]] || items+=",--firmware=$firmware"
    ((mem == 128)) || items+=",--mem=$mem"
    kernel_opts+=("runner=$items")
}

# Opens the device read-write without creating it: bash's <> would make
# an empty regular file where there is no device (and then QEMU says "kvm
# version too old").
kvm_opens() {
    [[ -c $KVM_DEV ]] && { : <>"$KVM_DEV"; } 2>/dev/null
}

# KVM is only worth it with hardware virtualization: without vmx/svm the
# /dev/kvm of a nested software hypervisor is far slower than TCG.
kvm_usable() {
    grep -Eqw 'vmx|svm' /proc/cpuinfo 2>/dev/null || return 1
    kvm_opens
}

# Sets qemu_bin and qemu_version from --qemu.
resolve_qemu() {
    local out
    case $qemu_choice in
        system)
            qemu_bin=$(command -v qemu-system-x86_64) ||
                die_host "no qemu-system-x86_64 on PATH (package qemu-system-x86)" ;;
        10)
            local why
            why=$(mktemp "${TMPDIR:-/tmp}/poketorture-q10.XXXXXX")
            tmp_files+=("$why")
            if ! qemu_bin=$("$ROOT/tests/tools/qemu10.sh" 2>"$why"); then
                cat "$why" >&2
                die_host "--qemu 10: QEMU 10 could not be provisioned: $(grep -a '^qemu10.sh: ' "$why" | tail -n 1)"
            fi
            cat "$why" >&2 ;;
        *)
            [[ -f $qemu_choice && -x $qemu_choice ]] ||
                die_usage "--qemu '$qemu_choice': not an executable file (accepted: system, 10, or a path to qemu-system-x86_64)"
            qemu_bin=$(realpath "$qemu_choice") ;;  # QEMU starts in the kernel's directory
    esac
    out=$("$qemu_bin" --version 2>&1 | head -n 1) || true
    if [[ ! $out =~ ^QEMU\ emulator\ version\ ([^ ]+) ]]; then
        [[ $qemu_choice == */* ]] &&
            die_usage "--qemu '$qemu_choice': '--version' does not print a QEMU version: $out"
        die_host "--qemu $qemu_choice: '$qemu_bin --version' does not print a QEMU version: $out"
    fi
    qemu_version=${BASH_REMATCH[1]}
}

# Resolves "auto" and checks that the host can give the accelerator. Sets
# accel and cpu_model. KVM starts with -cpu host; run_with_kvm_fallback
# may take a feature away if the host's KVM refuses it.
resolve_accel() {
    if [[ $accel == auto ]]; then
        if kvm_usable; then accel=kvm; else accel=tcg; fi
    fi
    case $accel in
        tcg | tcg-mt)
            cpu_model=max
            # QEMU 8 and later emulate x2APIC under TCG, and QEMU 10 stops
            # with "Bad icount read" when a guest reads the x2APIC timer by
            # RDMSR under -icount: deterministic runs use the xAPIC there.
            if ((deterministic)) && [[ ${qemu_version%%.*} =~ ^[0-9]+$ ]] && ((${qemu_version%%.*} >= 8)); then
                cpu_model=max,-x2apic
                echo "$ME: deterministic: -cpu $cpu_model (QEMU $qemu_version's TCG cannot read the x2APIC timer under -icount)" >&2
            fi ;;
        kvm)
            [[ -c $KVM_DEV ]] || die_host "--accel kvm: no $KVM_DEV device (no KVM module, or not exposed to this machine)"
            kvm_opens || die_host "--accel kvm: $KVM_DEV cannot be opened read-write"
            cpu_model=host ;;
    esac
}

# QEMU's -icount: each instruction advances the virtual clock by 2^shift
# ns, the clocks the guest reads (TSC, APIC timer, PIT, HPET) follow it,
# sleep=off lets an idle guest skip ahead instead of waiting for the host,
# and the RTC runs on the virtual clock too, from a fixed date.
accel_args() {
    if ((deterministic)); then
        qemu_args+=(-icount "shift=$icount_shift,sleep=off,align=off")
        qemu_args+=(-rtc "base=2000-01-01T00:00:00,clock=vm")
    fi
    case $accel in
        tcg) qemu_args+=(-accel "tcg,thread=single") ;;
        tcg-mt) qemu_args+=(-accel "tcg,thread=multi") ;;
        kvm) qemu_args+=(-accel kvm) ;;
    esac
    qemu_args+=(-cpu "$cpu_model")
}

# Dependencies and kernel: both are no-ops when up to date. Their chatter
# goes to stderr so stdout stays the serial console.
prepare_kernel() {
    "$ROOT/tests/tools/deps.sh" >&2 || die 2 "missing host dependencies (see above)"
}

prepare_build() {
    if [[ -n $KERNEL_DIR ]]; then
        return 0
    fi
    KERNEL_DIR=$BUILD
    local -a make_args=(-s -C "$ROOT" kernel)
    [[ -n ${CROSS_COMPILE:-} ]] && make_args+=("CROSS_COMPILE=$CROSS_COMPILE")
    make "${make_args[@]}" >&2 || die 2 "make kernel failed"
}

# One image per kernel and option set, reused while it is newer than the
# kernel and than the files it is made from.
# Sets $image.
image_for_options() {
    local kernel=$KERNEL_DIR/poketorture.elf key dep
    [[ -f $kernel ]] || die 2 "no kernel at $kernel"
    key=$(printf '%s\n%s\n' "$kernel" "${kernel_opts[*]}" | sha256sum)
    image=$BUILD/images/${key:0:16}.iso
    mkdir -p "$BUILD/images"
    for dep in "$kernel" "$ROOT/boot/x86_64/grub.cfg.in" "$ROOT/boot/x86_64/mkimage.sh"; do
        if [[ ! -f $image || $dep -nt $image ]]; then
            "$ROOT/boot/x86_64/mkimage.sh" --kernel "$kernel" --out "$image" \
                --options "${kernel_opts[*]}" --timeout 0 >&2 || die 2 "could not build the boot image"
            break
        fi
    done
}

boot_args() {
    local image
    case $boot in
        kernel)
            local kernel=$KERNEL_DIR/poketorture-mb1.elf
            [[ -f $kernel ]] || die 2 "no kernel at $kernel"
            # QEMU puts the path as given first on the command line: a
            # name relative to the kernel's directory (run_qemu starts
            # QEMU there) keeps the checkout's path out of the run, which
            # in deterministic mode would change it.
            qemu_args+=(-kernel "${kernel##*/}" -append "${kernel_opts[*]}") ;;
        iso)
            image_for_options
            qemu_args+=(-drive "if=none,id=cd,media=cdrom,readonly=on,format=raw,file=$image")
            qemu_args+=(-device "ide-cd,drive=cd,bootindex=0") ;;
        usb)
            image_for_options
            # Read-only: the stick is never written, and runs can share it.
            qemu_args+=(-drive "if=none,id=stick,readonly=on,format=raw,file=$image")
            qemu_args+=(-device "qemu-xhci,id=xhci" -device "usb-storage,bus=xhci.0,drive=stick,bootindex=0") ;;
    esac
}

# OVMF keeps its variables in the second flash; each run gets a fresh copy
# so one run's boot entries never leak into the next.
firmware_args() {
    [[ $firmware == uefi ]] || return 0
    local vars
    [[ -f $OVMF_CODE && -f $OVMF_VARS ]] || die_host "--firmware uefi: no OVMF at $OVMF_CODE (package ovmf)"
    vars=$(mktemp "${TMPDIR:-/tmp}/poketorture-vars.XXXXXX")
    tmp_files+=("$vars")
    cp "$OVMF_VARS" "$vars"
    qemu_args+=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE")
    qemu_args+=(-drive "if=pflash,format=raw,unit=1,file=$vars")
}

build_qemu_args() {
    qemu_args=("$qemu_bin" -machine "$machine")
    accel_args
    qemu_args+=(
        -smp "$smp" -m "$mem"
        -display none -parallel none -nic none -no-reboot
        -chardev "file,id=com1,path=$serial_log,append=on" -serial chardev:com1
        -device "isa-debug-exit,iobase=0xf4,iosize=0x04"
    )
    if ((screen)); then
        qemu_args+=(-vga std -monitor "unix:$screen_sock,server=on,wait=off")
    else
        qemu_args+=(-monitor none)
    fi
    firmware_args
    boot_args
    if ((gdb)); then
        qemu_args+=(-s -S)
        echo "$ME: waiting for gdb: gdb $KERNEL_DIR/poketorture.elf -ex 'target remote localhost:1234'" >&2
    fi
}

# QEMU writes the serial port to a file (no stdin or tty needed, which CI
# lacks); tail streams that file to stdout until QEMU is gone.
run_qemu() {
    local -a cmd=("${qemu_args[@]}")
    ((timeout > 0 && !timeout_derived)) && cmd=(timeout -k 5 "$timeout" "${cmd[@]}")
    : >"$serial_log"
    # QEMU's own messages are shown after it exits, so they come before the
    # reason line; "terminating on signal" only repeats what the reason says.
    qemu_err=$(mktemp "${TMPDIR:-/tmp}/poketorture-qemu.XXXXXX")
    tmp_files+=("$qemu_err")
    (cd "$KERNEL_DIR" && exec "${cmd[@]}") </dev/null 2>"$qemu_err" &
    qemu_pid=$!
    if ((timeout > 0 && timeout_derived)); then
        deadline_watch "$qemu_pid" &
        watch_pid=$!
    fi
    tail -n +1 -s 0.2 --pid="$qemu_pid" -f "$serial_log" &
    tail_pid=$!
    if ((screen)); then
        screen_watch "$qemu_pid" &
        screen_pid=$!
    fi
    local status=0
    wait "$qemu_pid" || status=$?
    qemu_pid=""
    wait "$tail_pid" || true
    tail_pid=""
    if [[ -n $watch_pid ]]; then
        kill "$watch_pid" 2>/dev/null || true
        wait "$watch_pid" 2>/dev/null || true
        watch_pid=""
    fi
    if [[ -n $screen_pid ]]; then
        wait "$screen_pid" 2>/dev/null || true
        screen_pid=""
    fi
    qemu_messages >&2 || true
    return "$status"
}

# --screen: the kernel says when its verdict screen is up and holds it
# (screen_hold=N); then QEMU's monitor dumps the display to a PPM file.
screen_watch() {
    local pid=$1
    rm -f "$screen_shot"
    while kill -0 "$pid" 2>/dev/null; do
        if tr -d '\r' <"$serial_log" | grep -aq '^# screen: verdict shown'; then
            perl -MIO::Socket::UNIX -e '
                my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "monitor: $!\n";
                local $SIG{ALRM} = sub { die "monitor: no answer\n" };
                alarm 20;
                my $buf = "";
                sub prompt { while ($buf !~ /\(qemu\) $/) { sysread($s, $buf, 4096, length $buf) or die "monitor closed\n" } $buf = "" }
                prompt();
                print $s "screendump $ARGV[1]\n";
                prompt();' "$screen_sock" "$screen_shot" >&2 ||
                echo "$ME: screen: the monitor did not take the screendump" >&2
            return 0
        fi
        sleep 0.2
    done
}

# --screen, after QEMU: the screenshot read back as text, and its verdict.
screen_report() {
    local txt=${screen_shot%.ppm}.txt
    rm -f "$txt"
    if [[ ! -s $screen_shot ]]; then
        echo "$ME: screen: no screenshot (the kernel never said '# screen: verdict shown')" >&2
        return 0
    fi
    "$ROOT/tests/tools/screenshot.pl" "$screen_shot" >"$txt" ||
        { echo "$ME: screen: $screen_shot could not be read" >&2; return 0; }
    echo "$ME: screen: $screen_shot: $(tail -n 1 "$txt"); $(grep -a -m1 '^poketorture: End of test:' "$txt" || echo 'no verdict line on screen')" >&2
}

# --screen: the kernel holds its verdict screen 2 s unless told otherwise.
screen_setup() {
    local opt
    ((screen)) || return 0
    screen_sock=$(mktemp -u "${TMPDIR:-/tmp}/poketorture-mon.XXXXXX")
    tmp_files+=("$screen_sock")
    if [[ -n $log ]]; then
        screen_shot=${serial_log%.log}.screen.ppm
    else
        mkdir -p "$BUILD"
        screen_shot=$BUILD/screen.ppm
    fi
    for opt in "${kernel_opts[@]}"; do
        [[ $opt == screen_hold=* ]] && return 0
    done
    kernel_opts+=(screen_hold=2)
}

# QEMU's stderr without the noise: "terminating on signal" only repeats
# what the reason line says, and QEMU 10 run from the cache tries the
# system's 7.2 modules too (harmless: -display none needs none of them).
qemu_messages() {
    grep -avE 'terminating on signal|failed to (initialize|open) module|Only modules from the same build' \
        "$qemu_err"
}

# True when QEMU ended by itself, with a message, before the kernel printed
# its first line: QEMU or the host refused the configuration (an abort, a
# KVM that refuses an MSR, a bad device). A kernel that dies early makes
# QEMU exit 0 (triple fault under -no-reboot), silently: that stays a crash.
qemu_never_ran_kernel() {
    local status=$1
    ((status != 0 && status != 124 && status != 137)) || return 1
    grep -aqE '^(TAP version|# poketorture|poketorture:)' "$serial_log" && return 1
    [[ -n $(qemu_messages) ]]
}

# Boots; under KVM, a QEMU that dies before the kernel ran with -cpu host is
# retried once without IA32_ARCH_CAPABILITIES (MSR 0x10a), which some nested
# KVMs refuse to set ("failed to set MSR 0x10a"), and says so.
boot_and_wait() {
    local status=0
    build_qemu_args
    run_qemu || status=$?
    if [[ $accel == kvm && $cpu_model == host ]] && qemu_never_ran_kernel "$status"; then
        cpu_model=host,-arch-capabilities
        echo "$ME: QEMU exited ($status) before the kernel ran with -cpu host; retrying with -cpu $cpu_model" >&2
        status=0
        build_qemu_args
        run_qemu || status=$?
    fi
    if qemu_never_ran_kernel "$status"; then
        die_host "QEMU $qemu_version exited with status $status before the kernel printed anything: $(qemu_messages | head -n 1)"
    fi
    [[ $accel != kvm ]] || echo "$ME: KVM CPU model: -cpu $cpu_model" >&2
    return "$status"
}

# The verdict line: the last non-blank line of the serial log, without
# carriage returns, or the final line if only the kernel's diagnostics
# ("# halted...", possibly cut short) follow it: QEMU 10 ends on
# isa-debug-exit a little after the write, so the kernel may print more.
last_line() {
    tr -d '\r' <"$serial_log" | grep -av '^[[:space:]]*$' | awk '
        /^poketorture: End of test:/ { final = $0; tainted = 0; last = $0; next }
        { if (final != "" && $0 !~ /^#/) tainted = 1; last = $0 }
        END { print (final != "" && !tainted) ? final : last }' || true
}

# Both signals must agree: QEMU's status (from isa-debug-exit) and the
# final line. A triple fault under -no-reboot exits 0, so 0 is a crash.
verdict() {
    local status=$1 final
    final=$(last_line)
    if ((timeout > 0 && (status == 124 || status == 137))); then
        die 2 "timeout: no verdict after ${timeout} s, QEMU killed"
    fi
    if [[ -s $timeout_mark ]]; then
        die 2 "timeout: no verdict after $(cat "$timeout_mark") s (the derived timeout), QEMU killed"
    fi
    [[ $final =~ $FINAL_RE ]] || final=""
    case $status in
        1)
            [[ $final == *": SUCCESS "* ]] && exit 0
            [[ -n $final ]] && die 2 "crash: QEMU exit status 1 (SUCCESS) but the final line says: $final"
            die 2 "crash: QEMU exit status 1 but no final 'poketorture: End of test:' line (did QEMU start?)" ;;
        3)
            [[ $final == *": FAILURE "* ]] && die 1 "${final#poketorture: End of test: }"
            [[ -n $final ]] && die 2 "crash: QEMU exit status 3 (FAILURE) but the final line says: $final"
            die 2 "crash: QEMU exit status 3 but no final 'poketorture: End of test:' line" ;;
        5)
            local bad
            bad=$(tr -d '\r' <"$serial_log" | grep -a -m1 '^poketorture: bad option' || true)
            die 2 "usage error (QEMU status 5): ${bad:-the kernel rejected its options}" ;;
        0) die 2 "crash: QEMU exit status 0 (triple fault or guest reset under -no-reboot)" ;;
        *) die 2 "crash: QEMU exit status $status" ;;
    esac
}

main() {
    parse_args "$@"
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    if [[ -n $log ]]; then
        mkdir -p "$(dirname "$log")"
        serial_log=$(realpath -m "$log")  # QEMU starts in the kernel's directory
    else
        serial_log=$(mktemp "${TMPDIR:-/tmp}/poketorture-serial.XXXXXX")
        tmp_files+=("$serial_log")
    fi

    timeout_mark=$(mktemp "${TMPDIR:-/tmp}/poketorture-timeout.XXXXXX")
    tmp_files+=("$timeout_mark")
    prepare_kernel
    resolve_qemu
    resolve_accel
    echo "$ME: QEMU $qemu_version ($qemu_bin), accel $accel, -cpu $cpu_model, machine $machine, $smp CPUs$( ((!deterministic)) || echo ", deterministic (icount shift $icount_shift)")" >&2
    screen_setup
    add_runner_option
    prepare_build
    local status=0
    boot_and_wait || status=$?
    ((!screen)) || screen_report
    verdict "$status"
}

main "$@"
