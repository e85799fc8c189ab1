//! The server's websockets that stream out: `/logs/out` and `/events/out` (subprotocol
//! `prefect`: an auth message, then a filter message, then one `{"type":"log","log":{…}}` or
//! `{"type":"event","event":{…}}` message per new item).
//!
//! Both are best effort: the server drops items for a subscriber that falls behind, and a
//! server without PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED and
//! PREFECT_SERVER_LOGS_STREAM_PUBLISHING_ENABLED accepts the log socket but never sends a
//! record. So they only lower latency: a poller ([`crate::logs::LogPoller`],
//! [`crate::events::follow_events`]) stays the source of truth. `/events/out` also backfills
//! the filter's recent past (at most 15 minutes) before it goes live.

use std::io::ErrorKind;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::HandshakeError;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use crate::client::Client;
use crate::config::Settings;
use crate::error::{Error, Result};

/// How long a read waits before handing control back (to notice a new filter or a stop).
const READ_TICK: Duration = Duration::from_millis(500);
/// Connect and handshake timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a socket streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// `/logs/out`: log records (a `LogFilter`).
    Logs,
    /// `/events/out`: events (an `EventFilter`), after a backfill of the filter's recent past.
    Events,
}

impl Topic {
    /// The socket's path under the API URL (`logs/out`).
    pub fn path(self) -> &'static str {
        match self {
            Topic::Logs => "logs/out",
            Topic::Events => "events/out",
        }
    }

    /// The `type` of an item message, and the key that holds the item.
    fn item(self) -> &'static str {
        match self {
            Topic::Logs => "log",
            Topic::Events => "event",
        }
    }

    fn filter_message(self, filter: &Value) -> Value {
        match self {
            Topic::Logs => json!({ "type": "filter", "filter": filter }),
            Topic::Events => json!({ "type": "filter", "filter": filter, "backfill": true }),
        }
    }
}

/// The websocket URL of `/logs/out` for an API URL (`http` → `ws`, `https` → `wss`).
///
/// ```
/// assert_eq!(
///     pf_common::logstream::socket_url("http://127.0.0.1:4200/api/"),
///     "ws://127.0.0.1:4200/api/logs/out"
/// );
/// ```
pub fn socket_url(api_url: &str) -> String {
    topic_url(api_url, Topic::Logs)
}

/// The websocket URL of a topic for an API URL.
pub fn topic_url(api_url: &str, topic: Topic) -> String {
    let url = api_url.trim_end_matches('/');
    let url = if let Some(rest) = url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        url.to_string()
    };
    format!("{url}/{}", topic.path())
}

/// Whether pf can open the log stream with these settings: over `https`, custom TLS settings
/// (a CA file, or skipping verification) are only honoured by the HTTP client, so then pf
/// polls instead.
pub fn supported(settings: &Settings) -> bool {
    settings.api_url.starts_with("http://")
        || !(settings.tls_insecure || settings.ssl_cert_file.is_some())
}

/// One open `/logs/out` or `/events/out` subscription.
pub struct LogSocket {
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    topic: Topic,
}

impl std::fmt::Debug for LogSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSocket").finish_non_exhaustive()
    }
}

/// Why a connection attempt failed.
#[derive(Debug)]
pub enum ConnectError {
    /// Worth retrying later: the server is down or the connection broke.
    Transient(String),
    /// The server will not stream to us (no such endpoint, auth refused): poll instead.
    Refused(String),
}

impl LogSocket {
    /// Connect, authenticate and subscribe with a `LogFilter` (the `logs` part of a
    /// `/logs/filter` body; `text` is not applied by the stream).
    pub fn connect(
        settings: &Settings,
        filter: &Value,
    ) -> std::result::Result<LogSocket, ConnectError> {
        Self::connect_topic(settings, Topic::Logs, filter)
    }

    /// Connect, authenticate and subscribe to `topic` with its filter.
    pub fn connect_topic(
        settings: &Settings,
        topic: Topic,
        filter: &Value,
    ) -> std::result::Result<LogSocket, ConnectError> {
        let url = topic_url(&settings.api_url, topic);
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| ConnectError::Refused(format!("{url}: {e}")))?;
        let headers = request.headers_mut();
        headers.insert(
            "Sec-WebSocket-Protocol",
            "prefect".parse().expect("valid header"),
        );
        headers.insert(
            "User-Agent",
            crate::client::USER_AGENT.parse().expect("valid header"),
        );
        for (name, value) in &settings.custom_headers {
            if let (Ok(name), Ok(value)) = (
                tungstenite::http::HeaderName::from_bytes(name.as_bytes()),
                tungstenite::http::HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
        let uri = request.uri().clone();
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_string();
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("wss") {
                443
            } else {
                80
            });
        let transient = |e: &dyn std::fmt::Display| ConnectError::Transient(format!("{url}: {e}"));
        let addrs = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| transient(&e))?;
        let mut last_error = None;
        let mut stream = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let stream = stream.ok_or_else(|| match last_error {
            Some(e) => transient(&e),
            None => transient(&"no address"),
        })?;
        stream
            .set_read_timeout(Some(CONNECT_TIMEOUT))
            .map_err(|e| transient(&e))?;
        stream
            .set_write_timeout(Some(CONNECT_TIMEOUT))
            .map_err(|e| transient(&e))?;
        stream.set_nodelay(true).map_err(|e| transient(&e))?;
        let (mut socket, _) = match tungstenite::client_tls_with_config(request, stream, None, None)
        {
            Ok(ok) => ok,
            Err(HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                return Err(ConnectError::Refused(format!(
                    "{url}: the server answered {} instead of a websocket",
                    response.status()
                )));
            }
            Err(HandshakeError::Failure(e)) => return Err(transient(&e)),
            Err(HandshakeError::Interrupted(_)) => return Err(transient(&"handshake timed out")),
        };
        let token = settings
            .api_key
            .as_ref()
            .or(settings.auth_string.as_ref())
            .map(|s| s.expose().to_string());
        let send = |socket: &mut WebSocket<_>, value: Value| {
            socket
                .send(Message::text(value.to_string()))
                .map_err(|e| transient(&e))
        };
        send(&mut socket, json!({ "type": "auth", "token": token }))?;
        loop {
            match socket.read() {
                Ok(Message::Text(text)) => {
                    let answer: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                    if answer.get("type").and_then(Value::as_str) == Some("auth_success") {
                        break;
                    }
                    return Err(ConnectError::Refused(format!(
                        "{url}: authentication answer {answer}"
                    )));
                }
                Ok(Message::Close(frame)) => {
                    let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                    return Err(ConnectError::Refused(format!(
                        "{url}: closed during authentication: {reason}"
                    )));
                }
                Ok(_) => continue,
                Err(e) => return Err(transient(&e)),
            }
        }
        send(&mut socket, topic.filter_message(filter))?;
        let tcp = match socket.get_mut() {
            MaybeTlsStream::Plain(s) => s,
            MaybeTlsStream::Rustls(s) => s.get_mut(),
            _ => return Err(ConnectError::Refused(format!("{url}: unsupported stream"))),
        };
        tcp.set_read_timeout(Some(READ_TICK))
            .map_err(|e| transient(&e))?;
        Ok(LogSocket { socket, topic })
    }

    /// The next record (log or event), or None when none came within a short tick.
    pub fn next_record(&mut self) -> Result<Option<Value>> {
        loop {
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    let message: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                    let item = self.topic.item();
                    if message.get("type").and_then(Value::as_str) == Some(item)
                        && let Some(Value::Object(_)) = message.get(item)
                    {
                        return Ok(message.get(item).cloned());
                    }
                }
                Ok(Message::Close(_)) => {
                    return Err(Error::Network {
                        message: format!("the {} stream was closed", self.topic.item()),
                        hint: None,
                    });
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return Ok(None);
                }
                Err(e) => {
                    return Err(Error::Network {
                        message: format!("the {} stream broke: {e}", self.topic.item()),
                        hint: None,
                    });
                }
            }
        }
    }
}

/// What the background stream reports.
#[derive(Debug)]
pub enum StreamEvent {
    /// Subscribed (again): records flow from now on.
    Connected,
    /// A new record.
    Record(Value),
    /// The connection was lost; it is being retried.
    Lost(String),
    /// The server will not stream: stop expecting records from it.
    Unavailable(String),
}

/// A `/logs/out` or `/events/out` subscription kept open by a background thread,
/// reconnecting with backoff, whose filter can be changed (e.g. when another flow run is
/// followed).
#[derive(Debug)]
pub struct LiveLogs {
    filter: Arc<Mutex<Option<Value>>>,
    generation: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

/// The same machinery for any topic (`/events/out` too).
pub type LiveStream = LiveLogs;

impl LiveLogs {
    /// Start the `/logs/out` thread. `deliver` gets every event and returns false when nobody
    /// listens any more (the thread then ends). Nothing connects until [`LiveLogs::set_filter`].
    pub fn start(
        settings: Settings,
        deliver: impl Fn(StreamEvent) -> bool + Send + 'static,
    ) -> LiveLogs {
        Self::start_topic(settings, Topic::Logs, deliver)
    }

    /// Start the thread of a topic.
    pub fn start_topic(
        settings: Settings,
        topic: Topic,
        deliver: impl Fn(StreamEvent) -> bool + Send + 'static,
    ) -> LiveLogs {
        let live = LiveLogs {
            filter: Arc::new(Mutex::new(None)),
            generation: Arc::new(AtomicU64::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (filter, generation, stop) = (
            live.filter.clone(),
            live.generation.clone(),
            live.stop.clone(),
        );
        std::thread::spawn(move || {
            run_stream(&settings, topic, &filter, &generation, &stop, &deliver)
        });
        live
    }

    /// Subscribe with this filter (reconnecting if subscribed with another one).
    pub fn set_filter(&self, filter: Value) {
        *self.filter.lock().expect("filter lock") = Some(filter);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Use this filter from the next reconnection on, without reconnecting now (an events
    /// cursor: a reconnection backfills from the last event seen).
    pub fn update_filter(&self, filter: Value) {
        *self.filter.lock().expect("filter lock") = Some(filter);
    }
}

impl Drop for LiveLogs {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn run_stream(
    settings: &Settings,
    topic: Topic,
    filter: &Mutex<Option<Value>>,
    generation: &AtomicU64,
    stop: &AtomicBool,
    deliver: &dyn Fn(StreamEvent) -> bool,
) {
    let mut failures: u32 = 0;
    let mut connected_once = false;
    let mut retry_at = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let current_generation = generation.load(Ordering::SeqCst);
        let current = filter.lock().expect("filter lock").clone();
        let Some(current) = current.filter(|_| Instant::now() >= retry_at) else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        let mut socket = match LogSocket::connect_topic(settings, topic, &current) {
            Ok(socket) => socket,
            Err(ConnectError::Refused(why)) => {
                deliver(StreamEvent::Unavailable(why));
                return;
            }
            Err(ConnectError::Transient(why)) => {
                if !connected_once && failures >= 2 {
                    // Never worked: the socket is not for us (a proxy, a firewall); poll.
                    deliver(StreamEvent::Unavailable(why));
                    return;
                }
                if failures == 0 && !deliver(StreamEvent::Lost(why)) {
                    return;
                }
                retry_at = Instant::now() + reconnect_delay(failures);
                failures += 1;
                continue;
            }
        };
        connected_once = true;
        failures = 0;
        if !deliver(StreamEvent::Connected) {
            return;
        }
        loop {
            if stop.load(Ordering::SeqCst)
                || generation.load(Ordering::SeqCst) != current_generation
            {
                break;
            }
            match socket.next_record() {
                Ok(Some(record)) => {
                    if !deliver(StreamEvent::Record(record)) {
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    if !deliver(StreamEvent::Lost(e.to_string())) {
                        return;
                    }
                    retry_at = Instant::now() + reconnect_delay(0);
                    failures = 1;
                    break;
                }
            }
        }
    }
}

/// Backoff between reconnection attempts: 0.5 s doubling to 8 s, with jitter.
fn reconnect_delay(failures: u32) -> Duration {
    crate::client::backoff_delay(failures, Duration::from_secs(8))
}

/// What following logs does without the `/logs/out` stream, and why: older servers have none.
pub fn polling_notice(client: &Client, why: &str) -> String {
    let server = crate::server::info(client);
    if server.has(crate::server::LOG_STREAM) {
        format!("the server does not stream logs ({why}); polling for them instead")
    } else {
        format!(
            "{} has no log stream (/logs/out arrived in Prefect {}); polling for logs instead",
            server.describe(),
            crate::server::LOG_STREAM
        )
    }
}
