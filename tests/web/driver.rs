//! Headless Chromium driven over W3C WebDriver (`chromedriver`), with what the tests need:
//! navigate, run a script, wait for a condition, click, type, screenshot.
//!
//! The browser comes from the Debian packages `chromium` and `chromium-driver`; when they are
//! missing, the first test installs them with `apt-get` (as root, or through passwordless
//! `sudo`), once per machine. `TRIBUTARY_CHROMIUM` and `TRIBUTARY_CHROMEDRIVER` point at
//! other binaries. A browser that cannot be found or installed fails the tests with the
//! reason; it never skips them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The WebDriver id of an element in a JSON answer.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Default wait for a page condition.
pub const WAIT: Duration = Duration::from_secs(30);

/// The Chromium and chromedriver binaries, installed if needed (once per test process).
fn browser_binaries() -> Result<(PathBuf, PathBuf), String> {
    static BINARIES: OnceLock<Result<(PathBuf, PathBuf), String>> = OnceLock::new();
    BINARIES.get_or_init(find_or_install).clone()
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|file| file.is_file())
}

fn found() -> Option<(PathBuf, PathBuf)> {
    let chromium = std::env::var_os("TRIBUTARY_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| on_path(&["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]))?;
    let driver =
        std::env::var_os("TRIBUTARY_CHROMEDRIVER").map(PathBuf::from).or_else(|| on_path(&["chromedriver"]))?;
    Some((chromium, driver))
}

fn find_or_install() -> Result<(PathBuf, PathBuf), String> {
    if let Some(binaries) = found() {
        return Ok(binaries);
    }
    if on_path(&["apt-get"]).is_none() {
        return Err("the web tests need Chromium and chromedriver, and this machine has no apt-get to install \
                    them: install a Chromium and its chromedriver, or set TRIBUTARY_CHROMIUM and TRIBUTARY_CHROMEDRIVER"
            .into());
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|output| output.stdout.trim_ascii() == b"0");
    let sudo = if root {
        None
    } else if Command::new("sudo").args(["-n", "true"]).status().is_ok_and(|status| status.success()) {
        Some("sudo")
    } else {
        return Err("the web tests need the Debian packages chromium and chromium-driver; they are not installed \
                    and this user can neither install them (not root, no passwordless sudo): \
                    run `sudo apt-get install chromium chromium-driver`"
            .into());
    };
    let packages = ["chromium", "chromium-driver", "fonts-dejavu-core"];
    eprintln!("web tests: installing {} with apt-get (once per machine)", packages.join(" "));
    let apt = |args: &[&str]| -> Result<(), String> {
        let mut command = match sudo {
            Some(sudo) => {
                let mut command = Command::new(sudo);
                command.arg("apt-get");
                command
            }
            None => Command::new("apt-get"),
        };
        command
            .args(["-o", "DPkg::Lock::Timeout=600", "-q", "-y"])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null());
        let output = command.output().map_err(|error| format!("cannot run apt-get: {error}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "apt-get {} failed ({}):\n{}\n{}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    };
    let install: Vec<&str> = ["install", "--no-install-recommends"].into_iter().chain(packages).collect();
    if apt(&install).is_err() {
        // A fresh image has no package lists yet.
        apt(&["update"])?;
        apt(&install)?;
    }
    found()
        .ok_or_else(|| "apt-get installed chromium and chromium-driver, yet no chromium/chromedriver is on PATH".into())
}

/// A chromedriver process and one browser session; both end on drop.
pub struct Browser {
    driver: Child,
    client: reqwest::Client,
    session: String,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    // The port is released before chromedriver binds it; a collision would fail the start
    // below with chromedriver's message.
    TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).map(|address| address.port()).unwrap()
}

impl Browser {
    /// Starts headless Chromium. Hosts other than loopback do not resolve in it, so a page
    /// that needed the network would visibly fail.
    pub async fn start() -> Browser {
        let binaries = tokio::task::spawn_blocking(browser_binaries).await.expect("installing the browser panicked");
        let (chromium, chromedriver) = match binaries {
            Ok(binaries) => binaries,
            Err(message) => panic!("web tests: {message}"),
        };
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", chromedriver.display()));
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = client.get(format!("{base}/status")).send().await;
            if let Ok(response) = ready
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver at {} did not become ready", chromedriver.display());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1400,1000", "--no-first-run", "--disable-extensions",
                    "--disable-background-networking", "--disable-sync", "--mute-audio",
                    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                // Downloads (the explorer's CSV exports) stay in the throwaway profile.
                "prefs": {
                    "download.default_directory": profile.path().join("downloads"),
                    "download.prompt_for_download": false,
                },
            },
        }}});
        let response = client.post(format!("{base}/session")).json(&capabilities).send().await.unwrap();
        let body: Value = response.json().await.unwrap();
        let session = body["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver did not open a session: {body}"))
            .to_owned();
        Browser { driver, client, session: format!("{base}/session/{session}"), _profile: profile }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{}", self.session, path);
        let mut request = self.client.request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|error| panic!("webdriver {path}: {error}"));
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "webdriver {path} answered {status}: {body}");
        body["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page; returns its value.
    pub async fn eval(&self, script: &str, args: Value) -> Value {
        self.command(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": args}))).await
    }

    /// Runs an async script: the last argument is the callback to call with the result.
    pub async fn eval_async(&self, script: &str, args: Value) -> Value {
        self.command(reqwest::Method::POST, "/execute/async", Some(json!({"script": script, "args": args}))).await
    }

    /// Polls `expression` (a JavaScript expression) until it is truthy; returns its value.
    pub async fn wait_for(&self, expression: &str, what: &str) -> Value {
        self.wait_for_within(expression, what, WAIT).await
    }

    pub async fn wait_for_within(&self, expression: &str, what: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        let script = format!("try {{ return ({expression}); }} catch (error) {{ return null; }}");
        loop {
            let value = self.eval(&script, json!([])).await;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(flag) => *flag,
                Value::Number(number) => number.as_f64() != Some(0.0),
                Value::String(text) => !text.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                let body =
                    self.eval("return document.body ? document.body.innerText.slice(0, 3000) : ''", json!([])).await;
                panic!(
                    "timed out waiting for {what} (`{expression}`); the page shows:\n{}",
                    body.as_str().unwrap_or("")
                );
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }

    /// The first element matching a CSS selector (waiting for it to appear).
    pub async fn find(&self, selector: &str) -> String {
        let escaped = serde_json::to_string(selector).unwrap();
        self.wait_for(&format!("document.querySelector({escaped})"), selector).await;
        let value = self
            .command(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": selector})))
            .await;
        value[ELEMENT_KEY].as_str().unwrap_or_else(|| panic!("no element id for {selector}: {value}")).to_owned()
    }

    /// A real click (the driver moves the pointer and clicks), on the first match.
    pub async fn click(&self, selector: &str) {
        let element = self.find(selector).await;
        self.command(reqwest::Method::POST, &format!("/element/{element}/click"), Some(json!({}))).await;
    }

    /// Clears an input and types `text` into it, key by key.
    pub async fn type_into(&self, selector: &str, text: &str) {
        let element = self.find(selector).await;
        self.command(reqwest::Method::POST, &format!("/element/{element}/clear"), Some(json!({}))).await;
        self.command(reqwest::Method::POST, &format!("/element/{element}/value"), Some(json!({"text": text}))).await;
    }

    /// The visible text of the first match.
    pub async fn text(&self, selector: &str) -> String {
        let escaped = serde_json::to_string(selector).unwrap();
        self.wait_for(&format!("document.querySelector({escaped})"), selector).await;
        self.eval(&format!("return document.querySelector({escaped}).innerText"), json!([]))
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Saves a PNG of the window as `<dir>/<name>.png`.
    pub async fn screenshot(&self, dir: &Path, name: &str) {
        let encoded = self.command(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = decode_base64(encoded.as_str().unwrap_or(""));
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session closes Chromium; chromedriver goes with the kill.
        let session = self.session.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let _ = reqwest::Client::new().delete(&session).timeout(Duration::from_secs(10)).send().await;
            });
        })
        .join();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (the screenshots), without a dependency for it.
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |byte: u8| -> Option<u32> {
        Some(match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in text.bytes().filter_map(value) {
        buffer = (buffer << 6) | byte;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

#[test]
fn base64_decodes() {
    assert_eq!(decode_base64("aGVsbG8gd29ybGQ="), b"hello world");
    assert_eq!(decode_base64("YQ=="), b"a");
    assert_eq!(decode_base64(""), b"");
}
