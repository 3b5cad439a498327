//! The one module that knows every stage: runs a subcommand and owns the rayon pool.

use crate::cli::{Cli, Command, Config, EvaluateArgs, InfoArgs};
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
        Command::Evaluate(args) => run_evaluate(args),
        Command::Synth(_) => Err(Error::invalid_option("synth", "not implemented yet")),
        Command::Count(_) | Command::Batch(_) => {
            Err(Error::invalid_option("count", "not implemented yet"))
        }
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
    let mpp = crate::cli::mpp_override(args.mpp)?;
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
    if args.json {
        let text = serde_json::to_string_pretty(&eval).map_err(|e| Error::Output {
            path: "<stdout>".into(),
            reason: e.to_string(),
        })?;
        println!("{text}");
    } else {
        print!("{}", eval.to_text());
    }
    Ok(())
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
