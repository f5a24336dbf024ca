//! `token.txt` / `expiry.txt` as any writer may leave them: the input is
//! split at its first NUL into the two files' bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (token, expiry) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    if let (Some(t), _) = wxtoken::fuzzing::parse_files(token, expiry) {
        assert!(!t.is_empty() && t.len() <= 512 && t.bytes().all(|b| b.is_ascii_graphic()));
    }
});
