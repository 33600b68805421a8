//! `ci`, `test` and `bench`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::{arch, cmd};

/// Which optional `ci` steps run.
#[derive(Debug)]
pub(crate) struct CiOptions {
    pub(crate) fmt: bool,
    pub(crate) clippy: bool,
}

impl Default for CiOptions {
    fn default() -> Self {
        Self {
            fmt: true,
            clippy: true,
        }
    }
}

type Step = (&'static str, Box<dyn Fn() -> Result<()>>);

/// fmt, clippy, arch, test, in that order; stops at the first failing step.
pub(crate) fn ci(opts: &CiOptions) -> Result<()> {
    let mut steps: Vec<Step> = Vec::new();
    if opts.fmt {
        steps.push(("fmt", Box::new(|| cmd::run(&mut cargo_fmt()))));
    }
    if opts.clippy {
        steps.push(("clippy", Box::new(|| cmd::run(&mut cargo_clippy()))));
    }
    steps.push(("arch", Box::new(arch::run)));
    steps.push(("test", Box::new(|| test(&[]))));

    let started = Instant::now();
    let total = steps.len();
    for (i, (name, step)) in steps.iter().enumerate() {
        println!("==> ci step {}/{total}: {name}", i + 1);
        let step_started = Instant::now();
        step().with_context(|| format!("ci step `{name}` failed"))?;
        println!("==> ci step {name} passed in {:.0?}", step_started.elapsed());
    }
    println!("==> ci: all {total} steps passed in {:.0?}", started.elapsed());
    Ok(())
}

fn cargo_fmt() -> Command {
    cmd::cargo(["fmt", "--all", "--", "--check"])
}

fn cargo_clippy() -> Command {
    cmd::cargo([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ])
}

/// The test suite: `cargo nextest run` when cargo-nextest is installed, else `cargo test`.
/// `extra` goes after the standard arguments (a test filter, `--no-capture`, ...).
pub(crate) fn test(extra: &[String]) -> Result<()> {
    ensure_chromium()?;
    let mut command = if nextest_installed() {
        cmd::cargo(["nextest", "run", "--workspace", "--locked", "--no-fail-fast"])
    } else {
        println!("cargo-nextest is not installed; falling back to cargo test");
        cmd::cargo(["test", "--workspace", "--locked", "--no-fail-fast"])
    };
    command.args(extra);
    cmd::run(&mut command)
}

/// Where the dashboard's browser test (`crates/pin-api/tests/it/browser.rs`) expects Debian's Chromium.
const CHROMIUM: &str = "/usr/bin/chromium";

/// Installs Debian's `chromium` package (with sudo unless root) when [`CHROMIUM`] is missing, so the test
/// suite runs on a fresh machine.
fn ensure_chromium() -> Result<()> {
    if Path::new(CHROMIUM).exists() {
        return Ok(());
    }
    println!("{CHROMIUM} is missing; installing Debian's chromium for the dashboard's browser test");
    let root = cmd::stdout(Command::new("id").arg("-u")).is_ok_and(|out| out.trim_ascii() == b"0");
    let apt = |args: &[&str]| {
        let mut c = if root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd::run(&mut c)
    };
    apt(&["update", "-qq"])
        .and_then(|()| apt(&["install", "-y", "-qq", "--no-install-recommends", "chromium"]))
        .context("installing chromium failed; install Debian's chromium package yourself (apt-get install chromium)")
}

fn nextest_installed() -> bool {
    cmd::succeeds(&mut cmd::cargo(["nextest", "--version"]))
}

/// `cargo bench -p pindex-benches <args>`: arguments after `--` reach criterion,
/// and `PINDEX_BENCH_PINS` reaches the benches through the inherited environment.
pub(crate) fn bench(args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some("serve") {
        // The load benchmark of `pindex serve`: a binary, not a criterion bench (it reports percentiles
        // of many concurrent clients, not the time of one routine).
        let mut command = cmd::cargo([
            "run",
            "--release",
            "--locked",
            "-p",
            "pindex-benches",
            "--bin",
            "serve_load",
            "--",
        ]);
        command.args(&args[1..]);
        return cmd::run(&mut command);
    }
    let mut command = cmd::cargo(["bench", "-p", "pindex-benches"]);
    command.args(args);
    if let Some(pins) = std::env::var_os("PINDEX_BENCH_PINS") {
        println!("PINDEX_BENCH_PINS={}", pins.to_string_lossy());
    }
    cmd::run(&mut command)
}

/// `cargo run --release -p pin-tiers --example evidence <args>`: the synthetic traces, every policy at
/// fast-tier sizes of 1% and 10% of the working set against Belady's bound, and the flapping check,
/// printed as the markdown that `docs/tiering.md` quotes.
pub(crate) fn tiering(args: &[String]) -> Result<()> {
    let mut command = cmd::cargo([
        "run",
        "--release",
        "--locked",
        "-p",
        "pin-tiers",
        "--example",
        "evidence",
        "--",
    ]);
    command.args(args);
    cmd::run(&mut command)
}
