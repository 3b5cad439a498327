#!/usr/bin/env bash
# A batch of 20 small slides (issue 13): wall time and peak memory of `mitocount batch`
# with 1 and 2 slides at once, against the sum of 20 single `count` runs, on 2 threads.
# Slides: `synth --width 3072 --height 3072` (0.77 x 0.77 mm at 0.25 um/px), seeds 1-20.
# Usage: scripts/bench_batch.sh [BIN]   (default target/release/mitocount, built first)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${1:-}" ]]; then cargo build --release --bin mitocount; fi
bin="${1:-target/release/mitocount}"
dir=target/bench/batch20
mkdir -p "$dir/slides"
for seed in $(seq 1 20); do
    s="$dir/slides/s$(printf %02d "$seed").tiff"
    if [[ ! -f "$s" ]]; then
        "$bin" -q synth --width 3072 --height 3072 --seed "$seed" --mitoses-per-mm2 20 --out "$s" >/dev/null
        rm -f "${s%.tiff}".truth.* "${s%.tiff}".synth.json
    fi
done
start=$(date +%s.%N)
for s in "$dir"/slides/*.tiff; do
    "$bin" --threads 2 -q count "$s" --no-images --out "$dir/single/$(basename "$s" .tiff)" >/dev/null
done
end=$(date +%s.%N)
echo "20 single count runs, threads=2: sum_wall_s=$(echo "$end - $start" | bc)"
for at_once in 1 2; do
    rm -rf "$dir/out-$at_once"
    /usr/bin/time -f "batch slides_at_once=$at_once threads=2 wall_s=%e user_s=%U max_rss_kb=%M" \
        "$bin" --threads 2 -q batch "$dir/slides" --no-images --slides-at-once "$at_once" \
        --out "$dir/out-$at_once"
done
