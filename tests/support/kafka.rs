//! A real Kafka-protocol broker for the Kafka tests: Tansu (Apache-2.0, crate `tansu`), with
//! in-memory storage, on a loopback port of its own.
//!
//! The binary comes from `TRIBUTARY_TANSU` when set. Otherwise it comes from a cache outside the
//! clone, `$TRIBUTARY_CACHE_DIR` (default `$XDG_CACHE_HOME/tributary`, else
//! `$HOME/.cache/tributary`), at `tansu-<version>/bin/tansu`. When the cache has none, the first
//! test builds it there with `cargo install` (once per machine: a lock file makes other test
//! processes wait), which needs crates.io and takes several minutes. A broker that cannot be
//! found, installed or started fails the tests with the reason; it never skips them.

use std::fs;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// The Tansu release the tests run against, installed with `cargo install --locked`.
pub const TANSU_VERSION: &str = "0.6.0";
/// A cold `cargo install` on two cores; a lock older than this was left by a dead installer.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// From spawning the broker to its port accepting a connection.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The Tansu binary, found or installed (once per test process; other tests wait for it).
pub fn tansu_binary() -> Result<PathBuf, String> {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BINARY.get_or_init(find_or_install).clone()
}

fn cache_dir() -> Result<PathBuf, String> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from);
    non_empty("TRIBUTARY_CACHE_DIR")
        .or_else(|| non_empty("XDG_CACHE_HOME").map(|dir| dir.join("tributary")))
        .or_else(|| non_empty("HOME").map(|dir| dir.join(".cache").join("tributary")))
        .ok_or_else(|| "neither TRIBUTARY_CACHE_DIR, XDG_CACHE_HOME nor HOME is set: nowhere to cache tansu".into())
}

/// Where the cached install of [`TANSU_VERSION`] lives (its binary is `bin/tansu` inside).
pub fn tansu_install_root() -> Result<PathBuf, String> {
    Ok(cache_dir()?.join(format!("tansu-{TANSU_VERSION}")))
}

fn find_or_install() -> Result<PathBuf, String> {
    if let Some(binary) = std::env::var_os("TRIBUTARY_TANSU").filter(|value| !value.is_empty()) {
        let binary = PathBuf::from(binary);
        return if binary.is_file() {
            Ok(binary)
        } else {
            Err(format!("TRIBUTARY_TANSU is {}, which is not a file", binary.display()))
        };
    }
    let root = tansu_install_root()?;
    let binary = root.join("bin").join("tansu");
    if binary.is_file() {
        return Ok(binary);
    }
    let cache = cache_dir()?;
    fs::create_dir_all(&cache).map_err(|error| format!("cannot create {}: {error}", cache.display()))?;
    let _lock = InstallLock::acquire(cache.join(format!("tansu-{TANSU_VERSION}.lock")))?;
    if binary.is_file() {
        // Another process installed it while this one waited for the lock.
        return Ok(binary);
    }
    install(&cache, &root)?;
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!("cargo install finished but {} does not exist", binary.display()))
    }
}

/// `cargo install tansu` into a scratch root next to `root`, then renamed to `root`, so that a
/// process killed mid-install never leaves a half-installed binary where the tests look.
fn install(cache: &Path, root: &Path) -> Result<(), String> {
    let partial = cache.join(format!("tansu-{TANSU_VERSION}.partial"));
    // Its own target directory: the test run's one is locked by the `cargo test` running us.
    let build = cache.join(format!("tansu-{TANSU_VERSION}.build"));
    let _ = fs::remove_dir_all(&partial);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .args(["install", "tansu", "--version", TANSU_VERSION, "--locked", "--no-default-features"])
        // dynostore brings the `memory://` storage engine; nothing else is needed.
        .args(["--features", "dynostore", "--root"])
        .arg(&partial)
        .arg("--target-dir")
        .arg(&build)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    eprintln!(
        "kafka tests: no Tansu broker in {}; installing it with `{} install tansu --version {TANSU_VERSION} --locked \
         --no-default-features --features dynostore` (once per machine, several minutes; set TRIBUTARY_TANSU to \
         use another binary)",
        root.display(),
        Path::new(&cargo).display(),
    );
    let started = Instant::now();
    let status = command.status().map_err(|error| format!("cannot run {}: {error}", Path::new(&cargo).display()))?;
    if !status.success() {
        return Err(format!("cargo install tansu {TANSU_VERSION} failed ({status}); its output is above"));
    }
    let _ = fs::remove_dir_all(root);
    fs::rename(&partial, root)
        .map_err(|error| format!("cannot move {} to {}: {error}", partial.display(), root.display()))?;
    // The build directory is a few GB of intermediate files; only the binary is kept.
    let _ = fs::remove_dir_all(&build);
    eprintln!("kafka tests: installed Tansu {TANSU_VERSION} in {} ({:.0?})", root.display(), started.elapsed());
    Ok(())
}

/// A lock file created with `create_new` holding the owner's pid, removed on drop. A file whose
/// process is gone (or, where that cannot be told, older than the install timeout) is taken over.
struct InstallLock {
    path: PathBuf,
}

impl InstallLock {
    fn acquire(path: PathBuf) -> Result<InstallLock, String> {
        let deadline = Instant::now() + INSTALL_TIMEOUT;
        let mut told = false;
        loop {
            match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => {
                    let _ = fs::write(&path, std::process::id().to_string());
                    return Ok(InstallLock { path });
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                    if lock_is_stale(&path) {
                        let _ = fs::remove_file(&path);
                        continue;
                    }
                    if !told {
                        eprintln!("kafka tests: waiting for another process installing Tansu ({})", path.display());
                        told = true;
                    }
                    if Instant::now() > deadline {
                        return Err(format!(
                            "another process has held {} for over {INSTALL_TIMEOUT:?}",
                            path.display()
                        ));
                    }
                    thread::sleep(Duration::from_millis(500));
                }
                Err(error) => return Err(format!("cannot create {}: {error}", path.display())),
            }
        }
    }
}

fn lock_is_stale(path: &Path) -> bool {
    let owner = fs::read_to_string(path).ok().and_then(|text| text.trim().parse::<u32>().ok());
    if let Some(pid) = owner
        && Path::new("/proc/self").exists()
    {
        return !Path::new(&format!("/proc/{pid}")).exists();
    }
    let age = fs::metadata(path)
        .and_then(|metadata| metadata.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok());
    age.is_some_and(|age| age > INSTALL_TIMEOUT)
}

impl Drop for InstallLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// A Tansu broker with in-memory storage on `127.0.0.1:port`; killed on drop (its topics go with
/// it).
pub struct Broker {
    child: Child,
    binary: PathBuf,
    /// `127.0.0.1:PORT`, what Kafka clients take as bootstrap servers.
    pub bootstrap: String,
    /// `tcp://127.0.0.1:PORT`, what the tansu CLI takes as `--broker`.
    pub url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    // The port is released before tansu binds it; a collision shows up as the broker exiting at
    // once, and `start` then tries another port.
    TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).map(|address| address.port()).unwrap()
}

impl Broker {
    /// Installs Tansu if needed, then starts a broker on a free loopback port and waits until it
    /// accepts connections.
    pub async fn start() -> Broker {
        tokio::task::spawn_blocking(Broker::start_blocking).await.expect("starting the broker panicked")
    }

    pub fn start_blocking() -> Broker {
        let binary = match tansu_binary() {
            Ok(binary) => binary,
            Err(message) => panic!("kafka tests: {message}"),
        };
        let mut last_failure = String::new();
        for _ in 0..3 {
            match Broker::spawn(&binary) {
                Ok(broker) => return broker,
                Err(message) => last_failure = message,
            }
        }
        panic!("kafka tests: Tansu did not start: {last_failure}");
    }

    fn spawn(binary: &Path) -> Result<Broker, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("tansu.log");
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let log_file = fs::File::create(&log).unwrap();
        let mut command = Command::new(binary);
        command
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/", "--cluster-id", "tributary-tests"])
            // Its defaults come from the environment too; a developer's own must not reach it.
            .env_remove("LISTENER_URL")
            .env_remove("ADVERTISED_LISTENER_URL")
            .env_remove("STORAGE_ENGINE")
            .env_remove("SCHEMA_REGISTRY")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("CLUSTER_ID")
            .env("RUST_LOG", "warn")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file);
        let child = command.spawn().map_err(|error| format!("cannot start {}: {error}", binary.display()))?;
        let mut broker =
            Broker { child, binary: binary.to_path_buf(), bootstrap: format!("127.0.0.1:{port}"), url, log, _dir: dir };
        let address: SocketAddr = broker.bootstrap.parse().unwrap();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = broker.child.try_wait() {
                return Err(format!("tansu exited with {status}\n{}", broker.log_tail()));
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(broker);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "tansu did not accept connections within {START_TIMEOUT:?}\n{}",
                    broker.log_tail()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The end of the broker's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = fs::File::open(&self.log) {
            let _ = file.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!("--- tansu log ({}) ---\n{tail}", self.log.display())
    }

    /// Creates `topic` with `partitions` partitions (`tansu topic create`).
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let output = Command::new(&self.binary)
                .args(["topic", "create", topic, "--partitions", &partitions.to_string(), "--broker", &self.url])
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|error| panic!("cannot run {}: {error}", self.binary.display()));
            // A retry after an attempt that failed late may find the topic made by that attempt.
            let exists = String::from_utf8_lossy(&output.stderr).contains("already exists");
            if output.status.success() || (attempt > 1 && exists) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "tansu topic create {topic} failed ({})\n{}\n{}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                self.log_tail()
            );
            thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // The broker may have died already; either way it is gone afterwards.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
