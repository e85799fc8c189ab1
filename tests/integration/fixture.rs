//! A small scripted HTTP server for what a real Prefect server won't do on demand: injected
//! 429/503 bursts, dropped connections, and Prefect Cloud-only endpoints. It records every
//! request it sees, and asserts in `Drop` that it was hit at least once (like xh's fixtures).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the fixture received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path with query, e.g. `/api/flows/filter`.
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub at: Instant,
}

impl Recorded {
    /// A header's value (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// What the fixture answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A response: status, extra headers, body.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Close the connection without answering (a dropped connection).
    Drop,
    /// Write these bytes as the whole answer (status line and headers included), then close:
    /// cut bodies, odd encodings, non-UTF-8 pages.
    Raw(Vec<u8>),
}

impl Reply {
    /// A JSON response.
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply::Respond {
            status,
            headers: vec![],
            body: body.to_string(),
        }
    }

    /// A response with one extra header.
    pub fn with_header(self, name: &str, value: &str) -> Reply {
        match self {
            Reply::Respond {
                status,
                mut headers,
                body,
            } => {
                headers.push((name.to_string(), value.to_string()));
                Reply::Respond {
                    status,
                    headers,
                    body,
                }
            }
            other => other,
        }
    }
}

/// Send a recorded request on to a real server (`base` like `http://127.0.0.1:4200`) and hand
/// back its answer: a fault-injecting proxy in front of a real Prefect server.
pub fn forward(request: &Recorded, base: &str) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let url = format!("{base}{}", request.path);
    let content_type = "application/json";
    let result = match request.method.as_str() {
        "GET" => agent.get(&url).call(),
        "DELETE" => agent.delete(&url).call(),
        "POST" => agent
            .post(&url)
            .header("Content-Type", content_type)
            .send(request.body.as_bytes()),
        "PATCH" => agent
            .patch(&url)
            .header("Content-Type", content_type)
            .send(request.body.as_bytes()),
        _ => agent
            .put(&url)
            .header("Content-Type", content_type)
            .send(request.body.as_bytes()),
    };
    match result {
        Ok(mut response) => Reply::Respond {
            status: response.status().as_u16(),
            headers: vec![],
            body: response.body_mut().read_to_string().unwrap_or_default(),
        },
        Err(_) => Reply::Drop,
    }
}

type Handler = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

/// The fixture server; stops when dropped.
pub struct Fixture {
    pub port: u16,
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
    must_be_hit: bool,
}

impl Fixture {
    /// The real server at `api_url` behind a proxy that answers the `/events/out` websocket
    /// upgrade with 403 (as some proxies do): everything else is forwarded.
    pub fn refusing_events_socket(api_url: &str) -> Fixture {
        let upstream = api_url.trim_end_matches("/api").to_string();
        Fixture::start(move |request, _| {
            if request.path.starts_with("/api/events/out") {
                Reply::json(
                    403,
                    serde_json::json!({ "detail": "no websockets through this proxy" }),
                )
            } else {
                forward(request, &upstream)
            }
        })
    }

    /// Start on a free loopback port; `handler(request, index)` decides each answer.
    pub fn start(handler: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) -> Fixture {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let requests = requests.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                // Bounded: the loop ends when the fixture is dropped, or after 10 minutes.
                let deadline = Instant::now() + Duration::from_secs(600);
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let _ = serve(stream, &requests, handler.as_ref());
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            });
        }
        Fixture {
            port,
            url: format!("http://127.0.0.1:{port}/api"),
            requests,
            stop,
            must_be_hit: true,
        }
    }

    /// All requests so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Don't assert in Drop that the fixture was hit.
    pub fn allow_unused(mut self) -> Self {
        self.must_be_hit = false;
        self
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if self.must_be_hit && !std::thread::panicking() {
            assert!(
                !self.requests.lock().unwrap().is_empty(),
                "fixture server on port {} was never hit",
                self.port
            );
        }
    }
}

fn serve(
    stream: TcpStream,
    requests: &Mutex<Vec<Recorded>>,
    handler: &Handler,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let recorded = Recorded {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    };
    let index = {
        let mut all = requests.lock().unwrap();
        all.push(recorded.clone());
        all.len() - 1
    };
    let mut stream = stream;
    match handler(&recorded, index) {
        Reply::Drop => Ok(()),
        Reply::Raw(bytes) => {
            stream.write_all(&bytes)?;
            stream.flush()
        }
        Reply::Respond {
            status,
            headers,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes())?;
            stream.write_all(body.as_bytes())?;
            stream.flush()
        }
    }
}
