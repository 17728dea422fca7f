//! Headless Chromium driven over WebDriver for page tests: starts Debian's `chromedriver` on a
//! free loopback port in its own process group, opens a session with a fresh profile and the
//! flags this closed machine needs, and kills the whole group on drop (so a failing test
//! leaves no browser behind). Missing `chromium` or `chromium-driver` fails the test.

#![allow(dead_code)] // not every page test uses every helper
#![allow(clippy::disallowed_methods)] // a harness measures wall time

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process group and one browser session in it.
pub struct Browser {
    pub client: Client,
    driver: Child,
    log: PathBuf,
    _profile: tempfile::TempDir,
}

/// Needs `dnsclient` in the test crate (status_page.rs has it).
fn free_port() -> u16 {
    crate::dnsclient::free_port(&[Ipv4Addr::LOCALHOST.into()])
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session at `width`×`height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        for (bin, pkg) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: apt-get install -y --no-install-recommends {pkg}"
            );
        }
        let profile = tempfile::tempdir().expect("temp dir for the browser profile");
        let log = profile.path().join("chromedriver.log");
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let mut b = BrowserGuard(Some(driver));
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "chromedriver did not listen on {addr} within 15 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let data_dir = profile.path().join("profile");
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--hide-scrollbars",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", data_dir.display()),
                ],
            },
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!("a JSON object literal")
        };
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps);
        let url = format!("http://{addr}");
        let client =
            match tokio::time::timeout(Duration::from_secs(30), builder.connect(&url)).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => panic!(
                    "WebDriver session: {e}\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ),
                Err(_) => panic!("WebDriver session not opened within 30 s"),
            };
        Browser {
            client,
            driver: b.0.take().expect("driver"),
            log,
            _profile: profile,
        }
    }

    /// Ends the session (Chromium exits); the process group is killed on drop either way.
    pub async fn close(self) {
        let _closed =
            tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
    }

    /// The end of chromedriver's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        text.get(start..).unwrap_or_default().to_string()
    }

    /// Evaluates `script` (a function body; `return` gives the value) in the page.
    pub async fn js(&self, script: &str) -> serde_json::Value {
        tokio::time::timeout(Duration::from_secs(10), self.client.execute(script, vec![]))
            .await
            .unwrap_or_else(|_| panic!("script did not finish in 10 s: {script}"))
            .unwrap_or_else(|e| panic!("script failed: {e}: {script}"))
    }

    /// The `class` attribute of the first element matching `css`, if there is one.
    pub async fn class_of(&self, css: &str) -> Option<String> {
        let e = self.client.find(Locator::Css(css)).await.ok()?;
        e.attr("class").await.ok().flatten()
    }

    /// The text of the first element matching `css`, if there is one.
    pub async fn text_of(&self, css: &str) -> Option<String> {
        let e = self.client.find(Locator::Css(css)).await.ok()?;
        e.text().await.ok()
    }

    /// Replaces the value of the input matching `css` with `text`, as typed.
    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        e.clear()
            .await
            .unwrap_or_else(|e| panic!("clear {css}: {e}"));
        e.send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    pub async fn click(&self, css: &str) {
        let e = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        e.click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Writes a PNG screenshot of the window to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot folder");
        }
        std::fs::write(path, png).expect("write the screenshot");
    }
}

/// Kills a chromedriver process group (chromedriver and the Chromium it started).
struct BrowserGuard(Option<Child>);

fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) on the process group this harness created with process_group(0).
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _reaped = child.wait();
}

impl Drop for BrowserGuard {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            kill_group(c);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
    }
}

/// Polls `probe` every 100 ms until it gives `Some`, for at most `limit`; panics with `what`
/// and the last value seen otherwise.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    let mut last = String::from("never polled");
    for _ in 0..10_000 {
        match tokio::time::timeout(limit, probe()).await {
            Ok(Ok(v)) => return (v, started.elapsed()),
            Ok(Err(seen)) => last = seen,
            Err(_) => last = "a poll took longer than the limit".into(),
        }
        if started.elapsed() >= limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within {limit:?}; last seen: {last}");
}
