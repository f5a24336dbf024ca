//! Reading C string arguments and writing the caller's output buffer.

use std::ffi::CStr;
use std::os::raw::c_char;

use crate::error::Failure;
use crate::status::wx_status;

/// A required string argument: NULL and invalid UTF-8 are errors naming the
/// argument (never echoing its value, which may be the secret).
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn required<'a>(p: *const c_char, name: &str) -> Result<&'a str, Failure> {
    // SAFETY: forwarded from the caller.
    unsafe { optional(p, name) }?
        .ok_or_else(|| Failure::new(wx_status::WX_ERR_NULL_ARG, format!("{name} is NULL")))
}

/// An optional string argument: NULL is `None`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn optional<'a>(
    p: *const c_char,
    name: &str,
) -> Result<Option<&'a str>, Failure> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL, and the caller vouches for the rest.
    let bytes = unsafe { CStr::from_ptr(p) };
    bytes.to_str().map(Some).map_err(|_| {
        Failure::new(
            wx_status::WX_ERR_INVALID_UTF8,
            format!("{name} is not valid UTF-8"),
        )
    })
}

/// The output buffer, checked for NULL, and emptied at once so that every
/// failure, even a panic, leaves an empty string behind (when `len > 0`).
///
/// # Safety
/// `out` is NULL or valid for writing `len` bytes.
pub(crate) unsafe fn out_buffer(out: *mut c_char, len: usize) -> Result<OutBuf, Failure> {
    if out.is_null() {
        return Err(Failure::new(wx_status::WX_ERR_NULL_ARG, "out is NULL"));
    }
    if len > 0 {
        // SAFETY: non-NULL and at least one byte long.
        unsafe { *out = 0 };
    }
    Ok(OutBuf { out, len })
}

/// A checked, caller-owned output buffer.
pub(crate) struct OutBuf {
    out: *mut c_char,
    len: usize,
}

impl OutBuf {
    /// Writes `token` and a NUL, or nothing (the buffer keeps its empty
    /// string) when it does not fit.
    pub(crate) fn write(&self, token: &str) -> Result<(), Failure> {
        let need = token.len() + 1;
        if need > self.len {
            return Err(Failure::new(
                wx_status::WX_ERR_BUFFER_TOO_SMALL,
                format!(
                    "the token needs {need} bytes but out_len is {}; use a buffer of WX_TOKEN_BUF_LEN bytes",
                    self.len
                ),
            ));
        }
        // SAFETY: `out_buffer` was promised `len` writable bytes and
        // need <= len; a Rust String holds no NUL that could cut it short
        // (tokens are printable ASCII).
        unsafe {
            std::ptr::copy_nonoverlapping(token.as_ptr(), self.out.cast::<u8>(), token.len());
            *self.out.add(token.len()) = 0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_bad_utf8_are_named_errors() {
        let e = unsafe { required(std::ptr::null(), "appid") }.unwrap_err();
        assert_eq!(e.status, wx_status::WX_ERR_NULL_ARG);
        assert!(e.message.contains("appid"));
        let bad = c"zz\xffqq";
        let e = unsafe { required(bad.as_ptr(), "secret") }.unwrap_err();
        assert_eq!(e.status, wx_status::WX_ERR_INVALID_UTF8);
        assert!(!e.message.contains("qq"), "{}", e.message);
        assert_eq!(unsafe { optional(std::ptr::null(), "f") }, Ok(None));
    }

    #[test]
    fn buffer_gets_the_token_or_stays_empty() {
        let mut buf = [b'x' as c_char; 8];
        let out = unsafe { out_buffer(buf.as_mut_ptr(), 5) }.unwrap();
        assert_eq!(buf[0], 0, "emptied on entry");
        let e = out.write("abcde").unwrap_err();
        assert_eq!(e.status, wx_status::WX_ERR_BUFFER_TOO_SMALL);
        assert_eq!(buf[0], 0);
        assert_eq!(buf[1], b'x' as c_char, "nothing partial");
        out.write("abcd").unwrap();
        assert_eq!(unsafe { CStr::from_ptr(buf.as_ptr()) }, c"abcd");
        assert_eq!(buf[5], b'x' as c_char);
        let zero = unsafe { out_buffer(buf.as_mut_ptr(), 0) }.unwrap();
        assert!(zero.write("").is_err());
    }
}
