//! The one module that knows every stage: runs a subcommand and owns the rayon pool.

use crate::cli::{Cli, Command, Config, InfoArgs, SynthArgs};
use crate::error::{Error, Result};
use crate::slide::Slide;

/// Runs the parsed command line.
///
/// # Errors
/// Whatever the stages return; usage errors are [`Error::InvalidOption`].
pub fn run(cli: Cli) -> Result<()> {
    let config = Config::from_cli(&cli)?;
    let pool = thread_pool(&config)?;
    pool.install(|| match &cli.command {
        Command::Info(args) => run_info(args),
        Command::Synth(args) => run_synth(args, cli.quiet),
    })
}

/// A rayon pool with `--threads` workers (all cores when unset).
fn thread_pool(config: &Config) -> Result<rayon::ThreadPool> {
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = config.threads {
        builder = builder.num_threads(n);
    }
    builder
        .build()
        .map_err(|e| Error::invalid_option("--threads", format!("cannot start threads: {e}")))
}

fn run_info(args: &InfoArgs) -> Result<()> {
    let mut slide = Slide::open(&args.slide)?;
    if let Some(mpp) = crate::cli::mpp_override(args.mpp)? {
        slide.set_mpp_override(mpp);
    }
    println!("{}: {:?}", slide.path().display(), slide.format());
    for (i, l) in slide.levels().iter().enumerate() {
        println!(
            "level {i}: {}x{} px, downsample {:.3}, {}",
            l.width_px, l.height_px, l.downsample, l.compression
        );
    }
    match slide.mpp() {
        Ok(mpp) => println!("mpp: {} µm/px", mpp.um_per_px()),
        Err(_) => println!("mpp: none in file (pass --mpp)"),
    }
    Ok(())
}

/// `mitocount synth`: validates the flags, writes the slide and its ground truth, and
/// prints a short summary.
fn run_synth(args: &SynthArgs, quiet: bool) -> Result<()> {
    let opts = args.to_options()?;
    let start = std::time::Instant::now();
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {pos}/{len} tile rows, {elapsed} elapsed, eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message("synth");
        bar
    };
    let progress = |p: crate::synth::SynthProgress| {
        bar.set_length(p.rows_total);
        bar.set_position(p.rows_done);
    };
    let summary = crate::synth::write_slide_with_progress(&opts, &args.out, &progress)?;
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    let mpx = (opts.width_px * opts.height_px) as f64 / 1e6;
    let c = summary.counts;
    println!(
        "{}: {}x{} px at {} µm/px, {} levels {:?}, {} ({:.1} MB), {:.1} s ({:.1} Mpx/s)",
        summary.tiff_path.display(),
        opts.width_px,
        opts.height_px,
        opts.mpp.um_per_px(),
        summary.levels_px.len(),
        summary.levels_px,
        if summary.bigtiff { "BigTIFF" } else { "TIFF" },
        summary.tiff_bytes as f64 / 1e6,
        seconds,
        mpx / seconds.max(1e-9),
    );
    println!(
        "tissue {:.2} mm²; truth: {} mitotic figures, {} lymphocytes, {} pyknotic, {} hyperchromatic",
        summary.tissue_area_mm2, c.mitotic_figure, c.lymphocyte, c.pyknotic, c.hyperchromatic
    );
    if let Some(n) = summary.mitoses_in_hotspot {
        println!("planted hot spot: {n} mitoses inside");
    }
    println!(
        "ground truth: {}, {}, {}",
        summary.truth.csv.display(),
        summary.truth.json.display(),
        summary.truth.synth_json.display()
    );
    Ok(())
}
