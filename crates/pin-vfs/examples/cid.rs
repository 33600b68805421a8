//! Prints the CID of each file as `ipfs add --only-hash -Q [--cid-version 1]` would.
//!
//! `cargo run --release -p pin-vfs --example cid -- [--cid-version 1] FILE...`
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use pin_vfs::{CidVersion, cid_of_file};

fn main() -> ExitCode {
    let mut version = CidVersion::V0;
    let mut args = std::env::args().skip(1).peekable();
    let mut status = ExitCode::SUCCESS;
    while let Some(arg) = args.next() {
        if arg == "--cid-version" {
            match args.next().map(|v| v.parse::<CidVersion>()) {
                Some(Ok(v)) => version = v,
                Some(Err(e)) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
                None => {
                    eprintln!("--cid-version needs a value (0 or 1)");
                    return ExitCode::from(2);
                }
            }
            continue;
        }
        match cid_of_file(std::path::Path::new(&arg), version) {
            Ok(id) => println!("{id}"),
            Err(e) => {
                eprintln!("{e}");
                status = ExitCode::from(2);
            }
        }
    }
    status
}
