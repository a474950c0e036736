//! Turns the translation catalogues (`locales/<language>/<namespace>.json`) into the `i18n`
//! module with `leptos_i18n`'s parser and code generator. Done here rather than with its
//! `load_locales!` macro because the macro cannot turn on `interpolate_display`, which server
//! messages need (a translated `String` with values in it, not only a view).

use std::path::PathBuf;

use leptos_i18n_parser::parse_locales::{options::Config, parse_locales};

/// The languages, the first being the one used when none of the reader's is spoken here.
const LOCALES: [&str; 2] = ["en", "fr"];
/// One catalogue per part of the app: shared words, the dropzone island (its strings go into
/// the WASM), the server-rendered pages, and the messages of refusals and errors.
const NAMESPACES: [&str; 4] = ["common", "drop", "pages", "errors"];

fn main() -> Result<(), String> {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=locales");
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let mut cfg = Config::new(LOCALES[0])
        .and_then(|c| c.add_locales(&LOCALES[1..]))
        .and_then(|c| c.add_namespaces(NAMESPACES))
        .map_err(|e| e.to_string())?;
    cfg.options = cfg.options.interpolate_display(true);
    let parsed = parse_locales(Some(manifest_dir), cfg).map_err(|e| e.to_string())?;
    for warning in parsed.diag.warnings().iter() {
        println!("cargo::warning={warning}");
    }
    // A key missing from one language, or a value it does not have, is a build error.
    if let Some(error) = parsed.diag.errors().first() {
        return Err(error.to_string());
    }
    for file in parsed.tracked_files.iter().flatten() {
        println!("cargo::rerun-if-changed={file}");
    }
    let code = leptos_i18n_codegen::gen_code(&parsed, None, false, None, false).map_err(|e| e.to_string())?;
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?).join("i18n.rs");
    std::fs::write(out, code.to_string()).map_err(|e| e.to_string())
}
