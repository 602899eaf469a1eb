#!/usr/bin/env bash
# make bench: the benchmark matrix. One boot of `bench tests=bench.*` per
# platform, CPU count and sync mode. Writes build/bench/results.tsv (one row
# per figure), results.md (tables) and PNG plots (gnuplot): patch latency
# against CPUs per protocol, and per-site cost against batch size.
#
# Linux's side: each configuration also boots Linux 6.1 with a module that
# toggles a static key (tests/linux/run-linux.sh, tests/linux/ptbench.c) on
# the same QEMU, accelerator and CPUs, alternating with poketorture's boots
# (ours, Linux, ours, Linux... for --rounds 2); its rows have kernel=linux,
# and results.md compares them with ours ("against Linux 6.1"). When Linux
# cannot be fetched or built the tables say "Linux: skipped" with the reason
# and the run still succeeds with poketorture's rows.
#
#   tests/qemu/bench.sh [--sync MODES] [--rounds R] [--no-linux] [CONFIG...]
#   tests/qemu/bench.sh --tables     (tables and plots again from the logs of
#                                     the last run, build/bench/raw-*.log
#                                     and linux-*.log)
#
# CONFIG is PLATFORM:CPUS; PLATFORM is
#   tcg     the system QEMU, single-threaded TCG (one host thread runs every
#           vCPU in turn: a tight spinner holds it for a whole timeslice)
#   mttcg   QEMU 10 (tests/tools/qemu10.sh), multi-threaded TCG: one host
#           thread per vCPU, truly parallel when CPUS <= host cores
# A bare number N means tcg:N. Default: tcg:2 tcg:4 tcg:8 mttcg:2.
# MODES is a comma-separated list of the kernel's sync= values (broadcast,
# deferred; docs/design.md §12.4); default: both. R rounds (default 1) run
# each configuration's boots R times in turn; the tables other than Linux's
# show round 1, results.tsv holds every round (column round).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/build/bench
COLS=(platform kernel round sync name protocol cpus sites spin to n min_ns p25_ns median_ns p75_ns p99_ns max_ns per_site_ns
      floor_ns floor_ratio passes_idle passes_patching patches lost_passes_per_patch lost_min lost_max syncs_per_patch
      mismatches passes_on_min passes_off_min status code_floor_ns code_floor_ratio code_write_ns)

die() { echo "bench.sh: $*" >&2; exit 1; }
die_usage() { echo "bench.sh: usage error: $*" >&2; exit 2; }

# run-qemu.sh arguments of a platform.
platform_args() {
    case $1 in
        tcg) echo "--accel tcg" ;;
        mttcg) echo "--qemu 10 --accel tcg-mt" ;;
    esac
}

# tests/linux/run-linux.sh arguments of a platform (the same QEMU and
# accelerator as platform_args).
linux_args() {
    case $1 in
        tcg) echo "--accel tcg --qemu system" ;;
        mttcg) echo "--accel tcg-mt --qemu 10" ;;
    esac
}

# Linux 6.1 on one configuration: linux-PLATFORM-CPUS[-rR].log. A host that
# cannot (no kernel fetched, no module built, no such QEMU) leaves
# linux-PLATFORM-CPUS.skip with the reason; a boot that failed, hung or
# printed an error leaves the reason in linux-PLATFORM-CPUS.failed, and the
# run ends non-zero after the tables.
run_linux() {
    local p=$1 n=$2 r=$3 log rc=0 stem=$OUT/linux-$1-$2
    [[ -e $stem.skip ]] && return 0
    log=$stem$( ((r == 1)) || echo "-r$r").log
    echo "== $p, $n CPUs, Linux 6.1 (round $r)"
    # shellcheck disable=SC2046 # linux_args is a word list
    "$ROOT/tests/linux/run-linux.sh" --smp "$n" $(linux_args "$p") --timeout 900 --log "$log" \
        </dev/null >/dev/null 2>"$log.err" || rc=$?
    case $rc in
        0) ;;
        4) tail -n 1 "$log.err" | sed 's/^run-linux.sh: //' >"$stem.skip"
           echo "   Linux skipped: $(cat "$stem.skip")"
           rm -f "$log" ;;
        *) tail -n 1 "$log.err" | sed 's/^run-linux.sh: //' >>"$stem.failed"
           echo "   Linux failed (exit $rc): $(tail -n 1 "$stem.failed")" ;;
    esac
}

# One boot per configuration and sync mode, then Linux's, per round; the
# serial logs are kept as raw-PLATFORM-CPUS-SYNC.log (round 1) and
# raw-PLATFORM-CPUS-SYNC-rR.log.
run_matrix() {
    local cfg p n s log rc r
    for cfg in "${CONFIGS[@]}"; do
        p=${cfg%%:*} n=${cfg#*:}
        for ((r = 1; r <= ROUNDS; r++)); do
        for s in "${SYNCS[@]}"; do
            log=$OUT/raw-$p-$n-$s$( ((r == 1)) || echo "-r$r").log
            echo "== $p, $n CPUs, sync=$s$( ((ROUNDS == 1)) || echo " (round $r)")"
            rc=0
            # shellcheck disable=SC2046 # platform_args is a word list
            "$ROOT/run-qemu.sh" --smp "$n" $(platform_args "$p") --timeout 1800 --log "$log" \
                -- bench 'tests=bench.*' "sync=$s" </dev/null >/dev/null 2>"$log.err" || rc=$?
            case $rc in
                0) ;;
                4)  # run-qemu.sh: the host cannot run this QEMU (not a kernel failure)
                    echo "   skipped: $(tail -n 1 "$log.err")"
                    rm -f "$log" ;;
                *) die "the benchmark run on $p with $n CPUs and sync=$s failed (exit $rc; see $log and $log.err)" ;;
            esac
        done
        ((LINUX == 0)) || run_linux "$p" "$n" "$r"
        done
    done
}

# "# bench: k=v k=v ..." lines to TSV rows with the columns above; the
# platform, sync mode and round come from the log's name
# (raw-PLATFORM-CPUS-SYNC[-rR].log, linux-PLATFORM-CPUS[-rR].log).
to_tsv() {
    local log base p s r
    (IFS=$'\t'; echo "${COLS[*]}")
    for log in "$OUT"/raw-*.log "$OUT"/linux-*.log; do
        [[ -f $log ]] || continue
        base=$(basename "$log" .log) r=""
        if [[ $base == raw-* ]]; then
            IFS=- read -r _ p _ s r <<<"$base"
            set -- "kernel=poketorture sync=$s"
        else
            IFS=- read -r _ p _ r <<<"$base"
            set -- "kernel=linux sync=-"
        fi
        r=${r#r}
        tr -d '\r' <"$log" | grep -a '^# bench: ' | sed "s/^# bench: /platform=$p round=${r:-1} $1 /" |
            awk -v cols="${COLS[*]}" '
                BEGIN { n = split(cols, c, " ") }
                { delete kv; for (i = 1; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
                  line = ""; for (i = 1; i <= n; i++) line = line (i > 1 ? "\t" : "") (c[i] in kv ? kv[c[i]] : "-")
                  print line }'
    done
}

col() { # column number of a name
    local i
    for i in "${!COLS[@]}"; do [[ ${COLS[$i]} == "$1" ]] && { echo $((i + 1)); return; }; done
}

# awk with every column's number as a variable of its name (c_median_ns...).
tawk() {
    local -a vars=() i
    for i in "${!COLS[@]}"; do vars+=(-v "c_${COLS[$i]}=$((i + 1))"); done
    awk -F'\t' "${vars[@]}" "$@"
}

# A figure in microseconds with its ratio to the floor: "12.0 (1.29)".
readonly US_RATIO='function us(ns) { return ns == "" || ns == "-" ? "" : sprintf("%.1f", ns / 1000) }
function ur(k) { return k in med ? us(med[k]) " (" sprintf("%.2f", rat[k]) ((k in crat) && crat[k] != "-" ? "; " sprintf("%.2f", crat[k]) : "") ")" : "" }'

markdown() {
    local tsv=$1
    echo "### One-site patch latency (median us; in brackets, / three syncs of the row's sync mode timed between the same patches; then / three code writes with their syncs, the same way)"
    echo
    echo "The second ratio's floor is the site's first byte written over with itself and a sync: what any protocol that"
    echo "writes three times pays on the platform when other CPUs run the site (docs/design.md §12.4, two floors)."
    echo
    echo "| platform | sync | protocol | CPUs | others idle | spinning (pause) | spinning (tight) |"
    echo "|---|---|---|---|---|---|---|"
    tawk "$US_RATIO"'
        $c_round == 1 && $c_name == "patch_latency" { key = $c_platform " | " $c_sync " | " $c_protocol " | " $c_cpus; keys[key] = 1
            med[key, $c_spin] = $c_median_ns; rat[key, $c_spin] = $c_floor_ratio; crat[key, $c_spin] = $c_code_floor_ratio }
        END { for (k in keys) printf "| %s | %s | %s | %s |\n", k,
                  ur(k SUBSEP "idle"), ur(k SUBSEP "pause"), ur(k SUBSEP "tight") }' "$tsv" | sort
    echo
    echo "### Where the code floor goes: one write to the site alone, before its sync (median ns; int3's rows)"
    echo
    echo "The writer's part of a code write with its sync; under QEMU's MTTCG, a write to code another vCPU is running"
    echo "costs the writer far more than one nobody runs (docs/design.md §12.4)."
    echo
    echo "| platform | sync | CPUs | others idle | spinning (pause) | spinning (tight) |"
    echo "|---|---|---|---|---|---|"
    tawk '
        $c_round == 1 && $c_name == "patch_latency" && $c_protocol == "int3" { key = $c_platform " | " $c_sync " | " $c_cpus; keys[key] = 1
            w[key, $c_spin] = $c_code_write_ns }
        END { for (k in keys) printf "| %s | %s | %s | %s |\n", k, w[k, "idle"], w[k, "pause"], w[k, "tight"] }' "$tsv" | sort
    echo
    echo "### A stream of 64 patches, one site each (median us per patch; in brackets, / three syncs timed between the streams)"
    echo
    echo "| platform | sync | protocol | CPUs | syncs per patch | others idle | spinning (pause) | spinning (tight) |"
    echo "|---|---|---|---|---|---|---|---|"
    tawk "$US_RATIO"'
        $c_round == 1 && $c_name == "stream" { key = $c_platform " | " $c_sync " | " $c_protocol " | " $c_cpus; keys[key] = 1
            med[key, $c_spin] = $c_median_ns; rat[key, $c_spin] = $c_floor_ratio; spp[key] = $c_syncs_per_patch }
        END { for (k in keys) printf "| %s | %s | %s | %s | %s |\n", k, spp[k],
                  ur(k SUBSEP "idle"), ur(k SUBSEP "pause"), ur(k SUBSEP "tight") }' "$tsv" | sort
    echo
    echo "### Batches (per-site ns, median)"
    echo
    echo "| platform | sync | protocol | CPUs | 1 | 4 | 16 | 64 | 256 | 1024 |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    tawk '
        $c_round == 1 && $c_name == "batch" { key = $c_platform " | " $c_sync " | " $c_protocol " | " $c_cpus; keys[key] = 1
            v[key, $c_sites] = $c_per_site_ns }
        END { for (k in keys) printf "| %s | %s | %s | %s | %s | %s | %s |\n", k, v[k,1], v[k,4], v[k,16],
                  v[k,64], v[k,256], v[k,1024] }' "$tsv" | sort
    echo
    echo "### Sync round trip to every other CPU (the unit of the floors above, median ns; under sync=deferred an idle CPU is marked, not interrupted)"
    echo
    echo "| platform | sync | CPUs | sync round trip |"
    echo "|---|---|---|---|"
    tawk '$c_round == 1 && $c_name == "sync_rtt" { printf "| %s | %s | %s | %s |\n", $c_platform, $c_sync, $c_cpus, $c_median_ns }' \
        "$tsv" | sort
}

# "Against Linux 6.1": per platform, CPUs and round, Linux's static-key
# toggle against poketorture's int3 (one site) and int3-batch (64 sites) in
# each sync mode; the ratio is Linux's median / ours (how many times faster).
linux_table() {
    local tsv=$1 f
    echo "### Against Linux 6.1 (median us; in brackets, Linux's median / ours: how many times faster ours is)"
    echo
    echo "Linux: \`static_branch_enable()\`/\`static_branch_disable()\` of one key, alternating, timed in process context"
    echo "(tests/linux/ptbench.c); ours: \`patch_latency\` of int3 (one site) and \`batch\` of int3-batch (64 sites)."
    echo
    echo "| platform | CPUs | round | figure | Linux 6.1 | int3 broadcast | int3 deferred |"
    echo "|---|---|---|---|---|---|---|"
    tawk '
        function us(ns, d) { return sprintf("%." d "f", ns / 1000) }
        function cell(k, s, d,  r) {
            if (!((k, s) in ours)) return "-"
            r = k in lin && !bad[k] && ours[k, s] > 0 ? sprintf(lin[k] < ours[k, s] ? " (%.2fx)" : " (%.1fx)", lin[k] / ours[k, s]) : ""
            return us(ours[k, s], d) r }
        { base = $c_platform " | " $c_cpus " | " $c_round }
        $c_kernel == "linux" && $c_name == "static_key" {
            k = base SUBSEP ($c_sites == 64 ? "64" : $c_spin); rows[base] = 1
            lin[k] = $c_median_ns; bad[k] = $c_status != "ok"
            if ($c_sites == 64) { lin[base SUBSEP "64s"] = $c_per_site_ns; bad[base SUBSEP "64s"] = bad[k] } }
        $c_kernel == "poketorture" && $c_name == "patch_latency" && $c_protocol == "int3" {
            rows[base] = 1; ours[base SUBSEP $c_spin, $c_sync] = $c_median_ns }
        $c_kernel == "poketorture" && $c_name == "batch" && $c_protocol == "int3-batch" && $c_sites == 64 {
            rows[base] = 1; ours[base SUBSEP "64", $c_sync] = $c_median_ns; ours[base SUBSEP "64s", $c_sync] = $c_per_site_ns }
        END {
            n = split("idle|one site, others idle|pause|one site, pause spinners|tight|one site, tight spinners|" \
                      "64|64 sites, per toggle|64s|64 sites, per site", f, "|")
            for (b in rows) for (i = 1; i < n; i += 2) {
                k = b SUBSEP f[i]; d = f[i] == "64s" ? 2 : 1
                l = k in lin ? (bad[k] ? "error" : us(lin[k], d)) : "-"
                printf "| %s | %s | %s | %s | %s |\n", b, f[i + 1], l, cell(k, "broadcast", d), cell(k, "deferred", d) } }
        ' "$tsv" | sort -t'|' -k2,2 -k3,3n -k4,4n -s
    echo
    if [[ -e $OUT/linux.off ]]; then
        echo "Linux: not run (--no-linux)."
    fi
    local b kind
    for f in "$OUT"/linux-*.skip "$OUT"/linux-*.failed; do
        [[ -e $f ]] || continue
        b=${f##*/linux-} kind=${f##*.}
        b=${b%.*}
        [[ $kind == skip ]] && kind=skipped
        echo "- ${b%%-*}, ${b#*-} CPUs: Linux: $kind: $(tail -n 1 "$f")"
    done
}

plots() {
    local tsv=$1 p s bc=""
    command -v gnuplot >/dev/null || die "gnuplot is missing (tests/tools/deps.sh installs gnuplot-nox)"
    s=${SYNCS[0]}
    # The batch plot's CPU count: 4 if measured on tcg, else the first tcg
    # one (from the figures, which --tables may have from fewer configurations).
    bc=$(tawk '$c_name == "batch" && $c_platform == "tcg" { print $c_cpus }' "$tsv" | sort -un |
        awk '!b || $1 == 4 { b = $1 } END { print b }')
    # Its sync mode: the first asked for, else the first measured.
    tawk -v s="$s" '$c_name == "batch" && $c_sync == s { f = 1 } END { exit !f }' "$tsv" ||
        s=$(tawk '$c_name == "batch" && $c_kernel == "poketorture" { print $c_sync; exit }' "$tsv")
    [[ -n $bc ]] || { echo "bench.sh: no tcg configuration: no plots"; return 0; }
    # Latency against CPUs, one line per protocol and sync mode (tcg,
    # spin=idle); batches at one CPU count in the first sync mode.
    local lat="" sm
    for p in int3 int3-batch cpumask stop-machine trap-first int3-pipe; do
        for sm in "${SYNCS[@]}"; do
            tawk -v p="$p" -v s="$sm" \
                '$c_round == 1 && $c_name == "patch_latency" && $c_platform == "tcg" && $c_sync == s && $c_protocol == p &&
                 $c_spin == "idle" { print $c_cpus, $c_median_ns / 1000 }' "$tsv" | sort -n >"$OUT/lat-$p-$sm.dat"
            [[ -s $OUT/lat-$p-$sm.dat ]] && lat+="${lat:+ }$p-$sm"
        done
        tawk -v p="$p" -v s="$s" -v bc="$bc" \
            '$c_round == 1 && $c_name == "batch" && $c_platform == "tcg" && $c_sync == s && $c_protocol == p && $c_cpus == bc {
             print $c_sites, $c_per_site_ns / 1000 }' "$tsv" | sort -n >"$OUT/batch-$p.dat"
    done
    gnuplot <<GP
set terminal pngcairo size 800,500
set grid
set key outside right
set output "$OUT/latency_vs_cpus.png"
set title "One-site patch latency, other CPUs idle (QEMU TCG, single-threaded)"
set xlabel "CPUs"; set ylabel "median latency (us)"
plot for [p in "$lat"] "$OUT/lat-".p.".dat" using 1:2 with linespoints title p
set output "$OUT/per_site_vs_batch.png"
set title "Cost per site against batch size, $bc CPUs (sync=$s)"
set logscale x 2; set logscale y
set xlabel "sites per patch"; set ylabel "median us per site"
plot for [p in "int3-batch cpumask stop-machine trap-first"] "$OUT/batch-".p.".dat" using 1:2 with linespoints title p
GP
}
parse_args() {
    local a
    SYNCS=(broadcast deferred) CONFIGS=() TABLES_ONLY=0 ROUNDS=1 LINUX=1
    while (($#)); do
        a=$1
        case $a in
            --sync)
                [[ $# -ge 2 && $2 =~ ^(broadcast|deferred)(,(broadcast|deferred))*$ ]] ||
                    die_usage "--sync '${2:-}': accepted: broadcast, deferred, or both separated by a comma"
                IFS=, read -r -a SYNCS <<<"$2"
                shift 2 ;;
            --tables) TABLES_ONLY=1; shift ;;
            --no-linux) LINUX=0; shift ;;
            --rounds)
                [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || die_usage "--rounds '${2:-}': a whole number from 1"
                ROUNDS=$2
                shift 2 ;;
            -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
            *)
                [[ $a =~ ^[0-9]+$ ]] && a=tcg:$a
                [[ $a =~ ^(tcg|mttcg):([0-9]+)$ && ${BASH_REMATCH[2]} -ge 2 ]] ||
                    die_usage "configuration '$1': accepted: tcg:N or mttcg:N (or a bare N for tcg:N), N a whole number from 2"
                CONFIGS+=("$a")
                shift ;;
        esac
    done
    ((TABLES_ONLY == 0 || ${#CONFIGS[@]} == 0)) ||
        die_usage "--tables takes no configuration: it reads every build/bench/raw-*.log"
    ((${#CONFIGS[@]})) || CONFIGS=(tcg:2 tcg:4 tcg:8 mttcg:2)
}

main() {
    parse_args "$@"
    mkdir -p "$OUT"
    if ((TABLES_ONLY == 0)); then
        rm -f "$OUT"/raw-*.log "$OUT"/raw-*.log.err "$OUT"/linux-*
        ((LINUX)) || echo "--no-linux" >"$OUT/linux.off"
        ((LINUX == 0)) || rm -f "$OUT/linux.off"
        run_matrix
    fi
    compgen -G "$OUT/raw-*.log" >/dev/null || die "no configuration could run on this host: no figures"
    to_tsv >"$OUT/results.tsv"
    { markdown "$OUT/results.tsv"; echo; linux_table "$OUT/results.tsv"; } >"$OUT/results.md"
    plots "$OUT/results.tsv"
    echo "bench: $(($(wc -l <"$OUT/results.tsv") - 1)) figures in $OUT/results.tsv; tables in results.md;" \
         "plots latency_vs_cpus.png, per_site_vs_batch.png"
    if compgen -G "$OUT/linux-*.failed" >/dev/null; then
        die "a Linux run failed: $(cat "$OUT"/linux-*.failed | paste -sd ';' -) (see $OUT/linux-*.log)"
    fi
}

main "$@"
