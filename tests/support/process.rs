//! The operator binary (or any program) as a child process of a test or benchmark: its stdout and stderr captured
//! line by line (in memory, and appended to a log file when asked), waiting for a log line, SIGKILL, SIGTERM with a
//! bounded wait, and a kill when the fixture is dropped.
//!
//! Self-contained (std and tokio only): the integration tests reach it as `support::process`, the scale benchmark
//! includes the file with `#[path]`.
// Each test binary and the benchmark use only part of it.
#![allow(dead_code)]

use std::{
    ffi::OsStr,
    fs::File,
    io::{self, BufRead, BufReader, Read, Write},
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::Duration,
};

/// How often the async waits below look again.
const POLL: Duration = Duration::from_millis(50);

/// A free TCP port on the loopback interface (e.g. for `--metrics-bind-address`).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local address").port()
}

/// `binary args…` with the caller's environment plus `env`.
pub fn command<A, K, V>(binary: impl AsRef<OsStr>, args: A, env: &[(K, V)]) -> Command
where
    A: IntoIterator,
    A::Item: AsRef<OsStr>,
    K: AsRef<OsStr>,
    V: AsRef<OsStr>,
{
    let mut cmd = Command::new(binary);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// A running child process with captured output. Dropping it kills the process.
pub struct OperatorProcess {
    child: Child,
    logs: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl OperatorProcess {
    /// Starts `binary args…` with the caller's environment plus `env`.
    pub fn spawn<A, K, V>(binary: impl AsRef<OsStr>, args: A, env: &[(K, V)]) -> io::Result<Self>
    where
        A: IntoIterator,
        A::Item: AsRef<OsStr>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        Self::from_command(command(binary, args, env), None)
    }

    /// Starts a prepared command (e.g. with a cleared environment). Its stdout and stderr are captured (see
    /// [`Self::logs`]) and, with `log_file`, also appended to that file line by line.
    pub fn from_command(mut cmd: Command, log_file: Option<&Path>) -> io::Result<Self> {
        let file = match log_file {
            Some(path) => Some(Arc::new(Mutex::new(
                File::options().create(true).append(true).open(path)?,
            ))),
            None => None,
        };
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let logs = Arc::new(Mutex::new(String::new()));
        let pipes: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("piped stdout")),
            Box::new(child.stderr.take().expect("piped stderr")),
        ];
        let readers = pipes
            .into_iter()
            .map(|pipe| {
                let (logs, file) = (logs.clone(), file.clone());
                std::thread::spawn(move || {
                    for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                        if let Some(f) = &file {
                            let _ = writeln!(f.lock().unwrap(), "{line}");
                        }
                        let mut l = logs.lock().unwrap();
                        l.push_str(&line);
                        l.push('\n');
                    }
                })
            })
            .collect();
        Ok(Self {
            child,
            logs,
            readers,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// The last `n` lines of [`Self::logs`].
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.logs();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The exit status if the process has exited (without waiting).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("query the child process")
    }

    pub fn is_running(&mut self) -> bool {
        self.exited().is_none()
    }

    /// Panics, with the log tail, if the process exited on its own.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.exited() {
            panic!(
                "operator exited by itself ({status}); log tail:\n{}",
                self.log_tail(30)
            );
        }
    }

    /// Waits until the process logged `needle`; panics, with the logs, if it exits first or `timeout` passes.
    pub async fn wait_log(&mut self, needle: &str, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.logs().contains(needle) {
            if let Some(status) = self.exited() {
                panic!(
                    "operator exited ({status}) before logging {needle:?}:\n{}",
                    self.logs()
                );
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "operator did not log {needle:?} within {timeout:?}:\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGKILL, no chance to clean up; returns once the process is gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as the kubelet sends it, then waits up to `timeout` for the process to exit on its own. Returns
    /// its exit status (once its output is read to the end), or None if it is still running.
    pub async fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.exited().is_none() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.pid().to_string()])
                .status();
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.exited() {
                break status;
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(POLL).await;
        };
        self.drain().await;
        Some(status)
    }

    /// After the process exited: waits (up to 2s) until its output is read to the end.
    pub async fn drain(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while !self.readers.iter().all(JoinHandle::is_finished)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill9();
        }
    }
}
