//! Issue 15, point 16: a large answer costs about what is streamed, not four times its size,
//! and a huge error body is not read for its one-line message. A real server won't produce a
//! 100 MB answer on demand, so a small server here generates one as it sends it (neither it
//! nor the test ever holds the whole body).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::harness::{Pf, venv_bin};

/// Every generated flow is this many bytes of compact JSON.
const WIDTH: usize = 500;

/// Flow `i` as the compact JSON serde_json would print for it.
fn flow(i: usize, width: usize) -> String {
    let head = format!(
        r#"{{"id":"{i:08}-0000-4000-8000-000000000000","name":"flow-{i}","tags":["big"],"pad":""#
    );
    format!("{head}{}\"}}", "x".repeat(width - head.len() - 2))
}

/// The body `[flow(0),flow(1),…]`, produced as it is read.
struct Generated {
    count: usize,
    width: usize,
    next: usize,
    pending: Vec<u8>,
    at: usize,
}

impl Generated {
    fn new(count: usize, width: usize) -> Generated {
        Generated {
            count,
            width,
            next: 0,
            pending: b"[".to_vec(),
            at: 0,
        }
    }

    fn len(&self) -> usize {
        2 + self.count * self.width + self.count.saturating_sub(1)
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.pending.len() {
            if self.next > self.count {
                return Ok(0);
            }
            self.pending.clear();
            self.at = 0;
            if self.next == self.count {
                self.pending.push(b']');
            } else {
                if self.next > 0 {
                    self.pending.push(b',');
                }
                self.pending
                    .extend_from_slice(flow(self.next, self.width).as_bytes());
            }
            self.next += 1;
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A loopback server answering every request with `status` and a generated body (of `limit`
/// flows when the request body has a `limit`, each `size / count` bytes wide). Counts the body
/// bytes it managed to send. Stops when dropped.
struct BigServer {
    url: String,
    sent: Arc<AtomicU64>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl BigServer {
    fn start(status: u16, size: usize) -> BigServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (counter, stopped) = (sent.clone(), stop.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(600);
            while !stopped.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = answer(stream, status, size, &counter);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        BigServer {
            url: format!("http://127.0.0.1:{port}/api"),
            sent,
            stop,
        }
    }
}

impl Drop for BigServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn answer(stream: TcpStream, status: u16, size: usize, sent: &AtomicU64) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut request = vec![0; length];
    reader.read_exact(&mut request)?;
    let limit = serde_json::from_slice::<serde_json::Value>(&request)
        .ok()
        .and_then(|body| body["limit"].as_u64())
        .map(|l| l as usize);
    let count = limit.unwrap_or(size / (WIDTH + 1)).max(1);
    let body = Generated::new(count, (size / count).max(WIDTH + 1) - 1);
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    let mut body = body;
    let mut buffer = vec![0; 64 << 10];
    loop {
        let n = body.read(&mut buffer)?;
        if n == 0 {
            return stream.flush();
        }
        stream.write_all(&buffer[..n])?;
        sent.fetch_add(n as u64, Ordering::SeqCst);
    }
}

/// What a run measured: exit code, stderr, and the peak resident memory of the pf process.
#[derive(Debug)]
struct Measured {
    code: Option<i32>,
    stderr: String,
    max_rss_mb: u64,
}

/// Run `tool` (its stdout handed to `check` as it comes) under a Python parent that reports
/// the tool's peak RSS (`getrusage(RUSAGE_CHILDREN)` of a parent with that one child) and
/// kills it after 10 minutes.
fn measure(tool: Pf, check: impl FnOnce(&mut dyn Read)) -> Measured {
    let tool = tool.command();
    let mut cmd = Command::new(venv_bin("python"));
    cmd.args([
        "-c",
        "import resource, subprocess, sys\n\
         code = subprocess.run(sys.argv[1:], timeout=600).returncode\n\
         print('max-rss-kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n\
         sys.exit(code if code >= 0 else 128 - code)",
    ])
    .arg(tool.get_program())
    .args(tool.get_args());
    for (key, value) in tool.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut stdout = child.stdout.take().unwrap();
    check(&mut stdout);
    // Whatever `check` left unread, so the tool is never blocked on a full pipe.
    let _ = std::io::copy(&mut stdout, &mut std::io::sink());
    let status = child.wait().unwrap();
    let text = errors.join().unwrap();
    let (stderr, rss) = text
        .rsplit_once("max-rss-kb ")
        .unwrap_or_else(|| panic!("no max RSS reported: {text}"));
    Measured {
        code: status.code(),
        stderr: stderr.to_string(),
        max_rss_mb: rss.trim().parse::<u64>().unwrap() / 1024,
    }
}

/// Whether `actual` is exactly `expected` (both read to their end, in chunks).
fn same_bytes(actual: &mut dyn Read, mut expected: impl Read) -> Result<(), String> {
    let (mut a, mut b) = (vec![0; 64 << 10], vec![0; 64 << 10]);
    let mut offset = 0;
    loop {
        let n = actual.read(&mut a).map_err(|e| e.to_string())?;
        expected
            .read_exact(&mut b[..n])
            .map_err(|_| format!("more output than expected at byte {offset}"))?;
        if a[..n] != b[..n] {
            return Err(format!("output differs in bytes {offset}..{}", offset + n));
        }
        if n == 0 {
            let mut rest = [0u8; 1];
            return match expected.read(&mut rest) {
                Ok(0) => Ok(()),
                _ => Err(format!("output ends early at byte {offset}")),
            };
        }
        offset += n;
    }
}

/// The size of the large answers here: big enough that holding it four times (before: 914 MB
/// peak for a 200 MB list) cannot pass for streaming.
const LARGE: usize = 80 << 20;

#[test]
fn a_large_list_is_printed_whole_as_it_is_parsed() {
    let server = BigServer::start(200, LARGE);
    let count = LARGE / (WIDTH + 1);
    let mut checked = Err("not checked".to_string());
    let run = measure(
        Pf::new("pf-api")
            .args(["GET", "flows/"])
            .env("PREFECT_API_URL", &server.url),
        |out| {
            // Compact JSON in a pipe: exactly the list as sent (serde_json's own rendering),
            // then a newline.
            checked = same_bytes(out, Generated::new(count, WIDTH).chain(&b"\n"[..]));
        },
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    checked.unwrap();
    // Before: about 4.5 times the body (parsed value, text and output together).
    let bound = (LARGE >> 20) as u64 / 2;
    assert!(
        run.max_rss_mb < bound,
        "pf-api held {} MB for a {} MB answer (bound {bound} MB)",
        run.max_rss_mb,
        LARGE >> 20
    );
}

#[test]
fn spooled_answers_parse_whole_for_jq_and_for_pages() {
    // Above the spool threshold (8 MiB), below what makes the test slow.
    let size = 12 << 20;
    let server = BigServer::start(200, size);
    let count = size / (WIDTH + 1);
    // pf-api's --jq sees the whole answer, as before.
    let mut last = String::new();
    let run = measure(
        Pf::new("pf-api")
            .args(["GET", "flows/", "--jq", ".[-1].name, length"])
            .env("PREFECT_API_URL", &server.url),
        |out| {
            out.read_to_string(&mut last).unwrap();
        },
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(last, format!("flow-{}\n{count}\n", count - 1));
    // A page of 200 flows of 60 KB each, through pf-get's pages.
    let mut lines = String::new();
    let run = measure(
        Pf::new("pf-get")
            .args(["flows", "--limit", "200", "--jq", ".name"])
            .env("PREFECT_API_URL", &server.url),
        |out| {
            out.read_to_string(&mut lines).unwrap();
        },
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let expected: Vec<String> = (0..200).map(|i| format!("flow-{i}")).collect();
    assert_eq!(lines.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn a_huge_error_body_is_not_read_for_its_one_line_message() {
    let size = 200 << 20;
    let server = BigServer::start(500, size);
    let mut shown = 0;
    let run = measure(
        Pf::new("pf-api")
            .args(["GET", "flows/"])
            .env("PREFECT_API_URL", &server.url)
            .env("PREFECT_CLIENT_MAX_RETRIES", "0"),
        |out| {
            shown = std::io::copy(out, &mut std::io::sink()).unwrap();
        },
    );
    assert_eq!(run.code, Some(5), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(
        run.stderr
            .starts_with("pf-api: error: server error 500: GET flows/: "),
        "{run:?}"
    );
    // The server's own answer is shown only as far as it was read: its first 64 KiB.
    assert!(shown <= 64 << 10, "{shown} bytes shown");
    let sent = server.sent.load(Ordering::SeqCst);
    assert!(
        sent < 32 << 20,
        "the server sent {sent} of {size} bytes: the client kept reading"
    );
    assert!(run.max_rss_mb < 64, "{run:?}");
}
