#!/usr/bin/env bash
# The whole analysis on a 300 Mpx synthetic slide next to the decode-only baseline, in
# one run (issue 11's speed check): `count --no-images` against decoding every level-0
# tile once (examples/decode_baseline), on 1 and 2 threads, with peak memory.
# Usage: scripts/bench_300mpx.sh [BIN]   (default target/release/mitocount; builds it;
#        give another build's binary to compare, e.g. the previous release)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin mitocount --example decode_baseline
bin="${1:-target/release/mitocount}"
slide=target/bench/synth-300mpx-seed5.tiff
mkdir -p target/bench
if [[ ! -f "$slide" ]]; then
    "$bin" synth --width 20000 --height 15000 --seed 5 --hotspot-mitoses-per-mm2 30 --out "$slide" -q
fi
target/release/examples/decode_baseline "$slide"
for threads in 1 2; do
    /usr/bin/time -f "count $bin threads=$threads wall_s=%e max_rss_kb=%M" \
        "$bin" --threads "$threads" -q count "$slide" --no-images --out "target/bench/out-$threads" >/dev/null
done
