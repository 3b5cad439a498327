//! Bounded mutation smoke run (CI, `.ci/run`): mutates the repository's slide fixtures with
//! a seeded RNG and drives each mutant through `mitocount::pipeline::probe::probe_slide`
//! (open, info, region reads, tissue, stains, detection, report). Every input must be read
//! or rejected with an error: a panic, an input running past `--hang-s` (default 10 s) or
//! live heap past `--max-heap-mib` (default 1536 MiB) fails the run.
//!
//! ```sh
//! cargo run --release --example fuzz_smoke -- --seconds 60 --seed 1
//! ```
//!
//! Writes each input to `--out` (default `target/fuzz-smoke/`) before running it, so that
//! a hang or an aborted allocation leaves `current.*` behind; panicking inputs are kept as
//! `panic-N.*`. The coverage-guided fuzzer is the `fuzz/` crate (cargo-afl); this run needs
//! neither afl nor nightly. The mutations are hand-written (no stable crate mutates TIFF
//! structure): bit flips, interesting bytes and words, truncation, chunk duplication and
//! deletion, and edits of TIFF directory entries (tag, type, count, value or offset).

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mitocount::pipeline::probe::{probe_config, probe_limits, probe_slide};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

/// Live heap bytes, their peak, and the limit (the allocator refuses past it, which aborts).
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The system allocator, counting live bytes and refusing past [`LIMIT`].
struct Counting;

// SAFETY: forwards to `System`; only adds bookkeeping on atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        if live > LIMIT.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            return std::ptr::null_mut();
        }
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Seeds larger than this are left out (mutants of big files are slow to analyse).
const MAX_SEED_BYTES: u64 = 512 << 10;

/// PNG and JPEG seeds larger than this are left out.
const MAX_RASTER_SEED_BYTES: u64 = 16 << 10;

/// Extensions of the fixture files used as seeds.
const SEED_EXTENSIONS: [&str; 9] = [
    "tif", "tiff", "svs", "btf", "png", "jpg", "jpeg", "dcm", "ndpi",
];

struct Args {
    seconds: f64,
    seed: u64,
    hang_s: f64,
    max_heap_mib: usize,
    out: PathBuf,
    corpus: Vec<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        seconds: 60.0,
        seed: 1,
        hang_s: 10.0,
        max_heap_mib: 1536,
        out: PathBuf::from("target/fuzz-smoke"),
        corpus: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => a.seconds = value()?.parse().map_err(|e| format!("{e}"))?,
            "--seed" => a.seed = value()?.parse().map_err(|e| format!("{e}"))?,
            "--hang-s" => a.hang_s = value()?.parse().map_err(|e| format!("{e}"))?,
            "--max-heap-mib" => a.max_heap_mib = value()?.parse().map_err(|e| format!("{e}"))?,
            "--out" => a.out = PathBuf::from(value()?),
            f if f.starts_with("--") => return Err(format!("unknown flag {f}")),
            path => a.corpus.push(PathBuf::from(path)),
        }
    }
    if a.corpus.is_empty() {
        a.corpus = vec!["tests/data".into(), "sample_tiles".into()];
    }
    Ok(a)
}

/// Every seed file under the given files and folders, sorted (so a seed gives one run).
fn seed_files(roots: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> = roots.to_vec();
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
            }
        } else if roots.contains(&p) || is_seed(&p) {
            files.push(p);
        }
    }
    files.sort();
    files
}

/// A fixture to mutate: a slide format, at most [`MAX_SEED_BYTES`]; PNG and JPEG (whose
/// decoders are the `image` crate's, not ours) at most [`MAX_RASTER_SEED_BYTES`].
fn is_seed(p: &Path) -> bool {
    let ext = p
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let max = match ext.as_str() {
        "png" | "jpg" | "jpeg" => MAX_RASTER_SEED_BYTES,
        _ => MAX_SEED_BYTES,
    };
    SEED_EXTENSIONS.contains(&ext.as_str()) && std::fs::metadata(p).is_ok_and(|m| m.len() <= max)
}

/// Positions and sizes of the value fields of a TIFF's directory entries (classic and
/// BigTIFF, every directory of the main chain, at most 64): `(entry offset, big)`.
fn tiff_entries(b: &[u8]) -> Vec<(usize, bool)> {
    let le = match b.get(..2) {
        Some(b"II") => true,
        Some(b"MM") => false,
        _ => return Vec::new(),
    };
    let rd = |at: usize, n: usize| -> Option<u64> {
        let s = b.get(at..at.checked_add(n)?)?;
        let mut v = 0u64;
        for i in 0..n {
            let byte = u64::from(if le { s[n - 1 - i] } else { s[i] });
            v = (v << 8) | byte;
        }
        Some(v)
    };
    let big = match rd(2, 2) {
        Some(42) => false,
        Some(43) => true,
        _ => return Vec::new(),
    };
    let (off_n, count_n, entry_n) = if big { (8, 8, 20) } else { (4, 2, 12) };
    let mut entries = Vec::new();
    let mut next = rd(if big { 8 } else { 4 }, off_n);
    let mut seen = Vec::new();
    while let Some(ifd) = next.and_then(|o| usize::try_from(o).ok()) {
        if ifd == 0 || seen.contains(&ifd) || seen.len() >= 64 {
            break;
        }
        seen.push(ifd);
        let Some(n) = rd(ifd, count_n) else { break };
        let first = ifd + count_n;
        for i in 0..n.min(4096) as usize {
            let at = first + i * entry_n;
            if at + entry_n > b.len() {
                break;
            }
            entries.push((at, big));
        }
        next = rd(first + n as usize * entry_n, off_n);
    }
    entries
}

/// Values that reach edge cases in sizes, counts and offsets.
fn interesting(rng: &mut Pcg64, file_len: usize) -> u64 {
    const V: [u64; 14] = [
        0,
        1,
        2,
        3,
        7,
        8,
        16,
        255,
        256,
        0x7fff,
        0xffff,
        0x7fff_ffff,
        0xffff_ffff,
        u64::MAX,
    ];
    match rng.random_range(0..4) {
        0 => file_len as u64 + rng.random_range(0..16),
        1 => file_len as u64 / 2,
        _ => V[rng.random_range(0..V.len())],
    }
}

/// Writes `v` into `b[at..at + n]` in the file's byte order (little-endian assumed for
/// non-TIFF files; a wrong order is one more mutation).
fn put(b: &mut [u8], at: usize, n: usize, v: u64) {
    let le = b.first() != Some(&b'M');
    for i in 0..n {
        if let Some(slot) = b.get_mut(at + i) {
            let shift = 8 * if le { i } else { n - 1 - i };
            *slot = (v.checked_shr(shift as u32).unwrap_or(0) & 0xff) as u8;
        }
    }
}

/// One mutation of `b`, described in words.
fn mutate(b: &mut Vec<u8>, rng: &mut Pcg64) -> String {
    if b.is_empty() {
        b.extend_from_slice(b"II*\0\x08\0\0\0");
        return "empty file -> bare TIFF header".into();
    }
    let entries = tiff_entries(b);
    let len = b.len();
    // Positions near the start (headers, first directory) half of the time.
    let pos = |rng: &mut Pcg64| {
        if rng.random_bool(0.5) {
            rng.random_range(0..len.min(4096))
        } else {
            rng.random_range(0..len)
        }
    };
    let kind = if entries.is_empty() {
        rng.random_range(0..6)
    } else {
        rng.random_range(0..10)
    };
    match kind {
        0 => {
            let at = pos(rng);
            let bit = rng.random_range(0..8);
            b[at] ^= 1 << bit;
            format!("flip bit {bit} at {at}")
        }
        1 => {
            let at = pos(rng);
            let v = [0u8, 1, 0x7f, 0x80, 0xff][rng.random_range(0..5)];
            b[at] = v;
            format!("byte {at} = {v}")
        }
        2 => {
            let at = pos(rng);
            let n = [2usize, 4, 8][rng.random_range(0..3)];
            let v = interesting(rng, len);
            put(b, at, n, v);
            format!("{n} bytes at {at} = {v}")
        }
        3 => {
            let at = rng.random_range(0..len);
            b.truncate(at);
            format!("truncate to {at}")
        }
        4 => {
            let from = pos(rng);
            let n = rng.random_range(1..=(len - from).min(4096));
            let to = rng.random_range(0..=len);
            let chunk = b[from..from + n].to_vec();
            b.splice(to..to, chunk);
            format!("duplicate {n} bytes from {from} at {to}")
        }
        5 => {
            let from = pos(rng);
            let n = rng.random_range(1..=(len - from).min(4096));
            b.drain(from..from + n);
            format!("delete {n} bytes at {from}")
        }
        _ => {
            let (at, big) = entries[rng.random_range(0..entries.len())];
            let (count_n, value_n) = if big { (8, 8) } else { (4, 4) };
            let v = interesting(rng, len);
            match rng.random_range(0..4) {
                0 => {
                    let tag = [
                        256u64, 257, 258, 259, 262, 273, 277, 278, 279, 284, 322, 323,
                    ][rng.random_range(0..12)];
                    put(b, at, 2, tag);
                    format!("entry at {at}: tag = {tag}")
                }
                1 => {
                    let ty = rng.random_range(0..19);
                    put(b, at + 2, 2, ty);
                    format!("entry at {at}: type = {ty}")
                }
                2 => {
                    put(b, at + 4, count_n, v);
                    format!("entry at {at}: count = {v}")
                }
                _ => {
                    put(b, at + 4 + count_n, value_n, v);
                    format!("entry at {at}: value/offset = {v}")
                }
            }
        }
    }
}

/// The input under test and when it started (for the hang watchdog).
struct Current {
    started: Instant,
    what: String,
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fuzz_smoke: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("fuzz_smoke: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let seeds = seed_files(&args.corpus);
    if seeds.is_empty() {
        return Err("no seed files found (run from the repository root)".into());
    }
    std::fs::create_dir_all(&args.out)?;
    let cfg = probe_config()?;
    let limits = probe_limits();
    LIMIT.store(args.max_heap_mib << 20, Ordering::Relaxed);
    let current = Arc::new(std::sync::Mutex::new(Current {
        started: Instant::now(),
        what: String::new(),
    }));
    let done = Arc::new(AtomicU64::new(0));
    {
        let (current, hang) = (current.clone(), Duration::from_secs_f64(args.hang_s));
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(100));
            let c = current.lock().unwrap_or_else(|p| p.into_inner());
            if c.started.elapsed() > hang {
                eprintln!(
                    "fuzz_smoke: HANG: {} ran past {:.0} s (the input is kept as current.*)",
                    c.what,
                    hang.as_secs_f64()
                );
                std::process::exit(1);
            }
        });
    }
    let mut rng = Pcg64::seed_from_u64(args.seed);
    let start = Instant::now();
    let (mut ok, mut rejected, mut panics, mut slowest) =
        (0u64, 0u64, Vec::new(), (0.0, String::new()));
    // The input whose analysis raised the live heap most, and by how much (bytes).
    let mut heaviest = (0usize, String::new());
    let mut n = 0usize;
    // Every seed once as it is, then mutants of seeds in turn until the time is up.
    while n < seeds.len() || start.elapsed().as_secs_f64() < args.seconds {
        let seed = &seeds[n % seeds.len()];
        let mut bytes = std::fs::read(seed)?;
        let mut what = seed.display().to_string();
        if n >= seeds.len() {
            for _ in 0..rng.random_range(1..=3) {
                what.push_str(&format!("; {}", mutate(&mut bytes, &mut rng)));
            }
        }
        let ext = seed.extension().and_then(|e| e.to_str()).unwrap_or("bin");
        let input = args.out.join(format!("current.{ext}"));
        std::fs::write(&input, &bytes)?;
        {
            let mut c = current.lock().unwrap_or_else(|p| p.into_inner());
            *c = Current {
                started: Instant::now(),
                what: what.clone(),
            };
        }
        let t = Instant::now();
        let live_before = LIVE.load(Ordering::Relaxed);
        let peak_before = PEAK.swap(live_before, Ordering::Relaxed);
        let result = std::panic::catch_unwind(|| probe_slide(&input, limits, &cfg));
        let rise = PEAK.load(Ordering::Relaxed).saturating_sub(live_before);
        PEAK.fetch_max(peak_before, Ordering::Relaxed);
        if rise > heaviest.0 {
            heaviest = (rise, what.clone());
            std::fs::copy(&input, args.out.join(format!("heaviest.{ext}")))?;
        }
        let took_s = t.elapsed().as_secs_f64();
        if took_s > slowest.0 {
            slowest = (took_s, what.clone());
        }
        match result {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(_)) => rejected += 1,
            Err(_) => {
                let kept = args.out.join(format!("panic-{}.{ext}", panics.len()));
                std::fs::copy(&input, &kept)?;
                eprintln!("fuzz_smoke: PANIC on {what} (kept as {})", kept.display());
                panics.push(what);
            }
        }
        done.fetch_add(1, Ordering::Relaxed);
        n += 1;
        // Reset the watchdog's clock between inputs.
        current.lock().unwrap_or_else(|p| p.into_inner()).started = Instant::now();
    }
    println!(
        "fuzz_smoke: seed {}, {} seeds, {n} inputs in {:.1} s: {ok} read, {rejected} rejected \
         with an error, {} panics; slowest {:.2} s ({}); peak live heap {} MiB (limit {}); \
         heaviest input +{} MiB ({}, kept as heaviest.*)",
        args.seed,
        seeds.len(),
        start.elapsed().as_secs_f64(),
        panics.len(),
        slowest.0,
        slowest.1,
        PEAK.load(Ordering::Relaxed) >> 20,
        args.max_heap_mib,
        heaviest.0 >> 20,
        heaviest.1
    );
    if panics.is_empty() {
        Ok(())
    } else {
        Err(format!("{} inputs panicked: {}", panics.len(), panics.join(" | ")).into())
    }
}
