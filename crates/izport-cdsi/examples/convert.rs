//! Regenerates the built-in compact supporting data from CDC's XML.
//!
//! ```text
//! cargo run -p izport-cdsi --example convert -- <supporting-data dir> [out file] [version]
//! ```
//! Default out file: `crates/izport-cdsi/data/supporting-4.64.cdsi`; default version: 4.64.

use std::path::PathBuf;

#[path = "support/io.rs"]
mod io;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: convert <supporting-data dir> [out file] [version]");
        std::process::exit(2);
    };
    let out = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(io::committed_compact_path);
    let version = args
        .next()
        .unwrap_or_else(|| izport_cdsi::BUILTIN_VERSION.to_string());
    match io::convert(std::path::Path::new(&dir), &version) {
        Ok(text) => {
            if let Err(e) = std::fs::write(&out, text) {
                eprintln!("{}: {e}", out.display());
                std::process::exit(1);
            }
            println!("wrote {}", out.display());
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
