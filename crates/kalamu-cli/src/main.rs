//! `kalamu`: the command line for staff, publishers, scripts and tests.

/// `println!` that ends the process quietly when stdout is a pipe closed
/// early (`kalamu pack inspect … | head`), instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::emit(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod cli;
mod commands;
mod hub;
mod progress;
mod relay;
mod settings;
mod stick;
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

/// Writes to stdout; a reader that went away ends the process quietly.
pub(crate) fn emit(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(e) = std::io::stdout().lock().write_fmt(text)
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
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
