//! The command itself: started directly (or through `sh -c` with --shell) in its own process
//! group, stdin inherited, stdout and stderr read by two threads that pass every byte through
//! unchanged and queue the lines for the run's logs; signals to pf-exec go on to the command.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use pf_common::logship::{LineSplitter, LogLines};

/// How many of the last stderr lines a Failed state's message quotes.
pub const TAIL_LINES: usize = 5;

/// What one attempt's threads report to the run's thread.
#[derive(Debug)]
pub enum Event {
    /// The command exited.
    Exited(ExitStatus),
    /// One of its output streams was closed (after its last line was queued).
    Eof,
}

/// How to start the command.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Program and arguments (with --shell: `sh -c SCRIPT`).
    pub argv: Vec<String>,
    /// Extra environment (PF_PARAM_*, PREFECT__FLOW_RUN_ID).
    pub env: Vec<(String, String)>,
    /// Pass output through to pf-exec's stdout/stderr.
    pub pass_through: bool,
    /// Queue output lines for the run's logs.
    pub log: bool,
    /// Level of stderr lines (stdout lines are INFO).
    pub stderr_level: u64,
    /// Put the command in a process group of its own (off when stdin is a terminal, so that an
    /// interactive command can still read it).
    pub own_group: bool,
}

/// A started command.
#[derive(Debug)]
pub struct Child {
    /// Process id (and process group id when it has its own group).
    pub pid: i32,
    own_group: bool,
    /// The last stderr lines (for a Failed state's message).
    pub stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

/// Why a command could not be started, as a shell would say it (126: not executable, 127: not
/// found), so that pf-exec can exit as a shell would.
#[derive(Debug)]
pub struct SpawnError {
    /// 126 or 127.
    pub code: i32,
    /// `cannot run 'x': No such file or directory`.
    pub message: String,
}

/// Start the command; its threads send [`Event`]s on `events` and its lines go into `logs`.
pub fn spawn(
    spec: &Spec,
    logs: &LogLines,
    events: &Sender<Event>,
) -> std::result::Result<Child, SpawnError> {
    let mut command = Command::new(&spec.argv[0]);
    command
        .args(&spec.argv[1..])
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if spec.own_group {
        command.process_group(0);
    }
    let mut process = command.spawn().map_err(|e| SpawnError {
        code: if e.kind() == std::io::ErrorKind::NotFound {
            127
        } else {
            126
        },
        message: format!("cannot run '{}': {e}", spec.argv[0]),
    })?;
    let pid = process.id() as i32;
    let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
    let streams: [(Box<dyn Read + Send>, bool); 2] = [
        (Box::new(process.stdout.take().expect("piped")), false),
        (Box::new(process.stderr.take().expect("piped")), true),
    ];
    for (stream, is_stderr) in streams {
        let level = if is_stderr { spec.stderr_level } else { 20 };
        let lines = Lines {
            splitter: LineSplitter::default(),
            level,
            logs: spec.log.then(|| logs.clone()),
            tail: is_stderr.then(|| stderr_tail.clone()),
        };
        let events = events.clone();
        let pass_through = spec.pass_through;
        std::thread::spawn(move || {
            copy_stream(stream, is_stderr, pass_through, lines);
            let _ = events.send(Event::Eof);
        });
    }
    let events = events.clone();
    std::thread::spawn(move || {
        if let Ok(status) = process.wait() {
            let _ = events.send(Event::Exited(status));
        }
    });
    GROUPS.register(pid, spec.own_group);
    Ok(Child {
        pid,
        own_group: spec.own_group,
        stderr_tail,
    })
}

/// Where one stream's lines go: the run's logs (unless --no-logs) and, for stderr, the tail a
/// Failed state quotes.
struct Lines {
    splitter: LineSplitter,
    level: u64,
    logs: Option<LogLines>,
    tail: Option<Arc<Mutex<VecDeque<String>>>>,
}

impl Lines {
    fn feed(&mut self, bytes: &[u8]) {
        let (level, logs, tail) = (self.level, &self.logs, &self.tail);
        self.splitter
            .feed(bytes, |line| Self::emit(level, logs, tail, line));
    }

    fn finish(&mut self) {
        let (level, logs, tail) = (self.level, &self.logs, &self.tail);
        self.splitter
            .finish(|line| Self::emit(level, logs, tail, line));
    }

    fn emit(
        level: u64,
        logs: &Option<LogLines>,
        tail: &Option<Arc<Mutex<VecDeque<String>>>>,
        line: String,
    ) {
        if let Some(tail) = tail {
            let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.chars().take(500).collect());
        }
        if let Some(logs) = logs {
            logs.push(level, &line);
        }
    }
}

/// Read a stream to its end: each chunk goes to our own stdout/stderr as it was read (so
/// progress output without newlines shows at once), then into the line splitter. A closed
/// stdout of ours (`| head`) stops the pass-through, not the reading.
fn copy_stream(
    mut stream: Box<dyn Read + Send>,
    is_stderr: bool,
    mut pass_through: bool,
    mut lines: Lines,
) {
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if pass_through {
            let written = if is_stderr {
                let mut err = std::io::stderr().lock();
                err.write_all(&chunk[..n]).and_then(|()| err.flush())
            } else {
                let mut out = std::io::stdout().lock();
                out.write_all(&chunk[..n]).and_then(|()| out.flush())
            };
            pass_through = written.is_ok();
        }
        if lines.logs.is_some() || lines.tail.is_some() {
            lines.feed(&chunk[..n]);
        }
    }
    lines.finish();
}

impl Child {
    /// Send a signal to the command (its whole process group when it has one).
    pub fn signal(&self, sig: Signal) {
        if self.own_group {
            let _ = signal::killpg(Pid::from_raw(self.pid), sig);
        } else {
            let _ = signal::kill(Pid::from_raw(self.pid), sig);
        }
    }

    /// The command has exited: signals no longer go to its group.
    pub fn forget(&self) {
        GROUPS.unregister(self.pid);
    }

    /// Stop the command: SIGTERM to its group, and SIGKILL after `grace` if anything of it is
    /// still there. Returns at once (a thread sends the SIGKILL).
    pub fn terminate(&self, grace: Duration) {
        self.signal(Signal::SIGTERM);
        let (pid, own_group) = (self.pid, self.own_group);
        std::thread::spawn(move || {
            std::thread::sleep(grace);
            // Only while it is known to run: a pid is reused once its process is reaped.
            if GROUPS.contains(pid) {
                let target = Pid::from_raw(pid);
                let _ = if own_group {
                    signal::killpg(target, Signal::SIGKILL)
                } else {
                    signal::kill(target, Signal::SIGKILL)
                };
            }
        });
    }
}

/// How a command ended, as a shell reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Exit status.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl Ending {
    /// From a wait status.
    pub fn of(status: ExitStatus) -> Ending {
        match (status.code(), status.signal()) {
            (Some(code), _) => Ending::Code(code),
            (None, Some(sig)) => Ending::Signal(sig),
            (None, None) => Ending::Code(1),
        }
    }

    /// The exit code a shell would give: the status, or 128 + the signal.
    pub fn exit_code(self) -> i32 {
        match self {
            Ending::Code(code) => code,
            Ending::Signal(sig) => 128 + sig,
        }
    }
}

/// `SIGKILL`, or the number when it has no name.
pub fn signal_name(sig: i32) -> String {
    Signal::try_from(sig).map_or_else(|_| format!("signal {sig}"), |s| s.as_str().to_string())
}

/// Running commands (pid, whether it leads its own process group), for the signal thread.
#[derive(Debug, Default)]
struct Groups(Mutex<Vec<(i32, bool)>>);

impl Groups {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(i32, bool)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn register(&self, pid: i32, own_group: bool) {
        self.lock().push((pid, own_group));
    }
    fn unregister(&self, pid: i32) {
        self.lock().retain(|(p, _)| *p != pid);
    }
    fn contains(&self, pid: i32) -> bool {
        self.lock().iter().any(|(p, _)| *p == pid)
    }
}

static GROUPS: Groups = Groups(Mutex::new(Vec::new()));

/// The first SIGINT/SIGTERM/SIGHUP pf-exec received (0: none).
static INTERRUPTED: AtomicI32 = AtomicI32::new(0);

/// The signal that interrupted pf-exec, if one did.
pub fn interrupted() -> Option<i32> {
    match INTERRUPTED.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}

/// Catch SIGINT, SIGTERM and SIGHUP: a thread records the first and forwards each to every
/// running command (its process group). The commands themselves start with the default
/// handling (a caught signal is reset by exec).
pub fn handle_signals() {
    let Ok(mut signals) = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ]) else {
        return;
    };
    std::thread::spawn(move || {
        for raw in signals.forever() {
            let Ok(sig) = Signal::try_from(raw) else {
                continue;
            };
            let _ = INTERRUPTED.compare_exchange(0, raw, Ordering::SeqCst, Ordering::SeqCst);
            for (pid, own_group) in GROUPS.lock().iter() {
                let target = Pid::from_raw(*pid);
                if *own_group {
                    let _ = signal::killpg(target, sig);
                } else if sig != Signal::SIGINT {
                    // A terminal's Ctrl-C reached the command already (same process group).
                    let _ = signal::kill(target, sig);
                }
            }
        }
    });
}
