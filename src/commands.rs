//! What each subcommand does: takes its parsed arguments from `cli`, turns them into a
//! validated `config` once, and runs the `pipeline`, the reader or the synthetic-slide
//! writer. The only module besides `main` that sees `cli`'s types.
//!
//! May use: `cli`, `config`, `pipeline`, `slide`, `synth`, `detect`, `report`, `error`.

use crate::cli::{
    BatchArgs, Cli, Command, CountArgs, EvaluateArgs, InfoArgs, MergeArgs, SynthArgs,
};
use crate::config::ProgressMode;
use crate::config::{mpp_override, AnalysisConfig, Config};
use crate::error::{Error, Result};
use crate::pipeline::{analyse_slide, open_slide, thread_pool, write_analysis, Progress};
use crate::slide::{AssociatedKind, MppSource, Slide, SlideFormat, SlideInfo};

/// Runs the parsed command line.
///
/// # Errors
/// Whatever the stages return; usage errors are [`Error::InvalidOption`].
pub fn run(cli: Cli) -> Result<()> {
    let config = cli.config()?;
    let pool = thread_pool(&config)?;
    pool.install(|| match &cli.command {
        Command::Info(args) => run_info(args),
        Command::Evaluate(args) => run_evaluate(args),
        Command::Count(args) => run_count(args, &config),
        Command::Batch(args) => run_batch(args, &config),
        Command::Merge(args) => run_merge(args, &config),
        Command::Synth(args) => run_synth(args, cli.quiet),
    })
}

/// `mitocount batch`: the flags into a [`crate::pipeline::BatchRequest`], run in the
/// current pool; failed slides end as [`Error::BatchFailures`] (exit code 3).
fn run_batch(args: &BatchArgs, config: &Config) -> Result<()> {
    use crate::pipeline::{BatchRequest, Resume, Shard, Source, Walk};
    let options = args.analysis.options();
    let walk = if args.recursive {
        Walk::Recursive
    } else {
        Walk::Flat
    };
    let source = match &args.manifest {
        Some(m) => Source::Manifest(m),
        None => Source::Paths(&args.inputs, walk),
    };
    let slides_at_once = match args.slides_at_once {
        Some(0) => {
            return Err(Error::invalid_option(
                "--slides-at-once",
                "must be at least 1",
            ))
        }
        Some(n) => n,
        None => rayon::current_num_threads().clamp(1, 4),
    };
    let request = BatchRequest {
        source,
        out: &args.out,
        options: &options,
        resume: if args.resume {
            Resume::SkipDone
        } else {
            Resume::Redo
        },
        shard: args
            .shard
            .as_deref()
            .map(Shard::parse)
            .transpose()?
            .unwrap_or(Shard::ALL),
        slides_at_once,
        progress: config.progress,
    };
    let outcome = crate::pipeline::run_batch(&request)?;
    if outcome.failed > 0 {
        return Err(Error::BatchFailures {
            failed: outcome.failed,
            total: outcome.total,
            summary: outcome.summary_path,
        });
    }
    Ok(())
}

/// `mitocount merge`: joins summaries; failed or missing slides end as
/// [`Error::BatchFailures`] (exit code 3), the missing ones listed on stderr.
fn run_merge(args: &MergeArgs, config: &Config) -> Result<()> {
    let outcome = crate::pipeline::merge(&args.dirs, &args.out)?;
    if !outcome.missing.is_empty() {
        eprintln!("missing slides ({}):", outcome.missing.len());
        for m in &outcome.missing {
            eprintln!("  {m}");
        }
    }
    if config.progress == ProgressMode::Bar {
        eprintln!(
            "merged {} slides into {}",
            outcome.slides,
            outcome.summary_path.display()
        );
    }
    let bad = outcome.failed + outcome.missing.len();
    if bad > 0 {
        return Err(Error::BatchFailures {
            failed: bad,
            total: outcome.slides + outcome.missing.len(),
            summary: outcome.summary_path,
        });
    }
    Ok(())
}

/// The default output folder of `count`: `results/<slide file stem>`.
fn default_out_dir(slide: &std::path::Path) -> std::path::PathBuf {
    let stem = slide
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "slide".to_string());
    std::path::Path::new("results").join(stem)
}

/// `mitocount count`: analyses one slide, writes the report files and prints the summary
/// (or the report as JSON).
fn run_count(args: &CountArgs, config: &Config) -> Result<()> {
    let cfg = AnalysisConfig::from_options(&args.analysis.options())?;
    let slide = open_slide(&args.slide, &cfg)?;
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&args.slide));
    let label = args
        .slide
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    // An unusable --out is found now, not after the analysis.
    crate::report::prepare_out_dir(&out_dir)?;
    let progress = Progress::new(config.progress, &label);
    let analysis = analyse_slide(&slide, &cfg, &progress);
    progress.finish();
    let analysis = analysis?;
    let written = write_analysis(&analysis, &out_dir)?;
    if args.json {
        println!("{}", crate::report::to_json_string(&analysis.report)?);
    } else {
        print!("{}", crate::report::summary_text(&analysis.report));
        if config.progress == ProgressMode::Bar {
            eprintln!("wrote {} files to {}", written.len(), out_dir.display());
        }
    }
    Ok(())
}

/// `mitocount evaluate`: pools the matches of each truth/detections pair and prints the
/// numbers and the lists of misses and false positives.
fn run_evaluate(args: &EvaluateArgs) -> Result<()> {
    use crate::detect::evaluate::{evaluate, ImagePair};
    if args.truth.len() != args.detections.len() {
        return Err(Error::invalid_option(
            "--detections",
            format!(
                "give one --detections per --truth (got {} truth and {} detection files)",
                args.truth.len(),
                args.detections.len()
            ),
        ));
    }
    let mpp = mpp_override(args.mpp)?;
    let pairs: Vec<ImagePair> = args
        .truth
        .iter()
        .zip(&args.detections)
        .map(|(t, d)| ImagePair {
            truth: t.clone(),
            detections: d.clone(),
        })
        .collect();
    let eval = evaluate(&pairs, args.radius_um, mpp)?;
    let text = if args.json {
        let mut t = serde_json::to_string_pretty(&eval).map_err(|e| Error::Output {
            path: "<stdout>".into(),
            reason: e.to_string(),
        })?;
        t.push('\n');
        t
    } else {
        eval.to_text()
    };
    // A closed pipe (`| head`) is the reader's choice, not an error.
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::io("<stdout>", e)),
        _ => Ok(()),
    }
}

/// `mitocount info`: prints what the slide holds, as text or JSON.
fn run_info(args: &InfoArgs) -> Result<()> {
    if let Some(model) = &args.model {
        let classifier = crate::detect::cnn::Classifier::load(model.as_deref())?;
        let m = classifier.info();
        if args.json {
            let text = serde_json::to_string_pretty(m).map_err(|e| Error::Output {
                path: "<stdout>".into(),
                reason: e.to_string(),
            })?;
            println!("{text}");
        } else {
            println!("model: {} {}", m.name, m.version);
            println!("source: {}", m.source);
            println!("sha256: {}", m.sha256);
            println!(
                "input: {0} x {0} px RGB at {1} µm/px ({2:.1} µm)",
                m.input_px,
                m.input_mpp_um,
                m.input_px as f64 * m.input_mpp_um
            );
            println!("multiply-adds per patch: {} per view", m.multiply_adds);
            if m.views > 1 {
                println!(
                    "views: {} (rotations and mirror images, averaged for patches scoring {} or more)",
                    m.views, m.views_from
                );
            }
            if let Some(s) = &m.screen {
                println!(
                    "screen: {0} x {0} px at {1} µm/px, {2} multiply-adds; candidates below {3} are turned away",
                    s.input_px, s.input_mpp_um, s.multiply_adds, s.threshold
                );
            }
            if let Some(n) = m.second_multiply_adds {
                println!(
                    "second network: {n} multiply-adds per view, averaged with the main network where the views are"
                );
            }
            println!(
                "threshold: {} (probability; --score-threshold overrides)",
                m.threshold
            );
        }
    }
    let Some(slide_path) = &args.slide else {
        return Ok(());
    };
    let mut slide = Slide::open(slide_path)?;
    if let Some(mpp) = mpp_override(args.mpp)? {
        slide.set_mpp_override(mpp);
    }
    let info = slide.info();
    if args.json {
        let text = serde_json::to_string_pretty(&info).map_err(|e| Error::Output {
            path: "<stdout>".into(),
            reason: e.to_string(),
        })?;
        println!("{text}");
    } else {
        print!("{}", info_text(&info));
    }
    Ok(())
}

/// The text form of `mitocount info`.
fn info_text(info: &SlideInfo) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let format = match info.format {
        SlideFormat::AperioSvs => "Aperio SVS",
        SlideFormat::Tiff => "TIFF",
        SlideFormat::OpenSlide => "read through OpenSlide",
        SlideFormat::Png => "PNG",
        SlideFormat::Jpeg => "JPEG",
        SlideFormat::Dicom => "DICOM whole-slide image",
    };
    let container = if info.bigtiff { " (BigTIFF)" } else { "" };
    let _ = writeln!(s, "file: {}", info.path.display());
    let _ = writeln!(s, "format: {format}{container}");
    let _ = writeln!(s, "levels: {}", info.levels.len());
    for (i, l) in info.levels.iter().enumerate() {
        let tiles = match l.tile_size_px {
            Some((w, h)) => format!("tiles {w}x{h} px"),
            None => "not tiled".to_string(),
        };
        let _ = writeln!(
            s,
            "  level {i}: {}x{} px, downsample {:.3}, {tiles}, {}, {}, {}",
            l.width_px, l.height_px, l.downsample, l.compression, l.samples, l.planar_configuration
        );
        if let Some(frames) = &l.frames {
            let _ = writeln!(s, "    frames: {frames}");
        }
    }
    let source = |src: Option<MppSource>| match src {
        Some(MppSource::AperioDescription) => "Aperio ImageDescription",
        Some(MppSource::TiffResolution) => "TIFF resolution tags",
        Some(MppSource::OpenSlideProperty) => "OpenSlide openslide.mpp-x",
        Some(MppSource::OmeXml) => "OME-XML PhysicalSizeX",
        Some(MppSource::Override) => "--mpp",
        Some(MppSource::DicomPixelSpacing) => "DICOM PixelSpacing",
        None => "none",
    };
    match (info.mpp_um_per_px, info.implausible_mpp_um_per_px) {
        (Some(mpp), _) => {
            let _ = writeln!(s, "mpp: {mpp} µm/px (from {})", source(info.mpp_source));
        }
        (None, Some(bad)) => {
            let _ = writeln!(
                s,
                "mpp: {bad} µm/px stated by {} is implausible; pass --mpp",
                source(info.mpp_source)
            );
        }
        (None, None) => {
            let _ = writeln!(s, "mpp: none in file; pass --mpp");
        }
    }
    match info.objective_mag {
        Some(m) => {
            let _ = writeln!(s, "objective magnification: {m}x");
        }
        None => {
            let _ = writeln!(s, "objective magnification: not stated");
        }
    }
    for w in &info.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    if info.associated_images.is_empty() {
        let _ = writeln!(s, "associated images: none");
    } else {
        let _ = writeln!(s, "associated images:");
        for a in &info.associated_images {
            let kind = match a.kind {
                AssociatedKind::Thumbnail => "thumbnail",
                AssociatedKind::Label => "label",
                AssociatedKind::Macro => "macro",
            };
            let _ = writeln!(
                s,
                "  {kind}: {}x{} px, {}",
                a.width_px, a.height_px, a.compression
            );
        }
    }
    s
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
