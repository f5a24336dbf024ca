//! The files are shared with the legacy PHP script in both directions, and
//! whatever is in them never makes the cache panic.

mod common;

use common::World;

#[test]
fn reads_what_a_php_writer_wrote_with_or_without_newlines() {
    for (token, expiry) in [
        ("PHP_TOKEN_1", "EXP"),
        ("PHP_TOKEN_2\n", "EXP\n"),
        ("  PHP_TOKEN_3 \r\n", " EXP \r\n"),
    ] {
        let w = World::new();
        let exp = (w.now() + 3600).to_string();
        w.write_files(token, &expiry.replace("EXP", &exp));
        assert_eq!(w.cache().get_token().unwrap(), token.trim());
        assert_eq!(w.token_calls(), 0, "{token:?} should be a hit");
    }
}

#[test]
fn writes_what_the_legacy_script_expects() {
    let w = World::new();
    let token = w.cache().get_token().unwrap();
    // The legacy reader: trim(file_get_contents(...)) and (integer) cast.
    let t = String::from_utf8(w.read(&w.token_file())).unwrap();
    let x: i64 = String::from_utf8(w.read(&w.expiry_file()))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(t, token, "token.txt must hold exactly the token");
    assert!(x > w.now() as i64, "a legacy reader must see it as valid");
}

#[test]
fn corrupt_files_are_a_miss_never_a_panic() {
    let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        ("empty token", b"".to_vec(), b"FUTURE".to_vec()),
        ("spaces only", b"   \n".to_vec(), b"FUTURE".to_vec()),
        ("non-numeric expiry", b"TOK".to_vec(), b"soon".to_vec()),
        ("negative expiry", b"TOK".to_vec(), b"-5".to_vec()),
        ("enormous expiry", b"TOK".to_vec(), b"99999999999".to_vec()),
        (
            "overflowing expiry",
            b"TOK".to_vec(),
            b"999999999999999999999999".to_vec(),
        ),
        (
            "binary junk token",
            vec![0xde, 0xad, 0xbe, 0xef, 0, 1],
            b"FUTURE".to_vec(),
        ),
        (
            "binary junk expiry",
            b"TOK".to_vec(),
            vec![0xff, 0x00, 0x31],
        ),
        ("huge token file", vec![b'A'; 100_000], b"FUTURE".to_vec()),
        ("empty expiry", b"TOK".to_vec(), b"".to_vec()),
    ];
    for (what, token, expiry) in cases {
        let w = World::new();
        let future = (w.now() + 3600).to_string();
        let expiry = String::from_utf8_lossy(&expiry).replace("FUTURE", &future);
        std::fs::write(w.token_file(), &token).unwrap();
        std::fs::write(w.expiry_file(), expiry.as_bytes()).unwrap();
        let got = w
            .cache()
            .get_token()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_ne!(got, "TOK", "{what}: must not be trusted");
        assert_eq!(w.token_calls(), 1, "{what}: one refetch");
        assert_eq!(w.read(&w.token_file()), got.as_bytes(), "{what}: healed");
    }
}

#[test]
fn missing_expiry_file_is_a_miss() {
    let w = World::new();
    std::fs::write(w.token_file(), "TOK").unwrap();
    assert_ne!(w.cache().get_token().unwrap(), "TOK");
    assert_eq!(w.token_calls(), 1);
}

#[test]
fn a_directory_where_a_file_should_be_is_a_clear_error() {
    let w = World::new();
    std::fs::create_dir(w.token_file()).unwrap();
    let e = w.cache().get_token().unwrap_err();
    // A configured path that is not a regular file is a configuration error.
    assert_eq!(e.kind(), wxtoken::ErrorKind::Config);
    assert!(e.to_string().contains("token.txt"), "{e}");
    assert!(
        e.to_string().contains("a directory, not a regular file"),
        "{e}"
    );
    assert_eq!(w.token_calls(), 0);

    let w = World::new();
    w.write_files("TOK", "1");
    std::fs::remove_file(w.expiry_file()).unwrap();
    std::fs::create_dir(w.expiry_file()).unwrap();
    let e = w.cache().get_token().unwrap_err();
    assert!(e.to_string().contains("expiry.txt"), "{e}");
}

#[test]
fn world_readable_legacy_files_are_replaced_by_private_ones() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    w.write_files("OLD", "1");
    for f in [w.token_file(), w.expiry_file()] {
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    w.cache().get_token().unwrap();
    for f in [w.token_file(), w.expiry_file()] {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
