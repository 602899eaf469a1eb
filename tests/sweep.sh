#!/usr/bin/env bash
# A seed sweep: one suite run for each seed (and icount shift), spread over
# this machine's cores, or other machines', by GNU parallel; one log per run
# and a summary table in a results folder (docs/design.md §9.8).
set -euo pipefail

readonly ME=sweep.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT

usage() {
    cat <<'EOF'
Usage: tests/sweep.sh [OPTIONS] [-- KERNEL OPTIONS]
       tests/sweep.sh recheck DIR

Runs ./run-qemu.sh once per seed (and per icount shift), each with seed=N
added to the kernel options, N at a time, and summarizes the verdicts.

  --seeds LIST     the seeds: N (1 to N), A-B, or A,B,C (default 1-8)
  --shifts LIST    icount shifts (deterministic mode only): S, A-B or A,B,C,
                   each 0..10 (default 3); every seed runs at every shift
  --mode M         deterministic (default: ./run-qemu.sh --icount-shift S,
                   every run replayable exactly), or tcg, tcg-mt, kvm (the
                   accelerator, real time: each run is another interleaving
                   and its replay line is best-effort)
  --smp N          CPUs per run (default 4)
  --qemu Q         run-qemu.sh's --qemu (system, 10 or a path)
  --machine M      run-qemu.sh's --machine (pc or q35)
  --jobs N         runs at a time on each machine (default: its cores)
  --sshlogin S     also run on other machines (GNU parallel's --sshlogin,
                   e.g. ':,4/user@host'): each needs this repository at the
                   same path; the kernel is built there first. Logs come back
                   here.
  --timeout S      kill a run after S seconds (default 1200; run-qemu.sh's
                   own budget normally ends it first)
  --replay-check   rerun the first failing run from its replay line and
                   compare the logs up to the failure (tests/tools/replay.sh)
  --out DIR        results folder (default build/sweeps/DATE-TIME)

Results: DIR/runs/sSEED-iSHIFT.log (the serial console) and .log.err
(run-qemu.sh's messages), DIR/summary.tsv (seed, shift, verdict, seconds,
first failure, replay line), DIR/joblog (GNU parallel's). "recheck DIR"
summarizes a results folder again, from its logs.

While it runs, a progress line; at the end, the runs that did not pass with
their replay lines, and the count line
  sweep: N runs, N passed, N failed, N errors, N skipped; ...
Exit status: 0 every run passed (skips aside), 1 a run failed (FAILURE
verdict), 2 a run ended without a verdict (crash, timeout) or a usage error,
4 every run was skipped (this host cannot run them: run-qemu.sh's exit 4).
EOF
}

die_usage() {
    echo "$ME: usage error: $* (see --help)" >&2
    exit 2
}

seeds_arg=1-8 shifts_arg="" mode=deterministic smp=4 qemu="" machine="" jobs=""
sshlogin="" timeout=1200 replay_check=0 out=""
kernel_opts=()

# "N" (1..N), "A-B" or "A,B,C" of whole numbers from min to max.
expand_list() {
    local opt=$1 value=$2 min=$3 max=$4 one=$5 item
    local -a items=()
    if [[ $one == range1 && $value =~ ^[0-9]{1,9}$ ]]; then
        value=1-$value
    fi
    if [[ $value =~ ^([0-9]{1,9})-([0-9]{1,9})$ ]]; then
        local a=$((10#${BASH_REMATCH[1]})) b=$((10#${BASH_REMATCH[2]}))
        ((a <= b && b - a < 100000)) || die_usage "$opt '$value': accepted: A-B with A <= B, at most 100000 values"
        mapfile -t items < <(seq "$a" "$b")
    elif [[ $value =~ ^[0-9]{1,9}(,[0-9]{1,9})*$ ]]; then
        IFS=, read -ra items <<<"$value"
    else
        die_usage "$opt '$value': accepted: N, A-B or A,B,C (whole numbers from $min to $max)"
    fi
    for item in "${items[@]}"; do
        ((10#$item >= min && 10#$item <= max)) ||
            die_usage "$opt '$value': $item is out of range; accepted: $min to $max"
        echo $((10#$item))
    done
}

parse_args() {
    local opt value
    while (($#)); do
        opt=$1
        if [[ $opt == --*=* ]]; then
            set -- "${opt%%=*}" "${opt#*=}" "${@:2}"
            opt=$1
        fi
        case $opt in
            -h | --help) usage; exit 0 ;;
            --replay-check) replay_check=1; shift; continue ;;
            --) shift; kernel_opts=("$@"); break ;;
            --seeds | --shifts | --mode | --smp | --qemu | --machine | --jobs | --sshlogin | --timeout | --out)
                [[ $# -ge 2 && $2 != --* && -n $2 ]] || die_usage "$opt needs a value"
                value=$2; shift 2 ;;
            *) die_usage "unknown argument '$opt' (kernel options go after --)" ;;
        esac
        case $opt in
            --seeds) seeds_arg=$value ;;
            --shifts) shifts_arg=$value ;;
            --mode)
                [[ $value =~ ^(deterministic|tcg|tcg-mt|kvm)$ ]] ||
                    die_usage "--mode '$value': accepted: deterministic, tcg, tcg-mt, kvm"
                mode=$value ;;
            --smp) [[ $value =~ ^[0-9]{1,3}$ ]] && ((10#$value >= 1 && 10#$value <= 288)) ||
                       die_usage "--smp '$value': accepted: 1 to 288"
                   smp=$((10#$value)) ;;
            --qemu) qemu=$value ;;
            --machine) machine=$value ;;
            --jobs) [[ $value =~ ^[1-9][0-9]{0,2}$ ]] || die_usage "--jobs '$value': accepted: 1 to 999"
                    jobs=$value ;;
            --sshlogin) sshlogin=$value ;;
            --timeout) [[ $value =~ ^[1-9][0-9]{0,5}$ ]] || die_usage "--timeout '$value': accepted: 1 to 999999 seconds"
                       timeout=$value ;;
            --out) out=$value ;;
        esac
    done
    local o
    for o in "${kernel_opts[@]}"; do
        [[ $o != seed=* ]] || die_usage "kernel option '$o': the sweep gives each run its seed (use --seeds)"
        [[ $o != runner=* ]] || die_usage "kernel option '$o': run-qemu.sh gives runner= itself"
    done
    mapfile -t seeds < <(expand_list --seeds "$seeds_arg" 0 4294967295 range1)
    if [[ $mode == deterministic ]]; then
        mapfile -t shifts < <(expand_list --shifts "${shifts_arg:-3}" 0 10 plain)
    else
        [[ -z $shifts_arg ]] || die_usage "--shifts '$shifts_arg' with --mode $mode: icount shifts are for --mode deterministic"
        shifts=(x)
    fi
    ((${#seeds[@]} && ${#shifts[@]})) || die_usage "nothing to run"
    [[ -n $jobs ]] || jobs=$(nproc)
    [[ -n $out ]] || out=$ROOT/build/sweeps/$(date +%Y%m%d-%H%M%S)
}

# The run-qemu.sh arguments of one run, after "job SEED SHIFT".
runner_args() {
    local -a a=(--smp "$smp")
    [[ -z $qemu ]] || a+=(--qemu "$qemu")
    [[ -z $machine ]] || a+=(--machine "$machine")
    printf '%s\n' "${a[@]}"
}

# One run (GNU parallel calls this with the seed and the shift, x for none, here or on another machine): the serial
# console on stdout, run-qemu.sh's messages and a last "sweep-job:" line
# with the status and the seconds on stderr.
job() {
    local seed=$1 shift=$2 start status=0
    shift 2
    local -a args=() kopts=()
    while (($#)) && [[ $1 != -- ]]; do args+=("$1"); shift; done
    (($#)) && shift
    kopts=("$@" "seed=$seed")
    [[ $shift == x ]] || args+=(--icount-shift "$shift")
    start=$EPOCHREALTIME
    "$ROOT/run-qemu.sh" "${args[@]}" -- "${kopts[@]}" </dev/null || status=$?
    echo "sweep-job: exit $status in $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s on $(hostname)" >&2
    return "$status"
}

# A run's row from its two files: seed, shift, verdict, seconds, first
# failure, replay line.
summarize_run() {
    local log=$1 err=$1.err base seed shift status secs verdict first replay
    base=${log##*/}
    [[ $base =~ ^s([0-9]+)-i([0-9]+|x)\.log$ ]] || return 0
    seed=${BASH_REMATCH[1]} shift=${BASH_REMATCH[2]}
    [[ $shift != x ]] || shift=-
    status="" secs=""
    if [[ -f $err ]] && grep -qa '^sweep-job: exit ' "$err"; then
        read -r status secs < <(grep -a '^sweep-job: exit ' "$err" | tail -n 1 |
            sed -E 's/^sweep-job: exit ([0-9]+) in ([0-9.]+) s.*/\1 \2/')
    fi
    case $status in
        0) verdict=pass ;;
        1) verdict=FAIL ;;
        4) verdict=skip ;;
        '') verdict=ERROR; secs=- ;;
        *) verdict=ERROR ;;
    esac
    first=$(tr -d '\r' <"$log" 2>/dev/null | grep -a -m1 -E '^# (FAIL|ERROR): |^not ok ' | cut -c1-160 || true)
    if [[ -z $first && $verdict != pass ]]; then
        first=$(grep -a '^run-qemu.sh: ' "$err" 2>/dev/null | tail -n 1 | cut -c1-160 || true)
        [[ -n $first ]] || first="killed: no sweep-job line (the sweep's --timeout?)"
    fi
    replay=$(tr -d '\r' <"$log" 2>/dev/null | grep -a -m1 '^# replay: ' | sed 's/^# replay: //' || true)
    [[ $shift != - || -z $replay ]] || replay="$replay  (best-effort: not deterministic)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$seed" "$shift" "$verdict" "$secs" "${first:--}" "${replay:--}"
}

# summary.tsv from the runs/ folder, sorted by seed and shift; prints the
# runs that did not pass and the count line; returns the sweep's status.
recheck() {
    local dir=$1 wall="" row n=0 pass=0 fail=0 err=0 skip=0 sum=0
    [[ -d $dir/runs ]] || die_usage "recheck '$dir': no runs/ folder there (not a sweep's results folder)"
    # The wall time from GNU parallel's joblog: first start to last end.
    [[ ! -f $dir/joblog ]] || wall=$(awk -F'\t' 'NR > 1 { e = $3 + $4; if (!s || $3 < s) s = $3; if (e > m) m = e }
        END { if (s) printf "%.1f", m - s }' "$dir/joblog")
    {
        printf 'seed\tshift\tverdict\tseconds\tfirst failure\treplay\n'
        for row in "$dir"/runs/s*-i*.log; do
            [[ -f $row ]] && summarize_run "$row"
        done | sort -t$'\t' -k1,1n -k2,2n
    } >"$dir/summary.tsv"
    while IFS=$'\t' read -r seed shift verdict secs first replay; do
        [[ $seed == seed ]] && continue
        n=$((n + 1))
        [[ $secs == - ]] || sum=$(awk -v a="$sum" -v b="$secs" 'BEGIN { print a + b }')
        case $verdict in
            pass) pass=$((pass + 1)); continue ;;
            FAIL) fail=$((fail + 1)) ;;
            skip) skip=$((skip + 1)) ;;
            *) err=$((err + 1)) ;;
        esac
        echo "$verdict seed $seed shift $shift ($secs s): $first"
        [[ $replay == - ]] || echo "    replay: $replay"
    done <"$dir/summary.tsv"
    local timing="sum of run times ${sum} s"
    if [[ -n $wall ]]; then
        timing="wall ${wall} s, $timing ($(awk -v s="$sum" -v w="$wall" 'BEGIN { printf "%.2f", (w > 0 ? s / w : 0) }') runs at a time on average)"
    fi
    echo "sweep: $n runs, $pass passed, $fail failed, $err errors, $skip skipped; $timing; results in $dir"
    ((n > 0)) || return 2
    ((err == 0)) || return 2
    ((skip < n)) || return 4  # the host could run none of them
    ((fail == 0)) || return 1
    return 0
}

# A line every few seconds while the sweep runs (each change of the counts
# on a terminal, \r-refreshed; without one, at most every 30 s).
progress() {
    local dir=$1 total=$2 start=$3 last="" line finished failed now lastprint=0
    while :; do
        finished=$(cat "$dir"/runs/*.err 2>/dev/null | grep -ac '^sweep-job: exit ' || true)
        failed=$(cat "$dir"/runs/*.err 2>/dev/null | grep -acE '^sweep-job: exit [^0]' || true)
        now=$(date +%s)
        line="sweep: $finished/$total done, $failed not passed, $((now - start)) s"
        if [[ -t 2 ]]; then
            [[ $line == "$last" ]] || printf '\r%s ' "$line" >&2
        elif [[ $line != "$last" ]] && ((now - lastprint >= 30 || finished == total)); then
            echo "$line" >&2
            lastprint=$now
        fi
        last=$line
        sleep 2
    done
}

build_everywhere() {
    make -s -C "$ROOT" kernel >&2
    [[ -z $sshlogin ]] && return 0
    echo "$ME: building the kernel on every machine of --sshlogin '$sshlogin'" >&2
    parallel --will-cite --nonall --sshlogin "$sshlogin" -q make -s -C "$ROOT" kernel >&2
}

# The first failing run, rerun from its replay line, compared with its log.
check_one_replay() {
    local dir=$1 seed shift verdict secs first replay
    while IFS=$'\t' read -r seed shift verdict secs first replay; do
        [[ $verdict == FAIL && $replay != - ]] || continue
        echo "$ME: replay check: seed $seed shift $shift: $replay"
        "$ROOT/tests/tools/replay.sh" --log "$dir/replay-s$seed-i${shift/-/x}.log" \
            --compare "$dir/runs/s$seed-i${shift/-/x}.log" -- "${replay%  (best-effort*}" 2>&1 |
            grep -a '^replay.sh: ' || true
        return "${PIPESTATUS[0]}"
    done <"$dir/summary.tsv"
    echo "$ME: replay check: no failing run to replay"
    return 1
}

main() {
    if [[ ${1:-} == job ]]; then
        shift
        job "$@"
        return
    fi
    if [[ ${1:-} == recheck ]]; then
        [[ $# -eq 2 ]] || die_usage "recheck takes one results folder"
        recheck "$2"
        return
    fi
    parse_args "$@"
    "$ROOT/tests/tools/deps.sh" >&2
    build_everywhere
    mkdir -p "$out/runs"
    local -a rargs
    mapfile -t rargs < <(runner_args)
    [[ $mode == deterministic ]] || rargs+=(--accel "$mode")
    local total=$((${#seeds[@]} * ${#shifts[@]})) start status=0
    {
        echo "# tests/sweep.sh $*"
        echo "# $(date -u +%FT%TZ) on $(hostname), $(nproc) cores, git $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
    } >"$out/config"
    echo "$ME: $total runs (${#seeds[@]} seeds x ${#shifts[@]} shifts), mode $mode, $jobs at a time${sshlogin:+ and on $sshlogin}; results in $out" >&2
    start=$(date +%s)
    progress "$out" "$total" "$start" &
    local progress_pid=$!
    # shellcheck disable=SC2064 # the pid is known now
    trap "kill $progress_pid 2>/dev/null || true" EXIT
    local -a par=(parallel --will-cite -q --jobs "$jobs" --timeout "$timeout"
        --joblog "$out/joblog" --results "$out/runs/s{1}-i{2}.log")
    [[ -z $sshlogin ]] || par+=(--sshlogin "$sshlogin")
    "${par[@]}" "$ROOT/tests/sweep.sh" job '{1}' '{2}' "${rargs[@]}" -- "${kernel_opts[@]}" \
        ::: "${seeds[@]}" ::: "${shifts[@]}" </dev/null >/dev/null 2>&1 || true
    kill "$progress_pid" 2>/dev/null || true
    [[ ! -t 2 ]] || echo >&2
    recheck "$out" || status=$?
    if ((replay_check)); then
        check_one_replay "$out" || { echo "$ME: replay check failed"; ((status == 2)) || status=2; }
    fi
    return "$status"
}

main "$@"
