//! Synthetic slide generation throughput: rendering level-0 regions, and writing whole
//! slides (render + JPEG/LZW encoding + pyramid), in pixels per second.
//!
//! `cargo bench --bench synth`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mitocount::synth::{write_slide, SynthOptions, SynthScene, TiffCompression};

fn options(width_px: u64, height_px: u64) -> SynthOptions {
    SynthOptions {
        width_px,
        height_px,
        seed: 7,
        ..SynthOptions::default()
    }
}

fn render(c: &mut Criterion) {
    let scene = match SynthScene::new(&options(8192, 8192)) {
        Ok(s) => s,
        Err(e) => panic!("scene: {e}"),
    };
    let mut group = c.benchmark_group("synth_render");
    // A tile in the middle of the slide (the first tissue piece covers the centre).
    for size in [256u32, 512] {
        group.throughput(Throughput::Elements(u64::from(size) * u64::from(size)));
        group.bench_with_input(
            BenchmarkId::new("render_region_px", size),
            &size,
            |b, &s| b.iter(|| black_box(scene.render_region(4096, 4096, s, s))),
        );
    }
    group.finish();
}

fn write(c: &mut Criterion) {
    let dir = std::env::temp_dir().join("mitocount-bench-synth");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("{}: {e}", dir.display());
    }
    let mut group = c.benchmark_group("synth_write_slide");
    group.sample_size(10);
    for (name, compression) in [
        ("jpeg", TiffCompression::Jpeg),
        ("lzw", TiffCompression::Lzw),
    ] {
        let mut o = options(2048, 2048);
        o.tiff.compression = compression;
        group.throughput(Throughput::Elements(2048 * 2048));
        let path = dir.join(format!("{name}.tiff"));
        group.bench_function(BenchmarkId::new("write_slide_2048px", name), |b| {
            b.iter(|| black_box(write_slide(&o, &path).map(|s| s.tiff_bytes)))
        });
    }
    group.finish();
}

criterion_group!(benches, render, write);
criterion_main!(benches);
