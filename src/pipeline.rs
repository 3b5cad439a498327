//! The one module that knows every stage: runs a subcommand and owns the rayon pool.

use crate::cli::{Cli, Command, Config, InfoArgs};
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
