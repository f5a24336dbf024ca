//! The failure note in `token.txt.lock`, which any process (or a stray
//! editor) may have written.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        wxtoken::fuzzing::parse_note(text);
    }
});
