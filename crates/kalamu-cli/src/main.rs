//! `kalamu`: the command line for staff, publishers, scripts and tests.

mod cli;
mod commands;
mod hub;
mod progress;
mod sync;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match commands::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kalamu: {}", sentence(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes as one sentence, without repeating a cause the message already holds.
fn sentence(err: &anyhow::Error) -> String {
    let mut out = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !out.contains(&cause) {
            out.push_str(": ");
            out.push_str(&cause);
        }
    }
    out
}
