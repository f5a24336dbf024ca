//! Files planted by a less trusted user where the cache keeps its own: the
//! cache must never write through them, never block on them and never serve
//! a token it did not have reason to trust. Each test names the attack from
//! the security review it answers (SECURITY.md).
//!
//! Tests that need root (a device node, a file of another owner) check for
//! it and say so when they cannot run; `make test` runs as root.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use common::World;
use wxtoken::ErrorKind;

const VICTIM: &[u8] = b"precious contents, not a cache file\n";

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A file outside the cache that an attacker would like overwritten.
fn victim(w: &World) -> std::path::PathBuf {
    let v = w.dir.path("victim");
    std::fs::write(&v, VICTIM).unwrap();
    std::fs::set_permissions(&v, std::fs::Permissions::from_mode(0o600)).unwrap();
    v
}

/// Runs `f` on another thread; a hang (the bug) fails instead of blocking the
/// suite. The bound is wide: this checks "ends", not "ends quickly".
fn ends<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the call hung on a hostile file")
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn a_symlink_at_the_lock_file_is_refused_and_its_target_untouched() {
    let w = World::new();
    w.write_files("EXPIRED", "1");
    let v = victim(&w);
    std::os::unix::fs::symlink(&v, w.dir.path("token.txt.lock")).unwrap();
    let e = w.cache().get_token().unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert!(e.to_string().contains("token.txt.lock"), "{e}");
    assert_eq!(w.read(&v), VICTIM);
    assert_eq!(w.token_calls(), 0);
    // Nor on failure (the note would go into the lock file).
    w.mock
        .set_fault(Some(wechat_mock::Fault::Errcode(40013)), None);
    let _ = w.cache().force_refresh();
    assert_eq!(w.read(&v), VICTIM);
}

#[test]
fn a_hard_link_at_the_lock_file_is_refused_and_its_target_untouched() {
    let w = World::new();
    w.write_files("EXPIRED", "1");
    let v = victim(&w);
    std::fs::hard_link(&v, w.dir.path("token.txt.lock")).unwrap();
    let e = w.cache().get_token().unwrap_err();
    assert!(e.to_string().contains("hard links"), "{e}");
    assert_eq!(e.kind(), ErrorKind::Config);
    assert_eq!(w.read(&v), VICTIM);
    assert_eq!(w.token_calls(), 0);
}

#[test]
fn a_device_node_as_the_token_file_is_a_config_error_and_never_replaced() {
    if !is_root() {
        eprintln!("skipped: creating a device node needs root (make test runs as root)");
        return;
    }
    let w = World::new();
    let dev = w.dir.path("null");
    let c = std::ffi::CString::new(dev.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid path; (1, 3) is the null device, made in our own dir.
    let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    assert_eq!(rc, 0, "mknod: {}", std::io::Error::last_os_error());
    let cache = w.cache_with(w.builder().token_file(&dev));
    for e in [
        cache.get_token().unwrap_err(),
        cache.force_refresh().unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert!(e.to_string().contains("character device"), "{e}");
    }
    let meta = std::fs::symlink_metadata(&dev).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &meta.file_type()
    ));
    assert!(!w.dir.path("null.lock").exists());
    assert_eq!(w.token_calls(), 0);
}

#[test]
fn fifos_never_block_get_status_or_invalidate() {
    for name in ["token.txt", "expiry.txt"] {
        let w = World::new();
        w.write_files("TOKEN", "1");
        std::fs::remove_file(w.dir.path(name)).unwrap();
        mkfifo(&w.dir.path(name));
        let cache = std::sync::Arc::new(w.cache());
        let c = cache.clone();
        let (get, status, invalidate) =
            ends(move || (c.get_token(), c.status(), c.invalidate("TOKEN")));
        for e in [
            get.unwrap_err(),
            status.unwrap_err(),
            invalidate.unwrap_err(),
        ] {
            assert!(e.to_string().contains("FIFO"), "{name}: {e}");
        }
        assert_eq!(w.token_calls(), 0);
    }
}

#[test]
fn symlinked_token_files_are_refused_not_followed() {
    let w = World::new();
    // A root-only file with a far expiry, reached through links.
    let secret = w.dir.path("root-only");
    std::fs::write(&secret, "FIRST_LINE_OF_A_PRIVATE_FILE\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let far = w.dir.path("far");
    std::fs::write(&far, (w.now() + 7000).to_string()).unwrap();
    std::os::unix::fs::symlink(&secret, w.token_file()).unwrap();
    std::os::unix::fs::symlink(&far, w.expiry_file()).unwrap();
    let cache = w.cache();
    let e = cache.get_token().unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert!(!e.to_string().contains("FIRST_LINE"), "{e}");
    let e = cache.status().unwrap_err();
    assert!(!e.to_string().contains("FIRST_LI"), "{e}");
    assert!(cache.force_refresh().is_err());
    assert_eq!(w.read(&secret), b"FIRST_LINE_OF_A_PRIVATE_FILE\n");
    assert!(std::fs::symlink_metadata(w.token_file())
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn files_writable_by_others_are_not_trusted() {
    let w = World::new();
    w.write_files("PLANTED_TOKEN", &(w.now() + 7000).to_string());
    std::fs::set_permissions(w.token_file(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let e = w.cache().get_token().unwrap_err();
    assert!(e.to_string().contains("writable by group or others"), "{e}");
    assert!(e.to_string().contains("chmod go-w"), "{e}");
    assert_eq!(w.token_calls(), 0);
}

#[test]
fn a_token_planted_by_another_user_is_not_served() {
    if !is_root() {
        eprintln!("skipped: giving a file to another user needs root (make test runs as root)");
        return;
    }
    let w = World::new();
    w.write_files("ATTACKER_TOKEN", &(w.now() + 7000).to_string());
    // Another user (nobody) owns the planted files; the directory is ours.
    for f in [w.token_file(), w.expiry_file()] {
        std::os::unix::fs::chown(&f, Some(65534), Some(65534)).unwrap();
    }
    let e = w.cache().get_token().unwrap_err();
    assert!(e.to_string().contains("owned by uid 65534"), "{e}");
    assert_eq!(e.kind(), ErrorKind::Config);
    // The same for a lock file of theirs.
    let w = World::new();
    w.write_files("EXPIRED", "1");
    let lock = w.dir.path("token.txt.lock");
    std::fs::write(&lock, "").unwrap();
    std::os::unix::fs::chown(&lock, Some(65534), Some(65534)).unwrap();
    let e = w.cache().get_token().unwrap_err();
    assert!(e.to_string().contains("token.txt.lock"), "{e}");
    // Root trusts the files of the directory's owner: the site's own files.
    let w = World::new();
    w.write_files("SITE_TOKEN", &(w.now() + 7000).to_string());
    for f in [
        w.dir.0.path().to_path_buf(),
        w.token_file(),
        w.expiry_file(),
    ] {
        std::os::unix::fs::chown(&f, Some(65534), Some(65534)).unwrap();
    }
    assert_eq!(w.cache().get_token().unwrap(), "SITE_TOKEN");
    assert_eq!(std::fs::metadata(w.token_file()).unwrap().uid(), 65534);
}

#[test]
fn a_missing_ca_file_is_a_configuration_error() {
    let w = World::new();
    let cache = w.cache_with(w.builder().ca_file(w.dir.path("no-such-ca.pem")));
    let e = cache.get_token().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(e.to_string().contains("WX_CA_FILE"), "{e}");
}
