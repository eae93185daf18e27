//! The `minitorch` command line: train networks on the built-in datasets and benchmark the
//! backends' kernels.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let profile = args.profile;
    if profile {
        minitorch::profile::enable(true);
    }
    let result = cli::run(args);
    if minitorch::profile::enabled() {
        eprint!("{}", minitorch::profile::report());
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
