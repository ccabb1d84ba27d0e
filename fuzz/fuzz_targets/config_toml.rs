//! Arbitrary configuration text. Property: loading never panics; an error names the file;
//! a loaded configuration explains itself.
#![no_main]

use airlock_core::{ConfigBuilder, Origin};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match ConfigBuilder::new().file("fuzz.toml", text).build() {
        Ok(config) => assert!(!config.explain().is_empty()),
        Err(e) => assert!(matches!(e.origin, Origin::File(_) | Origin::Default), "{e}"),
    }
});
