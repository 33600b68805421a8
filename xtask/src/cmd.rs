//! Running cargo from the workspace root, with errors that name the command.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn workspace_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    dir.pop();
    dir
}

/// The cargo that runs us (`CARGO`, set by `cargo run`), else `cargo` from `PATH`.
fn cargo_bin() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}

/// `cargo <args>`, to run in the workspace root.
pub(crate) fn cargo<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let mut cmd = Command::new(cargo_bin());
    cmd.args(args.into_iter().map(Into::into));
    cmd.current_dir(workspace_root());
    cmd
}

/// The command as a person would type it: `cargo fmt --all -- --check`.
pub(crate) fn display(cmd: &Command) -> String {
    let program = if cmd.get_program() == cargo_bin() {
        "cargo".to_owned()
    } else {
        cmd.get_program().to_string_lossy().into_owned()
    };
    let mut shown = program;
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        shown.push(' ');
        if arg.is_empty() || arg.contains(char::is_whitespace) {
            shown.push_str(&format!("{arg:?}"));
        } else {
            shown.push_str(&arg);
        }
    }
    shown
}

/// Prints the command, then runs it with inherited stdio;
/// a non-zero exit is an error naming the command.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let shown = display(cmd);
    let program = cmd.get_program().to_owned();
    println!("$ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{shown}` (program {program:?})"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Runs the command and returns its stdout; stderr goes to ours.
pub(crate) fn stdout(cmd: &mut Command) -> Result<Vec<u8>> {
    let shown = display(cmd);
    let program = cmd.get_program().to_owned();
    let output = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("could not start `{shown}` (program {program:?})"))?;
    if !output.status.success() {
        bail!("`{shown}` failed ({})", output.status);
    }
    Ok(output.stdout)
}

/// Whether the command runs and exits 0, its output discarded (for probing tools).
pub(crate) fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
