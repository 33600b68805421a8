//! Pindex's development tasks, run as `cargo xtask <task>` (see `.cargo/config.toml`).
//!
//! The tasks are plain Rust so they run the same on every machine that has cargo:
//! `ci` is what `.ci/run` executes, `test` is the README's test command,
//! `bench` runs the criterion benches, `tiering` reproduces the tier engine's evidence,
//! and `arch` checks the crate layering.
#![allow(clippy::print_stdout)]

mod arch;
mod cmd;
mod tasks;

use std::process::ExitCode;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <task> [args]

tasks:
  ci [--no-fmt] [--no-clippy]  fmt check, clippy -D warnings, arch, then the tests
  test [args]                  the test suite (cargo nextest run, else cargo test); args are passed on
  bench [args] [-- criterion]  cargo bench -p pindex-benches; args are passed on, PINDEX_BENCH_PINS too
  bench serve [--clients N] [--events N] [--preload N] [--chunk N]
                               the load benchmark of `pindex serve` (release build)
  arch                         check the crate layering with cargo metadata
  tiering [args]               the tier engine's evidence (docs/tiering.md): policies against Belady's bound
  help                         this message";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The chain without a backtrace, which RUST_BACKTRACE (set for tests in CI) would add.
            eprintln!("xtask: error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let Some((task, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(());
    };
    match task.as_str() {
        "ci" => {
            let mut opts = tasks::CiOptions::default();
            for flag in rest {
                match flag.as_str() {
                    "--no-fmt" => opts.fmt = false,
                    "--no-clippy" => opts.clippy = false,
                    other => {
                        bail!("unknown flag {other:?} for `ci`; expected --no-fmt or --no-clippy")
                    }
                }
            }
            tasks::ci(&opts)
        }
        "test" => tasks::test(rest),
        "bench" => tasks::bench(rest),
        "tiering" => tasks::tiering(rest),
        "arch" => {
            if let Some(extra) = rest.first() {
                bail!("`arch` takes no arguments, got {extra:?}");
            }
            arch::run()
        }
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown task {other:?}\n\n{USAGE}"),
    }
}
