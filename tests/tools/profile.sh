#!/usr/bin/env bash
# make profile: how many instructions one patch costs the engine, and in
# which functions, counted by single-stepping patch_apply under gdb in a
# deterministic run (docs/design.md §12.4). A count does not move with the
# host's load the way a time does, and it is the same on every run of one
# build: it is the benchmark of the engine itself, where bench.* measures
# the engine on a platform.
#
#   tests/tools/profile.sh [--smp N] [--skip K] [--top T] [SPEC...]
#
# SPEC is PROTOCOL:SITES (SITES 1 when left out), e.g. int3, int3-pipe,
# int3-batch:64. Default: int3 int3-batch:64 int3-pipe trap-first cpumask
# stop-machine. Each is one boot of `bench` with the benchmark that makes
# such patches (patch_latency for one site, batch for more; int3-pipe's
# one-site patches come from stream, where they pipeline), sync=deferred,
# the other CPUs idle; the call after the first K (default 20, at most 10
# for a batch: bench.batch makes 20 of each size) is stepped from entry to
# return, once the caches, the alias and the pipeline are warm.
#
# Writes build/profile/PROTOCOL-SITES.txt (the count, then the functions by
# instructions) and prints one line per SPEC:
#   profile: protocol=int3 sites=1 cpus=4 instructions=3756 per_site=3756
# Exit status: 0, 1 if a SPEC could not be counted, 2 on bad usage.
set -euo pipefail

readonly ME=profile.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly ROOT OUT=$ROOT/build/profile
readonly GDB_PORT=1234  # run-qemu.sh --gdb: QEMU's -s
readonly CAP=3000000    # steps: a 1024-site batch is about 600,000
readonly BATCH_SIZES="1 4 16 64 256 1024"  # bench.batch's sizes

smp=4 skip=20 top=25
specs=()

die() { echo "$ME: $*" >&2; exit 1; }
die_usage() { echo "$ME: usage error: $* (see --help)" >&2; exit 2; }

number() { # number OPTION VALUE MIN MAX
    [[ $2 =~ ^[0-9]+$ ]] && (($2 >= $3 && $2 <= $4)) ||
        die_usage "$1 '$2': accepted: $3 to $4"
}

parse_args() {
    while (($#)); do
        case $1 in
            -h | --help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
            --smp | --skip | --top)
                [[ $# -ge 2 ]] || die_usage "$1 needs a number"
                case $1 in
                    --smp) number "$1" "$2" 2 64; smp=$2 ;;
                    --skip) number "$1" "$2" 0 1000; skip=$2 ;;
                    --top) number "$1" "$2" 1 1000; top=$2 ;;
                esac
                shift 2 ;;
            -*) die_usage "unknown option '$1' (accepted: --smp, --skip, --top)" ;;
            *) specs+=("$1"); shift ;;
        esac
    done
    ((${#specs[@]})) || specs=(int3 int3-batch:64 int3-pipe trap-first cpumask stop-machine)
}

# The bench test that makes a PROTOCOL patch of SITES sites, or nothing.
test_for() {
    local proto=$1 sites=$2
    if ((sites > 1)); then
        [[ " $BATCH_SIZES " == *" $sites "* ]] && echo bench.batch
    elif [[ $proto == int3-pipe ]]; then
        echo bench.stream
    else
        echo bench.patch_latency
    fi
}

# One SPEC: boot halted, step the patch in gdb, attribute the PCs.
profile_one() {
    local spec=$1 proto sites sym test pcs log gdb_out steps
    proto=${spec%%:*} sites=1
    [[ $spec == *:* ]] && sites=${spec#*:}
    [[ $proto =~ ^[a-z0-9-]+$ ]] || die_usage "'$spec': not PROTOCOL or PROTOCOL:SITES"
    number "$spec's SITES" "$sites" 1 1024
    sym=proto_${proto//-/_}
    [[ $'\n'$SYMBOLS$'\n' == *$'\n'"$sym"$'\n'* ]] ||
        die_usage "'$spec': no protocol '$proto' (accepted: the protocols of README.md's table, e.g. int3, int3-batch, int3-pipe)"
    test=$(test_for "$proto" "$sites")
    [[ -n $test ]] || die_usage "'$spec': bench.batch makes batches of $BATCH_SIZES sites only"
    # bench.batch makes 20 batches of each size (at the default iters).
    local k=$skip
    [[ $test != bench.batch ]] || k=$((skip < 10 ? skip : 10))
    pcs=$OUT/$proto-$sites.pcs log=$OUT/$proto-$sites.log gdb_out=$OUT/$proto-$sites.gdb
    "$ROOT/run-qemu.sh" --smp "$smp" --deterministic --gdb --timeout 900 --log "$log" \
        -- bench "tests=$test" sync=deferred </dev/null >/dev/null 2>&1 &
    local qemu=$!
    sleep 2
    PT_PROTO_SYM=$sym PT_SITES=$sites PT_SKIP=$k PT_PCS=$pcs PT_PORT=$GDB_PORT PT_CAP=$CAP \
        gdb -q -batch -nx -x "$ROOT/tests/tools/profile.py" "$ROOT/build/poketorture.elf" \
        </dev/null >"$gdb_out" 2>&1 || true
    kill "$qemu" 2>/dev/null || true
    wait "$qemu" 2>/dev/null || true
    steps=$(sed -n 's/^profile: steps \([0-9]*\)$/\1/p' "$gdb_out")
    if [[ -z $steps ]]; then
        echo "$ME: $spec: not counted: $(grep -m1 '^profile: error' "$gdb_out" || tail -n 1 "$gdb_out")" >&2
        return 1
    fi
    attribute "$pcs" >"$OUT/$proto-$sites.txt.new"
    {
        echo "profile: protocol=$proto sites=$sites cpus=$smp instructions=$steps per_site=$((steps / sites)) test=$test call=$((k + 1))"
        cat "$OUT/$proto-$sites.txt.new"
    } >"$OUT/$proto-$sites.txt"
    rm -f "$OUT/$proto-$sites.txt.new"
    head -n 1 "$OUT/$proto-$sites.txt"
}

# The PCs to functions (text symbols, by address), most instructions first.
attribute() {
    nm -n --defined-only "$ROOT/build/poketorture.elf" | awk '$2 ~ /^[tTwW]$/ { print $1, $3 }' |
        python3 -c '
import bisect, collections, sys
syms = [l.split() for l in sys.stdin]
addrs = [int(a, 16) for a, _ in syms]
count = collections.Counter()
for line in open(sys.argv[1]):
    i = bisect.bisect_right(addrs, int(line, 16)) - 1
    count[syms[i][1] if i >= 0 else "?"] += 1
total = sum(count.values())
for name, n in count.most_common(int(sys.argv[2])):
    print("%8d %5.1f%%  %s" % (n, 100.0 * n / total, name))
' "$1" "$top"
}

main() {
    parse_args "$@"
    command -v gdb >/dev/null || die "needs gdb (apt-get install gdb)"
    make -s -C "$ROOT" kernel >/dev/null
    SYMBOLS=$(nm "$ROOT/build/poketorture.elf" | awk '$2 == "R" && $3 ~ /^proto_/ { print $3 }')
    mkdir -p "$OUT"
    # One gdb stub port: one profile at a time on this host.
    exec 9>"${TMPDIR:-/tmp}/poketorture-profile.lock"
    flock 9
    local failed=0 spec
    for spec in "${specs[@]}"; do
        profile_one "$spec" || failed=1
    done
    exit "$failed"
}

main "$@"
