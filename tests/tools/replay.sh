#!/usr/bin/env bash
# Rerun a run from the replay line it printed (docs/design.md §9.7), and
# show whether it did the same thing: under gdb, stopped where the failure
# is reported, or compared with the original log up to the failure.
#
#   tests/tools/replay.sh [--log FILE] [--compare LOG] 'LINE'
#   tests/tools/replay.sh --gdb [--batch] [--log FILE] 'LINE'
#
# LINE is the replay line as the kernel printed it, with or without its
# "# replay: " prefix:
#   ./run-qemu.sh --smp=4 ... --icount-shift=3 -- tests=poke.x seed=3
# A line with --icount-shift is a deterministic run: the replay is the same
# run, byte for byte. Without it the replay has the same options and seed
# but another interleaving, and this says so.
#
# Exit status: without --compare, run-qemu.sh's (0 SUCCESS, 1 FAILURE, 2
# error, 4 host cannot run it); with --compare, 0 when the logs are the
# same up to and including the first failing test's "not ok" line (the
# whole log when there is none), 1 when they are not; 2 on a usage error.
set -euo pipefail

readonly ME=replay.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly ROOT
readonly GDB_PORT=1234  # run-qemu.sh --gdb: QEMU's -s

# What a replay line's words are made of (a glob's brackets included).
readonly WORD_RE='^[][A-Za-z0-9._/+=,*?!-]+$'

log="" compare="" gdb=0 batch=0 line="" qemu_pid=""

usage() {
    sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

die_usage() {
    echo "$ME: usage error: $*" >&2
    exit 2
}

parse_args() {
    while (($#)); do
        case $1 in
            -h | --help) usage; exit 0 ;;
            --gdb) gdb=1; shift ;;
            --batch) batch=1; shift ;;
            --log | --compare)
                [[ $# -ge 2 && -n $2 ]] || die_usage "$1 needs a file"
                if [[ $1 == --log ]]; then log=$2; else compare=$2; fi
                shift 2 ;;
            --) shift; line=${1:-}; shift $(($# > 0 ? 1 : 0)); break ;;
            -*) die_usage "unknown option '$1' (accepted: --log, --compare, --gdb, --batch)" ;;
            *) line=$1; shift; break ;;
        esac
    done
    (($# == 0)) || die_usage "one replay line only, quoted; got more: '$*'"
    [[ -n $line ]] || die_usage "no replay line (make replay LINE='./run-qemu.sh ... -- ... seed=N')"
    ((!batch || gdb)) || die_usage "--batch goes with --gdb"
    [[ $gdb == 0 || -z $compare ]] || die_usage "--compare and --gdb do not go together: a run stopped in gdb has no end to compare"
    [[ -z $compare || -f $compare ]] || die_usage "--compare '$compare': no such file"
}

# The words of the line, without the "# replay: " prefix and without the
# quotes the kernel puts around a glob. Sets args (run-qemu.sh's arguments).
split_line() {
    local -a words
    local w
    line=${line//$'\r'/}
    line=${line#"${line%%[![:space:]]*}"}
    line=${line#\# }
    line=${line#replay: }
    read -ra words <<<"$line"
    [[ ${#words[@]} -gt 0 && ${words[0]} == *run-qemu.sh ]] ||
        die_usage "the line must start with ./run-qemu.sh (a replay line the kernel printed); got '${words[0]:-}'"
    [[ " ${words[*]} " == *" -- "* ]] ||
        die_usage "the line has no ' -- ' before the kernel options: '$line'"
    args=()
    for w in "${words[@]:1}"; do
        [[ $w =~ ^\'(.*)\'$ ]] && w=${BASH_REMATCH[1]}
        [[ $w =~ $WORD_RE ]] ||
            die_usage "'$w': not a word a replay line has (letters, digits and ._/+=,*?![]-)"
        args+=("$w")
    done
    if [[ " ${args[*]} " == *" --icount-shift="* ]]; then
        exact=1
        echo "$ME: deterministic line: the replay is the same run, event for event" >&2
    else
        exact=0
        echo "$ME: not a deterministic line (no --icount-shift): same options and seed, another interleaving" >&2
    fi
}

# Line number of the first "not ok" in a log, or its last line if none.
failure_line() {
    local n
    n=$(tr -d '\r' <"$1" | grep -an -m1 '^not ok ' | cut -d: -f1 || true)
    [[ -n $n ]] || n=$(tr -d '\r' <"$1" | wc -l)
    echo "$n"
}

# A log up to its final "poketorture: End of test:" line: what follows
# depends on when QEMU acts on the exit request (QEMU 10 lets the guest run
# on a little), not on the guest.
upto_verdict() {
    tr -d '\r' <"$1" | awk '{ print } /^poketorture: End of test:/ { exit }'
}

compare_logs() {
    local orig=$1 new=$2 n first
    n=$(failure_line "$orig")
    if cmp -s <(head -n "$n" "$orig") <(head -n "$n" "$new"); then
        first=$(sed -n "${n}p" "$orig" | tr -d '\r')
        echo "$ME: the same bytes up to and including line $n of $(wc -l <"$orig"): $first"
        if cmp -s <(upto_verdict "$orig") <(upto_verdict "$new"); then
            echo "$ME: the whole logs are identical up to the final line ($(upto_verdict "$new" | md5sum | cut -c1-32))"
        else
            echo "$ME: the logs differ after that line"
        fi
        return 0
    fi
    echo "$ME: the logs differ before line $n (the first failure of the original); first difference:"
    diff <(head -n "$n" "$orig" | tr -d '\r') <(head -n "$n" "$new" | tr -d '\r') | head -n 8 | sed "s/^/$ME:   /" || true
    ((exact)) || echo "$ME: expected: the line was not deterministic"
    return 1
}

run_plain() {
    local status=0
    [[ -n $log ]] || log=$ROOT/build/replay/$(date +%Y%m%d-%H%M%S).log
    mkdir -p "$(dirname "$log")"
    echo "$ME: running: ./run-qemu.sh --log $log ${args[*]}" >&2
    "$ROOT/run-qemu.sh" --log "$log" "${args[@]}" || status=$?
    echo "$ME: run-qemu.sh exited $status; serial log: $log" >&2
    if [[ -n $compare ]]; then
        compare_logs "$compare" "$log"
        return
    fi
    return "$status"
}

# QEMU halted with its gdb stub (run-qemu.sh --gdb), the serial console to
# a file, and gdb with the kernel's symbols, stopped at failure_point():
# every unexpected failure passes there first (kernel/test.c).
run_gdb() {
    local status=0
    local -a gdb_cmds
    [[ -n $log ]] || log=$ROOT/build/replay/$(date +%Y%m%d-%H%M%S)-gdb.log
    mkdir -p "$(dirname "$log")"
    make -s -C "$ROOT" kernel >&2
    echo "$ME: running: ./run-qemu.sh --gdb --log $log ${args[*]} (serial console to the log)" >&2
    "$ROOT/run-qemu.sh" --gdb --log "$log" "${args[@]}" >/dev/null &
    qemu_pid=$!
    trap '[[ -z $qemu_pid ]] || kill "$qemu_pid" 2>/dev/null || true' EXIT
    wait_for_stub "$qemu_pid"
    gdb_cmds=(-ex "target remote localhost:$GDB_PORT" -ex "break failure_point" -ex "continue")
    if ((batch)); then
        gdb_cmds+=(-ex "bt" -ex "info threads" -ex "kill")
        gdb -q -batch -nx "$ROOT/build/poketorture.elf" "${gdb_cmds[@]}" </dev/null || status=$?
    else
        echo "$ME: gdb stops where the failure is reported; 'bt' shows how, 'info threads' each vCPU" >&2
        gdb -q -nx "$ROOT/build/poketorture.elf" "${gdb_cmds[@]}" || status=$?
    fi
    echo "$ME: serial console up to the stop: $log" >&2
    return "$status"
}

# run-qemu.sh builds the kernel, then QEMU opens the stub's port.
wait_for_stub() {
    local pid=$1 i
    for ((i = 0; i < 600; i++)); do
        kill -0 "$pid" 2>/dev/null || { echo "$ME: run-qemu.sh --gdb ended before QEMU listened" >&2; exit 2; }
        # Listening (state 0A) on the port, read from /proc: a probe
        # connection would count as gdb leaving, and QEMU would run on.
        grep -qiE "^ *[0-9]+: [0-9A-F]+:$(printf '%04X' "$GDB_PORT") [0-9A-F]+:[0-9A-F]+ 0A" \
            /proc/net/tcp /proc/net/tcp6 2>/dev/null && return 0
        sleep 0.2
    done
    echo "$ME: QEMU's gdb stub did not open port $GDB_PORT in 120 s" >&2
    exit 2
}

main() {
    parse_args "$@"
    split_line
    if ((gdb)); then run_gdb; else run_plain; fi
}

main "$@"
