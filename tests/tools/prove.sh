#!/usr/bin/env bash
# Proves that the detectors can fail: each file in tests/breaks/ is a small
# patch that breaks the engine (or the tooling) the way one detector guards
# against, with the run that must then fail and the line it must print.
# For each break: the run on this tree must pass (the baseline), then on a
# copy with the break applied it must fail with that line (the break is
# "caught"). A break the run does not notice, or that no longer applies,
# is reported and makes the exit status non-zero.
#
#   tests/tools/prove.sh [--no-baseline] [NAME...]     (default: every break)
#
# A break file: comment lines, then a patch that `git apply` takes:
#   # guards: what the detector is for (one line)
#   # run: qemu --smp 4 -- tests=poke.jmp_flip       (run-qemu.sh arguments)
#   # run: suite det-replay                          (a suite.manifest line)
#   # run: linux --smp 2 --modes idle                (tests/linux/run-linux.sh
#                                                      arguments: Linux 6.1)
#   # expect: REGEX                                  (grep -E on the output)
#   diff --git a/... b/...
set -euo pipefail

readonly ME=prove.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly ROOT
readonly BREAKS=$ROOT/tests/breaks
readonly OUT=$ROOT/build/prove

baseline=1 caught=0 missed=0 stale=0
names=()

die_usage() {
    echo "$ME: usage error: $*" >&2
    exit 2
}

field() {
    sed -n "s/^# $2: //p" "$1" | head -n 1
}

# Runs a break's run in tree $1, output to $2; returns its status.
run_in() {
    local tree=$1 out=$2 run=$3 status=0
    local -a words
    read -ra words <<<"$run"
    case ${words[0]} in
        qemu)
            "$tree/run-qemu.sh" --log "$out.serial" "${words[@]:1}" </dev/null >/dev/null 2>"$out" || status=$?
            cat "$out.serial" >>"$out" 2>/dev/null || true ;;
        suite)
            (cd "$tree" && tests/qemu/run-suite.sh --filter "${words[1]}") </dev/null >"$out" 2>&1 || status=$?
            cat "$tree/build/logs/${words[1]}.log" >>"$out" 2>/dev/null || true ;;
        linux)  # the kernel fetched into this tree's cache serves the copy too
            POKETORTURE_CACHE=${POKETORTURE_CACHE:-$ROOT/.cache} "$tree/tests/linux/run-linux.sh" \
                --log "$out.serial" "${words[@]:1}" </dev/null >/dev/null 2>"$out" || status=$?
            cat "$out.serial" >>"$out" 2>/dev/null || true ;;
        *) echo "bad run '$run' (qemu ARGS, suite NAME or linux ARGS)" >"$out"; return 2 ;;
    esac
    return "$status"
}

# A copy of this tree (committed or not, build/ left out) with the break.
broken_copy() {
    local name=$1 file=$2 dir=$OUT/$1
    rm -rf "$dir"
    mkdir -p "$dir"
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
        xargs -0 tar -cf - 2>/dev/null) | tar -xf - -C "$dir"
    git -C "$dir" init -q 2>/dev/null || true
    if ! git -C "$dir" apply --whitespace=nowarn "$file" 2>"$dir.apply"; then
        return 1
    fi
    make -s -C "$dir" VERSION="break-$name" kernel >"$dir.build" 2>&1 || {
        echo "build failed" >>"$dir.apply"
        return 1
    }
}

prove_one() {
    local file=$1 name guards run expect status line
    name=$(basename "$file" .patch)
    guards=$(field "$file" guards) run=$(field "$file" run) expect=$(field "$file" expect)
    if [[ -z $run || -z $expect ]]; then
        echo "STALE $name: no '# run:' or '# expect:' line"
        stale=$((stale + 1))
        return
    fi
    if ((baseline)); then
        status=0
        run_in "$ROOT" "$OUT/$name.baseline" "$run" || status=$?
        if ((status != 0)); then
            echo "STALE $name: the run fails without the break too (exit $status, see $OUT/$name.baseline)"
            stale=$((stale + 1))
            return
        fi
    fi
    if ! broken_copy "$name" "$file"; then
        echo "STALE $name: the break no longer applies or builds: $(head -n 1 "$OUT/$name.apply")"
        stale=$((stale + 1))
        return
    fi
    status=0
    run_in "$OUT/$name" "$OUT/$name.out" "$run" || status=$?
    line=$(tr -d '\r' <"$OUT/$name.out" | grep -aE -m1 -- "$expect" || true)
    if ((status != 0)) && [[ -n $line ]]; then
        echo "CAUGHT $name ($guards): ${line:0:200}"
        caught=$((caught + 1))
    else
        echo "MISSED $name ($guards): exit $status, /$expect/ ${line:+matched}${line:-not found} (see $OUT/$name.out)"
        missed=$((missed + 1))
    fi
    rm -rf "${OUT:?}/$name"
}

main() {
    while (($#)); do
        case $1 in
            -h | --help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
            --no-baseline) baseline=0 ;;
            -*) die_usage "unknown option '$1' (accepted: --no-baseline, break names)" ;;
            *) [[ -f $BREAKS/$1.patch ]] || die_usage "no break '$1' (known: $(cd "$BREAKS" && ls ./*.patch | sed 's|^\./||; s|\.patch$||' | tr '\n' ' '))"
               names+=("$1") ;;
        esac
        shift
    done
    mkdir -p "$OUT"
    make -s -C "$ROOT" kernel >&2
    local f
    if ((${#names[@]} == 0)); then
        for f in "$BREAKS"/*.patch; do prove_one "$f"; done
    else
        for f in "${names[@]}"; do prove_one "$BREAKS/$f.patch"; done
    fi
    echo "prove: $caught caught, $missed missed, $stale stale"
    ((missed == 0 && stale == 0))
}

main "$@"
