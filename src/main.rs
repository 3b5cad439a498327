//! The `mitocount` binary: parse arguments, run, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match mitocount::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match mitocount::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Each cause once: a message that already holds its cause's text (an I/O
            // error names the OS error) does not repeat it as "caused by".
            let mut said = e.to_string();
            eprintln!("mitocount: error: {said}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                let text = s.to_string();
                if !said.contains(&text) {
                    eprintln!("  caused by: {text}");
                    said.push_str(&text);
                }
                source = s.source();
            }
            ExitCode::from(match e {
                mitocount::error::Error::BatchFailures { .. } => 3,
                _ if e.is_usage() => 2,
                _ => 1,
            })
        }
    }
}
