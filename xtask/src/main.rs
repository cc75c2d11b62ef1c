//! `cargo xtask`: parses the command line and hands it to one module per subcommand.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xtask::{
    bench, ci, dist, doctor, exit, fuzz, matrix, msrv, platforms, report, setup, test, vm_images,
    BadInput,
};

/// Builds and tests a cargo workspace across Linux, FreeBSD, OpenBSD and NetBSD
/// on many architectures, and reports what it saw.
#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Matrix(Box<matrix::Args>),
    Report(report::Args),
    Doctor(doctor::Args),
    Setup(setup::Args),
    Test(test::Args),
    Platforms(platforms::Args),
    Msrv(msrv::Args),
    Ci(ci::Args),
    VmImages(vm_images::Args),
    Bench(bench::Args),
    Fuzz(fuzz::Args),
    Dist(dist::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Matrix(args) => matrix::run(*args),
        Command::Report(args) => report::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Setup(args) => setup::run(args),
        Command::Test(args) => test::run(args),
        Command::Platforms(args) => platforms::run(args),
        Command::Msrv(args) => msrv::run(args),
        Command::Ci(args) => ci::run(args),
        Command::VmImages(args) => vm_images::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Fuzz(args) => fuzz::run(args),
        Command::Dist(args) => dist::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(if err.downcast_ref::<BadInput>().is_some() {
                exit::BAD_INPUT
            } else {
                exit::ENVIRONMENT
            })
        }
    }
}
