//! The token endpoint's answer: any bytes give a token or an error, never a
//! panic, and no error carries the secret.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    wxtoken::fuzzing::parse_answer(body, "fuzz_secret_value");
});
