//! Decode-only baseline for a whole slide: every level-0 tile decoded once (non-overlapping
//! 1024 px regions, tile cache off) on 1 and on 2 threads, the floor that any analysis of
//! these pixels pays. Put its times next to `mitocount count --threads N` on the same
//! slide (the `total_s` in `report.json`) for slides too large for `cargo bench --bench
//! pipeline`, which makes the same comparison on the small samples.
//!
//! Usage: `cargo run --release --example decode_baseline -- SLIDE`

use std::time::Instant;

use mitocount::slide::{Limits, Slide};

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: decode_baseline SLIDE");
    let no_cache = Limits {
        tile_cache_bytes: 0,
        ..Limits::default()
    };
    let slide = Slide::open_with_limits(std::path::Path::new(&path), no_cache)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let l0 = &slide.levels()[0];
    let mpx = (l0.width_px * l0.height_px) as f64 / 1e6;
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("rayon pool");
        let start = Instant::now();
        let checksum = pool
            .install(|| slide.decode_level(0, 1024))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "{threads} thread(s): decode {mpx:.1} Mpx in {seconds:.3} s = {:.0} Mpx/s \
             (checksum {checksum})",
            mpx / seconds
        );
    }
}
