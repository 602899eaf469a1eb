#!/usr/bin/env bash
# make bench: the benchmark matrix on single-threaded TCG for 2, 4 and 8
# CPUs. Writes build/bench/results.tsv (one row per figure), results.md
# (tables) and PNG plots (gnuplot): patch latency against CPUs per protocol,
# and per-site cost against batch size.
#   tests/qemu/bench.sh [CPU COUNTS...]   (default: 2 4 8)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/build/bench
COLS=(name protocol cpus sites spin to n min_ns p25_ns median_ns p75_ns p99_ns max_ns per_site_ns
      floor_ns floor_ratio passes_idle passes_patching patches lost_passes_per_patch lost_min lost_max syncs_per_patch)

die() { echo "bench.sh: $*" >&2; exit 1; }

# One boot per CPU count; the serial logs are kept.
run_matrix() {
    local n
    for n in "$@"; do
        [[ $n =~ ^[0-9]+$ && $n -ge 2 ]] || die "CPU count '$n': accepted: whole numbers from 2"
        echo "== $n CPUs"
        "$ROOT/run-qemu.sh" --smp "$n" --accel tcg --timeout 1200 --log "$OUT/raw-$n.log" \
            -- bench 'tests=bench.*' </dev/null >/dev/null ||
            die "the benchmark run with $n CPUs failed (see $OUT/raw-$n.log)"
    done
}

# "# bench: k=v k=v ..." lines to TSV rows with the columns above.
to_tsv() {
    (IFS=$'\t'; echo "${COLS[*]}")
    cat "$OUT"/raw-*.log | tr -d '\r' | grep -a '^# bench: ' | sed 's/^# bench: //' |
        awk -v cols="${COLS[*]}" '
            BEGIN { n = split(cols, c, " ") }
            { delete kv; for (i = 1; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
              line = ""; for (i = 1; i <= n; i++) line = line (i > 1 ? "\t" : "") (c[i] in kv ? kv[c[i]] : "-")
              print line }'
}

col() { # column number of a name
    local i
    for i in "${!COLS[@]}"; do [[ ${COLS[$i]} == "$1" ]] && { echo $((i + 1)); return; }; done
}

markdown() {
    local tsv=$1
    echo "### One-site patch latency (median ns; floor_ratio = median / three broadcast syncs)"
    echo
    echo "| protocol | CPUs | idle | floor_ratio | spinning (pause) | spinning (tight) |"
    echo "|---|---|---|---|---|---|"
    awk -F'\t' -v N="$(col name)" -v P="$(col protocol)" -v C="$(col cpus)" -v S="$(col spin)" \
        -v M="$(col median_ns)" -v F="$(col floor_ratio)" '
        $N == "patch_latency" { key = $P "\t" $C; keys[key] = 1; med[key, $S] = $M; if ($S == "idle") fl[key] = $F }
        END { for (k in keys) { split(k, a, "\t"); printf "| %s | %s | %s | %s | %s | %s |\n", a[1], a[2], med[k, "idle"], fl[k], med[k, "pause"], med[k, "tight"] } }' "$tsv" |
        sort -t'|' -k2,2 -k3,3n
    echo
    echo "### Batches (per-site ns, median)"
    echo
    echo "| protocol | CPUs | 1 | 4 | 16 | 64 | 256 | 1024 |"
    echo "|---|---|---|---|---|---|---|---|"
    awk -F'\t' -v N="$(col name)" -v P="$(col protocol)" -v C="$(col cpus)" -v Z="$(col sites)" \
        -v X="$(col per_site_ns)" '
        $N == "batch" { key = $P "\t" $C; keys[key] = 1; v[key, $Z] = $X }
        END { for (k in keys) { split(k, a, "\t"); printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", a[1], a[2], v[k,1], v[k,4], v[k,16], v[k,64], v[k,256], v[k,1024] } }' "$tsv" |
        sort -t'|' -k2,2 -k3,3n
    echo
    echo "### Broadcast sync round trip (the unit of the int3 floor, median ns)"
    echo
    echo "| CPUs | sync round trip |"
    echo "|---|---|"
    awk -F'\t' -v N="$(col name)" -v C="$(col cpus)" -v M="$(col median_ns)" \
        '$N == "sync_rtt" { printf "| %s | %s |\n", $C, $M }' "$tsv" | sort -t'|' -k2,2n
}

plots() {
    local tsv=$1 p
    command -v gnuplot >/dev/null || die "gnuplot is missing (tests/tools/deps.sh installs gnuplot-nox)"
    # Latency against CPUs, one line per protocol (spin=idle).
    for p in int3 int3-batch cpumask stop-machine trap-first; do
        awk -F'\t' -v N="$(col name)" -v P="$(col protocol)" -v C="$(col cpus)" -v S="$(col spin)" \
            -v M="$(col median_ns)" -v p="$p" \
            '$N == "patch_latency" && $P == p && $S == "idle" { print $C, $M / 1000 }' "$tsv" |
            sort -n >"$OUT/lat-$p.dat"
        awk -F'\t' -v N="$(col name)" -v P="$(col protocol)" -v C="$(col cpus)" -v Z="$(col sites)" \
            -v X="$(col per_site_ns)" -v p="$p" \
            '$N == "batch" && $P == p && $C == 4 { print $Z, $X / 1000 }' "$tsv" |
            sort -n >"$OUT/batch-$p.dat"
    done
    gnuplot <<GP
set terminal pngcairo size 800,500
set grid
set key left top
set output "$OUT/latency_vs_cpus.png"
set title "One-site patch latency, other CPUs idle (QEMU TCG, single-threaded)"
set xlabel "CPUs"; set ylabel "median latency (us)"
plot for [p in "int3 int3-batch cpumask stop-machine trap-first"] "$OUT/lat-".p.".dat" using 1:2 with linespoints title p
set output "$OUT/per_site_vs_batch.png"
set title "Cost per site against batch size, 4 CPUs"
set logscale x 2; set logscale y
set xlabel "sites per patch"; set ylabel "median us per site"
plot for [p in "int3-batch cpumask stop-machine trap-first"] "$OUT/batch-".p.".dat" using 1:2 with linespoints title p
GP
}

main() {
    local counts=("$@")
    ((${#counts[@]})) || counts=(2 4 8)
    mkdir -p "$OUT"
    rm -f "$OUT"/raw-*.log
    run_matrix "${counts[@]}"
    to_tsv >"$OUT/results.tsv"
    markdown "$OUT/results.tsv" >"$OUT/results.md"
    plots "$OUT/results.tsv"
    echo "bench: $(($(wc -l <"$OUT/results.tsv") - 1)) figures in $OUT/results.tsv; tables in results.md;" \
         "plots latency_vs_cpus.png, per_site_vs_batch.png"
}

main "$@"
