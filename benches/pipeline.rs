//! The whole `count` analysis next to a decode-only baseline on the same slide, on 1 and
//! 2 threads (elements = level-0 pixels, so criterion's elements/s read as px/s).
//!
//! Slides: the synthetic sample `sample_tiles/synthetic-seed7.tiff` (4096x4096 px at
//! 0.25 µm/px, 256 px JPEG tiles, 40x) and the real Aperio `CMU-1-Small-Region.svs`
//! (2220x2967 px at 0.499 µm/px, 240 px JPEG tiles, 20x).
//!
//! - `decode`: every level-0 tile decoded once (non-overlapping 1024 px regions, tile
//!   cache off), in parallel: the floor any analysis of these pixels pays.
//! - `count`: `analyse_slide` with the default options and no pictures: overview, tissue
//!   mask, Macenko estimate, detection over fields with halos, classification, hot spot,
//!   report.
//!
//! The ratio count / decode at the same thread count is the figure to watch; absolute
//! times on a shared machine are noise. Run: `cargo bench --bench pipeline`.

use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mitocount::config::{AnalysisConfig, AnalysisOptions, Pictures};
use mitocount::pipeline::{analyse_slide, open_slide, Progress, ProgressMode};
use mitocount::slide::{Limits, Slide};

fn default_config() -> AnalysisConfig {
    AnalysisConfig::from_options(&AnalysisOptions {
        pictures: Pictures::Skip,
        ..AnalysisOptions::default()
    })
    .expect("default options are valid")
}

fn decode_all(slide: &Slide) -> u64 {
    slide.decode_level(0, 1024).expect("level 0 decodes")
}

fn bench_slide(c: &mut Criterion, name: &str, file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let cfg = default_config();
    // `count` opens the slide afresh each iteration (outside the timing), so its tile
    // cache starts empty as in a real run; `decode` runs with the cache off.
    let open = || open_slide(&path, &cfg).expect("sample slide opens");
    let counted = open();
    let no_cache = Limits {
        tile_cache_bytes: 0,
        ..Limits::default()
    };
    let decoded = Slide::open_with_limits(&path, no_cache).expect("sample slide opens");
    let l0 = &counted.levels()[0];
    let mut group = c.benchmark_group(format!("pipeline_{name}"));
    group.throughput(Throughput::Elements(l0.width_px * l0.height_px));
    group.sample_size(10);
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("rayon pool");
        group.bench_function(format!("decode_{threads}_threads"), |b| {
            b.iter(|| pool.install(|| decode_all(&decoded)))
        });
        group.bench_function(format!("count_{threads}_threads"), |b| {
            b.iter_batched(
                open,
                |slide| {
                    pool.install(|| {
                        let progress = Progress::new(ProgressMode::Hidden, name);
                        analyse_slide(&slide, &cfg, &progress)
                            .expect("analysis runs")
                            .report
                            .counts
                            .candidates
                    })
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn pipeline(c: &mut Criterion) {
    bench_slide(
        c,
        "synthetic_4096px_40x",
        "sample_tiles/synthetic-seed7.tiff",
    );
    bench_slide(
        c,
        "cmu1_small_region_20x",
        "sample_tiles/CMU-1-Small-Region.svs",
    );
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
