//! Shared set-up for the core's integration tests: a real mock server on
//! 127.0.0.1, a scratch directory, and a cache on a settable clock.

#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wechat_mock::{MockConfig, MockServer};
use wxtoken::{Config, ConfigBuilder, ManualClock, TokenCache};

/// The mock's default credentials.
pub const APPID: &str = "wx_test_appid";
pub const SECRET: &str = "test_secret_0123456789";

/// A scratch directory, removed when dropped (even when the test panics).
pub struct Scratch(pub tempfile::TempDir);

impl Scratch {
    pub fn new() -> Self {
        Scratch(
            tempfile::Builder::new()
                .prefix("wxtoken-core-")
                .tempdir()
                .unwrap(),
        )
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}

/// One test's world: mock, files, clock.
pub struct World {
    pub mock: MockServer,
    pub dir: Scratch,
    pub clock: ManualClock,
}

impl World {
    pub fn new() -> Self {
        World {
            mock: MockServer::start_with(0, MockConfig::default()).expect("mock starts"),
            dir: Scratch::new(),
            clock: ManualClock::at_system_time(),
        }
    }

    pub fn token_file(&self) -> PathBuf {
        self.dir.path("token.txt")
    }

    pub fn expiry_file(&self) -> PathBuf {
        self.dir.path("expiry.txt")
    }

    /// A builder for this world: mock URL, files in the scratch dir, a timeout
    /// generous enough for any machine (tests of the timeout set their own).
    pub fn builder(&self) -> ConfigBuilder {
        Config::builder()
            .appid(APPID)
            .secret(SECRET)
            .api_base(self.mock.url())
            .token_file(self.token_file())
            .expiry_file(self.expiry_file())
            .http_timeout(Duration::from_secs(60))
    }

    pub fn cache_with(&self, b: ConfigBuilder) -> TokenCache {
        TokenCache::with_clock(
            b.build().expect("valid config"),
            Arc::new(self.clock.clone()),
        )
    }

    pub fn cache(&self) -> TokenCache {
        self.cache_with(self.builder())
    }

    pub fn token_calls(&self) -> u64 {
        self.mock.stats().token_calls
    }

    /// Writes the files the way PHP's file_put_contents would.
    pub fn write_files(&self, token: &str, expiry: &str) {
        std::fs::write(self.token_file(), token).unwrap();
        std::fs::write(self.expiry_file(), expiry).unwrap();
    }

    /// As `write_files`, with the token file's mtime (its fetch time, as far
    /// as the margin cap is concerned) set `secs` into the past.
    pub fn write_files_aged(&self, token: &str, expiry: &str, secs: u64) {
        self.write_files(token, expiry);
        let then = std::time::SystemTime::now() - Duration::from_secs(secs);
        let f = std::fs::File::options()
            .write(true)
            .open(self.token_file())
            .unwrap();
        f.set_modified(then).unwrap();
    }

    pub fn read(&self, p: &Path) -> Vec<u8> {
        std::fs::read(p).unwrap()
    }

    pub fn now(&self) -> u64 {
        use wxtoken::Clock;
        self.clock.now()
    }
}
