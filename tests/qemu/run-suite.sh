#!/usr/bin/env bash
# Run the QEMU matrix of tests/qemu/suite.manifest and check each verdict, its
# TAP, the named tests its line checks and its extra log checks.
#
# The host has 2 cores. Single-threaded TCG lines use one each, so they run
# two at a time (GNU parallel, results printed in manifest order); a line
# whose timing depends on having the host to itself (multi-threaded TCG,
# KVM, 128 CPUs or more) runs alone.
#
# A configuration the host cannot run (run-qemu.sh exit 4: no /dev/kvm, a
# QEMU that cannot start a guest, no QEMU 10) is a SKIP with the reason,
# never a failure: the gate judges the kernel, not the host.
#
# QEMU=system|10|PATH in the environment runs every line that does not
# name its own --qemu on that QEMU (make test QEMU=10).
#
# Prints one result line per configuration and ends with the line
#   suite: N passed, N failed, N skipped
# Exit status: 0 if nothing failed, 1 otherwise, 2 on bad usage.
set -euo pipefail

readonly ME=run-suite.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly ROOT
readonly LOGS=build/logs

manifest=$ROOT/tests/qemu/suite.manifest
filter='*'
one_line="" jobs=2
passed=0 failed=0 skipped=0 selected=0
declare -A seen_names=()

usage() {
    cat <<'EOF'
Usage: tests/qemu/run-suite.sh [MANIFEST] [--filter GLOB] [--jobs N]

Runs every configuration of MANIFEST (default tests/qemu/suite.manifest) whose
name matches GLOB (default *). Serial logs go to build/logs/NAME.log,
run-qemu.sh's messages (QEMU version, CPU model) to build/logs/NAME.err.
  --jobs N   single-threaded TCG lines run N at a time (default 2)
Environment: QEMU=system|10|PATH runs lines without --qemu on that QEMU.
EOF
}

die_usage() {
    echo "$ME: usage error: $* (see --help)" >&2
    exit 2
}

parse_args() {
    local manifest_given=0
    while (($#)); do
        case $1 in
            -h | --help) usage; exit 0 ;;
            --filter) [[ $# -ge 2 ]] || die_usage "--filter needs a GLOB"; filter=$2; shift 2 ;;
            --filter=*) filter=${1#--filter=}; shift ;;
            --jobs) [[ $# -ge 2 && $2 =~ ^[1-9][0-9]?$ ]] || die_usage "--jobs '${2:-}': accepted: 1 to 99"
                    jobs=$2; shift 2 ;;
            --line) [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || die_usage "--line needs a line number"
                    one_line=$2; shift 2 ;;
            -*) die_usage "unknown option '$1'" ;;
            *)
                ((manifest_given == 0)) || die_usage "one MANIFEST only, got '$1' too"
                manifest=$1 manifest_given=1; shift ;;
        esac
    done
    [[ -f $manifest ]] || die_usage "manifest '$manifest': no such file"
    case ${QEMU:-} in
        '' | system | 10 | */*) ;;
        *) die_usage "QEMU='$QEMU': accepted: system, 10, or a path to qemu-system-x86_64" ;;
    esac
}

# Microseconds since the epoch, from bash itself: no process per reading.
now_us() {
    local t=$EPOCHREALTIME
    echo $((10#${t/./}))
}

# Tenths of a second since a now_us reading, as "12.3".
elapsed_since() {
    local tenths=$((($(now_us) - $1 + 50000) / 100000))
    echo "$((tenths / 10)).$((tenths % 10))"
}

trim() {
    local s=$1
    s=${s#"${s%%[![:space:]]*}"}
    s=${s%"${s##*[![:space:]]}"}
    printf '%s' "$s"
}

# A line that asks for KVM runs wherever /dev/kvm opens, even a nested
# software hypervisor without vmx/svm: such lines are kept short (the
# x2APIC path, which TCG in QEMU 7.2 does not emulate, is their reason).
kvm_usable() {
    [[ -c /dev/kvm ]] && { : <>/dev/kvm; } 2>/dev/null
}

# Prints why a configuration can't run here, or nothing.
skip_reason() {
    local expected=$1
    shift
    if [[ $expected == SKIP:* ]]; then
        trim "${expected#SKIP:}"
        return
    fi
    local arg prev=""
    for arg in "$@"; do
        if [[ $arg == --accel=kvm || ($prev == --accel && $arg == kvm) ]] && ! kvm_usable; then
            echo "KVM not usable here (/dev/kvm cannot be opened read-write)"
            return
        fi
        prev=$arg
    done
}

# run-qemu.sh's own reason line, for FAIL messages.
qemu_reason() {
    local err=$1
    grep -aE '^(run-qemu\.sh: |sweep: [0-9])' "$err" 2>/dev/null | tail -n 1 | sed 's/^run-qemu.sh: //' || true
}

# Checks the exit status against the expectation. Prints a reason on mismatch.
check_status() {
    local expected=$1 status=$2 err=$3 want
    case $expected in
        SUCCESS) want=0 ;;
        FAILURE) want=1 ;;
        USAGE) want=2 ;;
        # A platform finding, not a gate: any verdict will do (a crash won't).
        ANY) ((status == 0 || status == 1)) && return
             echo "expected a verdict, got exit $status: $(qemu_reason "$err")"; return ;;
        *) echo "bad expected '$expected' (SUCCESS, FAILURE, USAGE, ANY or SKIP: reason)"; return ;;
    esac
    if ((status != want)); then
        local why
        why=$(qemu_reason "$err")
        ((status == 0)) && why=SUCCESS
        echo "expected $expected (exit $want), got exit $status${why:+: $why}"
    elif [[ $expected == USAGE ]] && ! grep -q '^run-qemu.sh: usage error' "$err"; then
        echo "exit 2 but not a usage error: $(qemu_reason "$err")"
    fi
}

# The TAP of a run that reached a verdict must be valid TAP, and the tests
# the line names (pass~NAME, skip~NAME, fail~NAME) must have the outcome it
# says: tap-check.pl finds them by name.
check_tap() {
    local log=$1 checks=$2 out
    local -a names
    mapfile -t names < <(name_checks "$checks")
    if ! out=$("$ROOT/tests/qemu/tap-check.pl" "$log" "${names[@]}" 2>&1); then
        # The first reason is enough for the result line; the log has the rest.
        grep -m1 '^tap-check.pl:   ' <<<"$out" | sed 's/^tap-check.pl: *//' || echo "${out%%$'\n'*}"
    fi
}

# Extra checks: "log~RE" and "log!~RE", each up to the next one; "show~RE"
# checks nothing, its matching lines are printed under the result line.
# Name checks (pass~, skip~, fail~) are check_tap's.
check_log() {
    local log=$1 checks=$2 clean check re why
    [[ -z $checks ]] && return 0
    [[ -f $log ]] || { echo "no serial log"; return; }
    # Carriage returns would defeat $ anchors in the regexes.
    clean=$(tr -d '\r' <"$log")
    while IFS= read -r check; do
        check=$(trim "$check")
        case $check in
            '') ;;
            'log!~'*)
                re=${check#'log!~'}
                if grep -aEq -- "$re" <<<"$clean"; then echo "log matches /$re/"; return; fi ;;
            'log~'*)
                re=${check#'log~'}
                if ! grep -aEq -- "$re" <<<"$clean"; then echo "log does not match /$re/"; return; fi ;;
            'screen~'* | screen-verdict)
                why=$(check_screen "$log" "$check" "$clean")
                if [[ -n $why ]]; then echo "$why"; return; fi ;;
            'show~'* | 'pass~'* | 'skip~'* | 'fail~'*) ;;
            *) echo "bad check '$check' (pass~NAME, skip~NAME, fail~NAME, log~REGEX, log!~REGEX, show~REGEX, screen~REGEX or screen-verdict)"
               return ;;
        esac
    done < <(split_checks "$checks")
}

# The screenshot of a run-qemu.sh --screen line, as tests/tools/screenshot.pl
# read it (LOG.screen.txt): "screen~RE" must match it; "screen-verdict": its
# "End of test" line is the serial log's, counts and all.
check_screen() {
    local log=$1 check=$2 clean=$3 txt=${1%.log}.screen.txt serial shown
    [[ -s $txt ]] || { echo "no screenshot text ($txt): was --screen given?"; return; }
    if [[ $check == screen-verdict ]]; then
        serial=$(grep -a -m1 '^poketorture: End of test:' <<<"$clean" || true)
        shown=$(grep -a -m1 '^poketorture: End of test:' "$txt" || true)
        [[ -n $serial && $shown == "$serial" ]] ||
            echo "the screen's verdict line '${shown:-(none)}' is not the serial one '${serial:-(none)}'"
        return
    fi
    grep -aEq -- "${check#'screen~'}" "$txt" || echo "screenshot does not match /${check#'screen~'}/"
}

split_checks() {
    sed -E 's/[[:space:]]+((log!?|show|pass|skip|fail|screen)~|screen-verdict)/\n\1/g' <<<"$1"
}

# The checks on named tests, one a line.
name_checks() {
    local check
    while IFS= read -r check; do
        check=$(trim "$check")
        [[ $check =~ ^(pass|skip|fail)~ ]] && printf '%s\n' "$check"
    done < <(split_checks "$1")
    return 0
}

# The lines a "show~RE" check asks to see, indented under the result.
show_lines() {
    local log=$1 checks=$2 check
    [[ -f $log ]] || return 0
    while IFS= read -r check; do
        check=$(trim "$check")
        [[ $check == 'show~'* ]] || continue
        tr -d '\r' <"$log" | grep -aE -- "${check#'show~'}" | sed 's/^#* */    /' || true
    done < <(split_checks "$checks")
}

# Runs one configuration; prints the reason it failed, or nothing. Args
# "@sweep ..." run tests/sweep.sh with them instead of run-qemu.sh: exit 0
# is SUCCESS (every run passed), 1 FAILURE (a run failed), 2 an error.
# Arguments: name, expected, checks, kernel options, then run-qemu.sh args.
run_config() {
    local name=$1 expected=$2 checks=$3 reason
    local -a opts
    read -r -a opts <<<"$4"
    shift 4
    local log=$LOGS/$name.log err=$LOGS/$name.err status=0 sweep=0
    rm -rf "$ROOT/$log" "$ROOT/$err" "$ROOT/$LOGS/$name.sweep"
    if [[ ${1:-} == @sweep ]]; then
        # A sweep line: tests/sweep.sh's output is the log its checks read.
        sweep=1
        "$ROOT/tests/sweep.sh" "${@:2}" --out "$ROOT/$LOGS/$name.sweep" -- "${opts[@]}" \
            </dev/null >"$ROOT/$log" 2>"$ROOT/$err" || status=$?
        grep -a '^sweep: [0-9]' "$ROOT/$log" >>"$ROOT/$err" || true
    else
        "$ROOT/run-qemu.sh" "$@" --log "$ROOT/$log" -- "${opts[@]}" \
            </dev/null >/dev/null 2>"$ROOT/$err" || status=$?
    fi
    if ((status == 4)); then
        # The host, not the kernel (run-qemu.sh's exit 4).
        printf 'host:%s' "$(qemu_reason "$ROOT/$err" | sed 's/^host cannot run this: //')"
        return
    fi
    reason=$(check_status "$expected" "$status" "$ROOT/$err")
    # A line that names tests wants TAP whatever its verdict (a sweep's
    # runs are summarized by the sweep).
    if [[ -z $reason && $sweep == 0 && ($expected == SUCCESS || $expected == FAILURE || $expected == ANY ||
        -n $(name_checks "$checks")) ]]; then
        reason=$(check_tap "$ROOT/$log" "$checks")
    fi
    [[ -n $reason ]] || reason=$(check_log "$ROOT/$log" "$checks")
    printf '%s' "$reason"
}

# A manifest line's fields, trimmed: sets name, args_field, opts_field,
# expected, checks.
split_line() {
    IFS='|' read -r name args_field opts_field expected checks <<<"$1"
    name=$(trim "$name") expected=$(trim "${expected:-}") checks=$(trim "${checks:-}")
}

# Multi-threaded TCG and KVM are timed against the host's real cores, and
# single-threaded TCG with 128 CPUs or more is the most sensitive to host
# load (smp.ipi at 288 CPUs overran its 392 s budget next to another QEMU):
# they get the host to themselves. So does a sweep, which runs one QEMU per
# core itself.
runs_alone() {
    [[ " $1 " == *" @sweep "* ]] && return 0
    [[ " $1 " =~ [[:space:]]--accel[[:space:]=](tcg-mt|kvm)[[:space:]] ]] && return 0
    [[ " $1 " =~ [[:space:]]--smp[[:space:]=]([0-9]+)[[:space:]] ]] && ((BASH_REMATCH[1] >= 128))
}

# Worker: runs manifest line $1 and prints its result line (PASS, FAIL or
# SKIP) and the lines its show~ checks ask for.
run_line() {
    local lineno=$1 line name args_field opts_field expected checks
    line=$(sed -n "${lineno}p" "$manifest")
    split_line "$line"
    local -a args
    read -r -a args <<<"${args_field:-}"
    if [[ -n ${QEMU:-} && " ${args[*]} " != *" --qemu "* ]]; then
        args+=(--qemu "$QEMU")
    fi
    local why
    why=$(skip_reason "$expected" "${args[@]}")
    if [[ -n $why ]]; then
        echo "SKIP $name: $why"
        return
    fi

    local start reason
    start=$(now_us)
    reason=$(run_config "$name" "$expected" "$checks" "${opts_field:-}" "${args[@]}")
    if [[ $reason == host:* ]]; then
        echo "SKIP $name: ${reason#host:}"
    elif [[ -z $reason ]]; then
        echo "PASS $name ($(elapsed_since "$start") s)"
    else
        echo "FAIL $name: $reason (see $LOGS/$name.log)"
    fi
    show_lines "$ROOT/$LOGS/$name.log" "$checks"
    # Which CPU model a KVM line ended up with (run-qemu.sh may retry).
    grep -aE '^run-qemu.sh: (KVM CPU model|QEMU exited .* retrying)' "$ROOT/$LOGS/$name.err" 2>/dev/null |
        sed 's/^/    /' || true
}

# Prints the results of workers and counts them.
tally() {
    local out
    while IFS= read -r out; do
        echo "$out"
        case $out in
            PASS\ *) passed=$((passed + 1)) ;;
            FAIL\ *) failed=$((failed + 1)) ;;
            SKIP\ *) skipped=$((skipped + 1)) ;;
        esac
    done
}

# Runs the queued lines, $jobs at a time, results in manifest order.
flush_queue() {
    ((${#queue[@]})) || return 0
    local -a cmd=(parallel --will-cite --keep-order --jobs "$jobs"
        "$ROOT/tests/qemu/run-suite.sh" --line {} "$manifest" :::)
    tally < <("${cmd[@]}" "${queue[@]}" </dev/null)
    queue=()
}

# Validates a manifest line and queues it, or runs it alone.
do_line() {
    local lineno=$1 line=$2 name args_field opts_field expected checks
    split_line "$line"
    # shellcheck disable=SC2053 # the filter is a glob on purpose
    [[ $name == $filter ]] || return 0
    selected=$((selected + 1))

    if [[ ! $name =~ ^[A-Za-z0-9._-]+$ || -n ${seen_names[$name]:-} || -z $expected ]]; then
        echo "FAIL ${name:-?}: bad manifest line $lineno (name must be unique [A-Za-z0-9._-]+, 4 or 5 fields)"
        failed=$((failed + 1))
        return
    fi
    seen_names[$name]=1
    if runs_alone "$args_field"; then
        flush_queue
        tally < <(run_line "$lineno")
    else
        queue+=("$lineno")
    fi
}

main() {
    parse_args "$@"
    mkdir -p "$ROOT/$LOGS"
    if [[ -n $one_line ]]; then
        run_line "$one_line"
        return
    fi
    # QEMU 10 is fetched once here, not by two workers at a time; if it
    # cannot be, its lines say why when they skip.
    if [[ ${QEMU:-} == 10 ]] || grep -Eq -- '--qemu[= ]10( |\|)' "$manifest"; then
        "$ROOT/tests/tools/qemu10.sh" >/dev/null || true
    fi
    local start lineno=0 line
    local -a queue=()
    start=$(now_us)
    while IFS= read -r line || [[ -n $line ]]; do
        lineno=$((lineno + 1))
        [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
        do_line "$lineno" "$line"
    done <"$manifest"
    flush_queue

    # A filter that matches nothing is a mistake, not a green run.
    ((selected > 0)) || echo "$ME: no configuration in $manifest matches '$filter'"
    echo "total wall time: $(elapsed_since "$start") s"
    echo "suite: $passed passed, $failed failed, $skipped skipped"
    ((failed == 0 && selected > 0))
}

main "$@"
