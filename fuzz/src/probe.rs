//! afl target: each input is written to a file (the reader works on files, with
//! positional reads) and driven through `mitocount::pipeline::probe::probe_slide`: open,
//! info, region reads on every level, associated images, then the analysis (tissue mask,
//! stains, detection and classification, hot spot, report pictures) under the reader
//! limits of `probe_limits`. An `Err` is a correct answer to a malformed file; a panic,
//! an abort or a hang is a bug.
//!
//! ```sh
//! cd fuzz && cargo afl build --release
//! scripts/fuzz-corpus.sh fuzz/corpus            # seed corpus (from the repository root)
//! cargo afl fuzz -i corpus -o findings -t 10000 target/release/probe
//! ```

use mitocount::pipeline::probe::{probe_config, probe_limits, probe_slide};

fn main() {
    let cfg = probe_config().expect("the probe's analysis options are valid");
    // One worker thread: afl runs one process per core. The global pool is made on first
    // use, after afl's fork server has forked (a pool made before the fork would have no
    // threads in the child, and every input would hang).
    std::env::set_var("RAYON_NUM_THREADS", "1");
    let dir = std::path::Path::new("/dev/shm");
    let dir = if dir.is_dir() {
        dir.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let input = dir.join(format!("mitocount-fuzz-{}.bin", std::process::id()));
    afl::fuzz!(|data: &[u8]| {
        if std::fs::write(&input, data).is_ok() {
            let _ = probe_slide(&input, probe_limits(), &cfg);
        }
    });
}
