//! `cargo xtask`: parses the command line and hands it to one module per subcommand.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xtask::{bench, doctor, exit, fuzz, matrix, report, BadInput};

/// Builds and tests a cargo workspace across Linux, FreeBSD, OpenBSD and NetBSD
/// on many architectures, and reports what it saw.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Matrix(Box<matrix::Args>),
    Report(report::Args),
    Doctor(doctor::Args),
    Bench(bench::Args),
    Fuzz(fuzz::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Matrix(args) => matrix::run(*args),
        Command::Report(args) => report::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Fuzz(args) => fuzz::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(if err.downcast_ref::<BadInput>().is_some() { exit::BAD_INPUT } else { exit::ENVIRONMENT })
        }
    }
}
