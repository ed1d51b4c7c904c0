//! Interop suite: real third-party clients talk to a real server.
//!
//! Each test starts the server through the harness and runs one Python program from
//! `tests/interop/` against its URL: the official OpenLineage client over HTTP, grpcio over gRPC
//! (with health and reflection), and the `gql` GraphQL client. The programs come with their own
//! pinned dependencies (`tests/interop/requirements.txt`), installed once into
//! `target/interop-venv`; `tests/interop/README.md` says what each one proves.
//!
//! These tests need `python3` (3.10 or newer, with `venv`) and, the first time, PyPI. A missing
//! Python fails the tests rather than skipping them, so CI cannot pass without running them.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::support::start_server;

/// A script that has not finished by then is killed; each normally takes a few seconds.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);
/// Creating the venv and installing the requirements from PyPI.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(900);
/// A venv lock file older than this was left by a process that died while installing.
const STALE_LOCK_AGE: Duration = Duration::from_secs(20 * 60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openlineage_python_client_over_http() {
    run_interop_script("ol_client_http.py", |_| Vec::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openlineage_python_client_with_tokens() {
    run_interop_script("ol_client_auth.py", |_| Vec::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_client_ingest_lineage_health_reflection() {
    run_interop_script("grpc_client.py", |work_dir| {
        vec![
            "--proto-dir".into(),
            repo_root().join("proto").into_os_string(),
            "--stubs-dir".into(),
            work_dir.join("stubs").into_os_string(),
        ]
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gql_client_queries() {
    run_interop_script("graphql_client.py", |_| Vec::new()).await;
}

/// Starts a server, runs `tests/interop/<script> --url <server> <extra args>`, shuts the server
/// down and fails with the script's output unless it exited with status 0.
async fn run_interop_script(script: &'static str, extra_args: impl FnOnce(&Path) -> Vec<OsString> + Send + 'static) {
    let python = tokio::task::spawn_blocking(interop_python).await.expect("preparing the interop venv panicked");
    let python = match python {
        Ok(python) => python,
        Err(message) => panic!("interop venv: {message}"),
    };

    let server = start_server().await;
    let url = server.base_url.clone();
    let run = tokio::task::spawn_blocking(move || {
        let work_dir = tempfile::tempdir().expect("create a work directory for the script");
        let mut command = Command::new(&python);
        command
            .arg(interop_dir().join(script))
            .arg("--url")
            .arg(&url)
            .args(extra_args(work_dir.path()))
            // The OpenLineage client reads openlineage.yml and git metadata from its working
            // directory: an empty one keeps the events independent of where the tests run.
            .current_dir(work_dir.path());
        script_environment(&mut command);
        let output = run_with_timeout(command, SCRIPT_TIMEOUT);
        drop(work_dir);
        output
    })
    .await
    .expect("running the interop script panicked");
    server.shutdown().await;

    match run {
        Ok(output) if output.status.success() => {
            // Shown with --nocapture: the per-check lines and the closing count.
            print!("{}", output.stdout);
        }
        Ok(output) => panic!(
            "interop script {script} failed ({status})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            status = output.status,
            stdout = output.stdout,
            stderr = output.stderr,
        ),
        Err(message) => panic!("interop script {script}: {message}"),
    }
}

pub(crate) fn script_environment(command: &mut Command) {
    // Configuration a developer may have exported for their own OpenLineage client must not
    // reach the one under test.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().to_ascii_uppercase().starts_with("OPENLINEAGE") {
            command.env_remove(name);
        }
    }
    command
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        // The server is on loopback: never route to it through a proxy.
        .env("NO_PROXY", "127.0.0.1,localhost,::1")
        .env("no_proxy", "127.0.0.1,localhost,::1");
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn interop_dir() -> PathBuf {
    repo_root().join("tests").join("interop")
}

fn venv_dir() -> PathBuf {
    repo_root().join("target").join("interop-venv")
}

fn venv_python() -> PathBuf {
    if cfg!(windows) { venv_dir().join("Scripts").join("python.exe") } else { venv_dir().join("bin").join("python") }
}

/// The venv's Python, with the requirements installed. Done once per test process (the other
/// tests wait for the first one) and, through a lock file, once across processes.
pub(crate) fn interop_python() -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON.get_or_init(prepare_venv).clone()
}

fn prepare_venv() -> Result<PathBuf, String> {
    let requirements_path = interop_dir().join("requirements.txt");
    let requirements = fs::read_to_string(&requirements_path)
        .map_err(|error| format!("cannot read {}: {error}", requirements_path.display()))?;
    let marker = venv_dir().join(".tributary-requirements.txt");
    let installed = || venv_python().is_file() && fs::read_to_string(&marker).is_ok_and(|text| text == requirements);
    if installed() {
        return Ok(venv_python());
    }

    let system_python = system_python()?;
    fs::create_dir_all(repo_root().join("target")).map_err(|error| format!("cannot create target/: {error}"))?;
    let _lock = LockFile::acquire(repo_root().join("target").join("interop-venv.lock"))?;
    if installed() {
        // Another process installed it while this one waited for the lock.
        return Ok(venv_python());
    }

    let mut create = Command::new(&system_python);
    create.args(["-m", "venv", "--clear"]).arg(venv_dir());
    run_step("python3 -m venv", create)?;

    let mut install = Command::new(venv_python());
    install.args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-r"]).arg(&requirements_path);
    run_step("pip install -r tests/interop/requirements.txt", install)?;

    fs::write(&marker, &requirements).map_err(|error| format!("cannot write {}: {error}", marker.display()))?;
    Ok(venv_python())
}

/// `python3` from PATH, checked to be 3.10 or newer with the venv module.
fn system_python() -> Result<PathBuf, String> {
    let python = PathBuf::from("python3");
    let check = "import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, 10) else 3)";
    let output = Command::new(&python).args(["-c", check]).output().map_err(|error| {
        if error.kind() == io::ErrorKind::NotFound {
            "python3 is not on PATH; the interop tests need Python 3.10+ with venv \
                 (Debian: apt-get install python3 python3-venv)"
                .to_string()
        } else {
            format!("cannot run python3: {error}")
        }
    })?;
    match output.status.code() {
        Some(0) => Ok(python),
        Some(3) => Err("python3 is older than 3.10; the interop tests need Python 3.10+".into()),
        _ => Err(format!(
            "python3 lacks the venv/ensurepip modules (Debian: apt-get install python3-venv): {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

fn run_step(what: &str, command: Command) -> Result<(), String> {
    let output = run_with_timeout(command, INSTALL_TIMEOUT).map_err(|error| format!("{what}: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            output.status, output.stdout, output.stderr
        ))
    }
}

pub(crate) struct ScriptOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a command to completion, killing it after `timeout`. Both pipes are drained on their own
/// threads so that a chatty child cannot block on a full pipe.
pub(crate) fn run_with_timeout(mut command: Command, timeout: Duration) -> Result<ScriptOutput, String> {
    let program = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot start {program}: {error}"))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                kill(&mut child);
                let stdout = stdout.join().unwrap_or_default();
                let stderr = stderr.join().unwrap_or_default();
                return Err(format!(
                    "{program} did not finish within {timeout:?} and was killed\n\
                     --- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
                ));
            }
            Err(error) => {
                kill(&mut child);
                return Err(format!("waiting for {program}: {error}"));
            }
        }
    };
    Ok(ScriptOutput { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() })
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            // A read error leaves what was read so far, which is all a failure report needs.
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn kill(child: &mut Child) {
    // The child may have exited in the meantime; either way it is gone afterwards.
    let _ = child.kill();
    let _ = child.wait();
}

/// A lock file created with `create_new`, removed on drop. Works across processes without
/// platform file locks; a file left by a crashed process is taken over once it is stale.
struct LockFile {
    path: PathBuf,
}

impl LockFile {
    fn acquire(path: PathBuf) -> Result<LockFile, String> {
        let deadline = Instant::now() + INSTALL_TIMEOUT;
        loop {
            match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => {
                    let _ = fs::write(&path, std::process::id().to_string());
                    return Ok(LockFile { path });
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                    let age = fs::metadata(&path)
                        .and_then(|metadata| metadata.modified())
                        .ok()
                        .and_then(|modified| SystemTime::now().duration_since(modified).ok());
                    if age.is_some_and(|age| age > STALE_LOCK_AGE) {
                        let _ = fs::remove_file(&path);
                        continue;
                    }
                    if Instant::now() > deadline {
                        return Err(format!(
                            "another process has held {} for over {INSTALL_TIMEOUT:?}",
                            path.display()
                        ));
                    }
                    thread::sleep(Duration::from_millis(250));
                }
                Err(error) => return Err(format!("cannot create {}: {error}", path.display())),
            }
        }
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
