//! Running the binary.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// A CID for test pin `i`: CIDv1 raw with a sha2-256 multihash of a digest built from `i`.
pub(crate) fn cid(i: u64) -> String {
    let mut digest = [0u8; 32];
    digest[..8].copy_from_slice(&i.to_be_bytes());
    digest[31] = 0x5a;
    let mh = multihash::Multihash::<64>::wrap(0x12, &digest).unwrap();
    cid::Cid::new_v1(0x55, mh).to_string()
}

pub(crate) fn command(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pindex"));
    c.arg("--data-dir")
        .arg(dir)
        .env_remove("RUST_LOG")
        .env_remove("PINDEX_DATA_DIR")
        .env_remove("PINDEX_STORE_URL")
        .env("NO_COLOR", "1");
    c
}

pub(crate) fn pindex(dir: &Path, args: &[&str]) -> Output {
    command(dir).args(args).stdin(Stdio::null()).output().unwrap()
}

pub(crate) fn pindex_stdin(dir: &Path, args: &[&str], input: &str) -> Output {
    let mut child = command(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub(crate) fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Parses NDJSON output.
pub(crate) fn ndjson(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `metrics --format json --top 0`.
pub(crate) fn metrics(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(&pindex(dir, &["metrics", "--format", "json", "--top", "0"]))).unwrap()
}

/// `track <cid> --format json`.
pub(crate) fn track(dir: &Path, cid: &str) -> serde_json::Value {
    serde_json::from_str(&ok(&pindex(dir, &["track", cid, "--format", "json"]))).unwrap()
}

/// Every pin's CID, in listing order, following cursors page by page.
pub(crate) fn page_through(dir: &Path, args: &[&str], limit: usize) -> (Vec<serde_json::Value>, usize) {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let limit_s = limit.to_string();
        let mut a: Vec<&str> = vec!["pins", "--format", "ndjson", "--limit", &limit_s];
        a.extend_from_slice(args);
        if let Some(c) = &cursor {
            a.push("--cursor");
            a.push(c);
        }
        let o = pindex(dir, &a);
        let page = ndjson(&ok(&o));
        assert!(page.len() <= limit);
        pages += 1;
        rows.extend(page);
        let next = stderr(&o)
            .lines()
            .find_map(|l| l.strip_prefix("next cursor: ").map(str::to_owned));
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 10_000, "pagination does not end");
    }
    (rows, pages)
}

/// Kills the child if the test fails before it exits.
pub(crate) struct Reaper(pub(crate) Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
