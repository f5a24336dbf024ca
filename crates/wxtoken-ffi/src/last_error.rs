//! The calling thread's last error, errno-style: each `wx_*` call that does
//! work clears it on entry and sets it on failure, so what a thread reads
//! back always belongs to its own latest call, whatever other threads do.

use std::cell::RefCell;
use std::os::raw::c_char;

use crate::error::Failure;

thread_local! {
    static LAST: RefCell<Option<Failure>> = const { RefCell::new(None) };
}

/// Forgets the thread's last error (start of every call).
pub(crate) fn clear() {
    // `try_with`: during thread teardown the slot may be gone; nothing to do.
    let _ = LAST.try_with(|l| l.borrow_mut().take());
}

/// Records `f` as the thread's last error.
pub(crate) fn set(f: Failure) {
    let _ = LAST.try_with(|l| *l.borrow_mut() = Some(f));
}

/// The last WeChat errcode, 0 when there is none.
pub(crate) fn errcode() -> i64 {
    LAST.try_with(|l| l.borrow().as_ref().and_then(|f| f.errcode))
        .ok()
        .flatten()
        .unwrap_or(0)
}

/// Copies the last message into `buf` (see `wx_last_error` for the contract)
/// and returns its full length in bytes, without the NUL.
///
/// # Safety
/// `buf` is NULL or valid for writing `len` bytes.
pub(crate) unsafe fn copy_message(buf: *mut c_char, len: usize) -> usize {
    LAST.try_with(|l| {
        let last = l.borrow();
        let msg = last.as_ref().map_or("", |f| f.message.as_str());
        // SAFETY: forwarded from the caller.
        unsafe { copy_truncated(msg, buf, len) };
        msg.len()
    })
    .unwrap_or(0)
}

/// Writes as much of `msg` as fits in `len - 1` bytes, cut at a character
/// boundary so the result stays valid UTF-8, then a NUL. Nothing is written
/// when `buf` is NULL or `len` is 0.
///
/// # Safety
/// `buf` is NULL or valid for writing `len` bytes.
unsafe fn copy_truncated(msg: &str, buf: *mut c_char, len: usize) {
    if buf.is_null() || len == 0 {
        return;
    }
    let mut n = msg.len().min(len - 1);
    while !msg.is_char_boundary(n) {
        n -= 1;
    }
    // SAFETY: n < len, and the caller vouches for len bytes at buf.
    unsafe {
        std::ptr::copy_nonoverlapping(msg.as_ptr(), buf.cast::<u8>(), n);
        *buf.add(n) = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::wx_status;

    fn read(len: usize) -> (usize, Vec<u8>) {
        let mut buf = vec![0x55u8; len + 2];
        let n = unsafe { copy_message(buf.as_mut_ptr().cast(), len) };
        (n, buf)
    }

    #[test]
    fn empty_until_set_and_per_thread() {
        clear();
        assert_eq!(read(8).0, 0);
        set(Failure {
            status: wx_status::WX_ERR_WECHAT,
            message: "quota".into(),
            errcode: Some(45009),
        });
        assert_eq!(errcode(), 45009);
        std::thread::spawn(|| assert_eq!(errcode(), 0))
            .join()
            .unwrap();
        clear();
        assert_eq!(errcode(), 0);
    }

    #[test]
    fn truncates_at_a_char_boundary_and_reports_the_full_length() {
        set(Failure::new(wx_status::WX_ERR_STORE, "ab\u{e9}cd")); // é is 2 bytes
        let (n, buf) = read(4); // room for 3 bytes + NUL: "ab" + half of é
        assert_eq!(n, 6);
        assert_eq!(&buf[..3], b"ab\0");
        assert_eq!(buf[4], 0x55, "nothing written past len");
        let (_, buf) = read(7);
        assert_eq!(&buf[..7], "ab\u{e9}cd\0".as_bytes());
        assert_eq!(read(0).1[0], 0x55);
        assert_eq!(unsafe { copy_message(std::ptr::null_mut(), 100) }, 6);
    }
}
