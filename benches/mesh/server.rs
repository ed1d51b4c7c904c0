//! The `tributary` binary as a child process, and the numbers read from outside it:
//! resident memory from `/proc`, bytes on disk.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The release binary cargo built for this bench, unless `--bin` names another.
pub fn default_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tributary"))
}

pub struct ServerProcess {
    child: Child,
    /// Kept open so the server never writes into a closed pipe.
    _stdout: std::io::BufReader<ChildStdout>,
    pub base_url: String,
    pub spawned_at: Instant,
    /// From spawn to the `tributary listening on` line (the store is open by then).
    pub listening_after: Duration,
}

impl ServerProcess {
    /// Spawns `tributary serve` on `data_dir` and port 0; returns once it listens.
    pub fn spawn(binary: &Path, data_dir: &Path) -> anyhow::Result<Self> {
        let spawned_at = Instant::now();
        let mut child = Command::new(binary)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("TRIBUTARY_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("spawning {}", binary.display()))?;
        let mut stdout = std::io::BufReader::new(child.stdout.take().context("child stdout")?);
        let mut first_line = String::new();
        stdout.read_line(&mut first_line)?;
        let listening_after = spawned_at.elapsed();
        let Some(url) = first_line.trim().strip_prefix("tributary listening on ") else {
            let _ = child.kill();
            bail!("unexpected first line from the server: `{}`", first_line.trim());
        };
        Ok(Self { base_url: url.to_owned(), child, _stdout: stdout, spawned_at, listening_after })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn memory(&self) -> Memory {
        Memory::of(self.pid())
    }

    /// SIGTERM (graceful: the server drains and flushes), SIGKILL after `grace`.
    /// Returns how long the exit took.
    pub fn stop(mut self, grace: Duration) -> Duration {
        let started = Instant::now();
        let _ = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status();
        while started.elapsed() < grace {
            if let Ok(Some(_)) = self.child.try_wait() {
                return started.elapsed();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!("[mesh] server {} did not stop within {grace:?}; killing it", self.pid());
        let _ = self.child.kill();
        let _ = self.child.wait();
        started.elapsed()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Only reached when a step failed before `stop`: never leave a server behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `VmRSS` and `VmHWM` (peak) of a process, in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    pub rss: u64,
    pub peak: u64,
}

impl Memory {
    pub fn of(pid: u32) -> Self {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map_or(0, |kib| kib * 1024)
        };
        Self { rss: field("VmRSS:"), peak: field("VmHWM:") }
    }
}

/// Apparent size (what the peers' `dir_size` sums) and allocated size of a directory tree.
#[derive(Clone, Copy, Debug, Default)]
pub struct DiskUsage {
    pub apparent: u64,
    pub allocated: u64,
    pub files: u64,
}

pub fn disk_usage(path: &Path) -> DiskUsage {
    use std::os::unix::fs::MetadataExt;
    let mut usage = DiskUsage::default();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                usage.apparent += meta.len();
                usage.allocated += meta.blocks() * 512;
                usage.files += 1;
            }
        }
    }
    usage
}
