#!/usr/bin/env bash
# Checks run-qemu.sh's handling of hosts, not of the kernel: which exits
# are the host's (status 4, a skip in the suite) and which stay the
# kernel's (1 and 2). Stand-in QEMUs wrap the real one, so no KVM is
# needed to check the KVM paths:
#   - a KVM that refuses IA32_ARCH_CAPABILITIES under -cpu host, as some
#     nested KVMs do: run-qemu.sh must retry without it and pass;
#   - a QEMU that aborts at every start: status 4 with QEMU's message;
#   - a QEMU that runs the kernel and then aborts: a crash (2), not a skip;
#   - a guest that triple-faults before printing: a crash (2), not a skip;
#   - no KVM device: status 4.
# Prints one line per case and "run-qemu selftest: N passed, N failed".
set -uo pipefail

readonly ME=run-qemu-selftest.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly ROOT
WORK=$(mktemp -d "${TMPDIR:-/tmp}/poketorture-selftest.XXXXXX")
readonly WORK
trap 'rm -rf "$WORK"' EXIT
passed=0 failed=0

REAL_QEMU=$(command -v qemu-system-x86_64) || { echo "$ME: no qemu-system-x86_64" >&2; exit 1; }
readonly REAL_QEMU

# A stand-in QEMU: $1 is its name, the rest the shell body run before it
# hands over to the real QEMU with KVM turned into single-threaded TCG.
fake_qemu() {
    local name=$1 body=$2
    cat >"$WORK/$name" <<EOF
#!/usr/bin/env bash
REAL_QEMU=$REAL_QEMU
if [[ \${1:-} == --version ]]; then exec "\$REAL_QEMU" --version; fi
args=()
prev=""
for a in "\$@"; do
    if [[ \$prev == -accel && \$a == kvm ]]; then a=tcg,thread=single; fi
    if [[ \$prev == -cpu ]]; then cpu=\$a; a=max; fi
    args+=("\$a")
    prev=\$a
done
$body
exec "\$REAL_QEMU" "\${args[@]}"
EOF
    chmod +x "$WORK/$name"
}

# The message and the abort of the nested KVM seen in the field.
fake_qemu msr-refuse '
if [[ $cpu == host ]]; then
    echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69" >&2
    kill -ABRT $$
fi'
fake_qemu always-abort '
echo "qemu-system-x86_64: this host refuses every guest" >&2
kill -ABRT $$'
# A guest that triple-faults before its first line: under -no-reboot QEMU
# exits 0 and says nothing.
fake_qemu triple-fault '
exit 0'
# Writes the command line it was given to a file, and starts no guest.
fake_qemu record-args '
printf "%s\n" "$*" >"$(dirname "$0")/args"
exit 0'
fake_qemu abort-after-kernel '
"$REAL_QEMU" "${args[@]}"
echo "qemu-system-x86_64: assertion failed after the guest ran" >&2
kill -ABRT $$'

# Runs run-qemu.sh; checks its exit status and a line of its stderr.
check() {
    local name=$1 want_status=$2 want_err=$3 status=0
    shift 3
    "$@" >"$WORK/out" 2>"$WORK/err" </dev/null || status=$?
    if ((status == want_status)) && grep -qE -- "$want_err" "$WORK/err"; then
        echo "ok $name (exit $status)"
        passed=$((passed + 1))
    else
        echo "FAIL $name: exit $status (want $want_status), stderr:"
        sed 's/^/    /' "$WORK/err"
        failed=$((failed + 1))
    fi
}

# The stand-in's recorded command line must match every regex given.
check_args() {
    local name=$1 re
    shift
    for re in "$@"; do
        if ! grep -qE -- "$re" "$WORK/args" 2>/dev/null; then
            echo "FAIL $name: QEMU's arguments do not match /$re/:"
            sed 's/^/    /' "$WORK/args" 2>/dev/null
            failed=$((failed + 1))
            return
        fi
    done
    echo "ok $name"
    passed=$((passed + 1))
}

main() {
    local rq=$ROOT/run-qemu.sh
    # Any character device that opens read-write passes for /dev/kvm: the
    # stand-ins turn KVM into TCG.
    export POKETORTURE_KVM_DEV=/dev/null

    check kvm-msr-refused-then-retried 0 'KVM CPU model: -cpu host,-arch-capabilities' \
        "$rq" --qemu "$WORK/msr-refuse" --accel kvm --smp 2 --timeout 60 -- tests=smp.online
    check qemu-never-starts-is-host 4 'host cannot run this: .*refuses every guest' \
        "$rq" --qemu "$WORK/always-abort" --accel kvm --smp 2 --timeout 60 -- tests=smp.online
    check qemu-dies-after-kernel-is-crash 2 'crash' \
        "$rq" --qemu "$WORK/abort-after-kernel" --smp 2 --timeout 60 -- tests=smp.online
    check early-triple-fault-is-crash 2 'crash: QEMU exit status 0' \
        "$rq" --qemu "$WORK/triple-fault" --smp 1 --timeout 60 -- tests=smp.online
    POKETORTURE_KVM_DEV=$WORK/no-such-device
    check no-kvm-device-is-host 4 'host cannot run this: --accel kvm: no ' \
        "$rq" --accel kvm --smp 2 -- tests=smp.online
    check bad-qemu-path-is-usage 2 'usage error: --qemu' \
        "$rq" --qemu /bin/true -- tests=smp.online
    check deterministic-needs-tcg 2 "usage error: --deterministic with --accel 'tcg-mt'" \
        "$rq" --deterministic --accel tcg-mt -- tests=smp.online
    check icount-shift-range 2 "usage error: --icount-shift '11': accepted: a whole number from 0 to 10" \
        "$rq" --icount-shift 11 -- tests=smp.online
    # Deterministic mode: -icount, the RTC on the virtual clock, a seed
    # chosen and printed, the shift in runner=, the image without a path.
    check deterministic-args 2 'deterministic: no seed given, using seed=[0-9]+' \
        "$rq" --qemu "$WORK/record-args" --icount-shift 5 --smp 2 --timeout 60 -- tests=smp.online
    check_args deterministic-args-given \
        '-icount shift=5,sleep=off,align=off -rtc base=2000-01-01T00:00:00,clock=vm ' \
        ' -kernel poketorture-mb1.elf -append tests=smp.online seed=[0-9]+ runner=--smp=2,--accel=tcg,--machine=pc,--qemu=[^ ]+,--icount-shift=5$'
    echo "run-qemu selftest: $passed passed, $failed failed"
    ((failed == 0))
}

main "$@"
