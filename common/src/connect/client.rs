//! The thin synchronous HTTP client: auth, headers, CSRF, retries, error mapping, `-v` traces.

use std::cell::RefCell;
use std::io::Write as _;
use std::time::{Duration, Instant};

use serde_json::Value;
use ureq::Agent;

pub use crate::answer::Answer;
use crate::answer::{Body, SPOOL_THRESHOLD};
use crate::config::Settings;
pub use crate::connect::request::{Method, Request, Response};
use crate::error::{Error, Result, summarize_body};

/// The API version header every request carries (what Prefect's Python client sends).
pub const API_VERSION: &str = "0.8.4";

/// `pf/<version>`, the User-Agent of every request.
pub const USER_AGENT: &str = concat!("pf/", env!("CARGO_PKG_VERSION"));

/// The bytes of a body held in memory (error bodies always are); a spooled one gives none.
fn in_memory(body: &Body) -> &[u8] {
    match body {
        Body::Memory(bytes) => bytes,
        Body::Spooled(_) => &[],
    }
}

#[derive(Debug, Clone)]
enum Csrf {
    Unknown,
    Disabled,
    Token { token: String, client: String },
}

/// The Prefect API client. Cheap to use from one thread; create one per tool run.
#[derive(Debug)]
pub struct Client {
    agent: Agent,
    settings: Settings,
    verbose: bool,
    csrf: RefCell<Csrf>,
}

impl Client {
    /// Build a client from resolved settings. `verbose` prints each request on stderr.
    pub fn new(settings: Settings, verbose: bool) -> Result<Client> {
        let mut tls = ureq::tls::TlsConfig::builder().disable_verification(settings.tls_insecure);
        if let Some(path) = &settings.ssl_cert_file {
            let pem = std::fs::read(path).map_err(|e| {
                Error::io(
                    format!("cannot read certificate file {}", path.display()),
                    e,
                )
            })?;
            let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(Error::Config(format!(
                    "no certificates found in {}",
                    path.display()
                )));
            }
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        }
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(USER_AGENT)
            .timeout_global(Some(settings.request_timeout))
            .timeout_connect(Some(settings.request_timeout.min(Duration::from_secs(10))))
            .tls_config(tls.build())
            .build()
            .into();
        Ok(Client {
            agent,
            settings,
            verbose,
            csrf: RefCell::new(Csrf::Unknown),
        })
    }

    /// The settings this client was built with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Whether `-v` tracing is on.
    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// The full URL for an API path (absolute URLs pass through).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}/{}", self.settings.api_url, path.trim_start_matches('/'))
        }
    }

    /// The `Authorization` header value, if credentials are configured (Basic wins over Bearer).
    pub fn authorization(&self) -> Option<String> {
        if let Some(auth) = &self.settings.auth_string {
            return Some(format!("Basic {}", base64_encode(auth.expose().as_bytes())));
        }
        self.settings
            .api_key
            .as_ref()
            .map(|key| format!("Bearer {}", key.expose()))
    }

    /// GET a path and parse the JSON answer; non-2xx statuses become typed errors.
    pub fn get(&self, path: &str) -> Result<Value> {
        self.call(Request::new(Method::Get, path))
    }

    /// POST a JSON body and parse the answer; non-2xx statuses become typed errors.
    pub fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.call(Request::new(Method::Post, path).json(body))
    }

    /// PATCH a JSON body; non-2xx statuses become typed errors.
    pub fn patch(&self, path: &str, body: Value) -> Result<Value> {
        self.call(Request::new(Method::Patch, path).json(body))
    }

    /// DELETE a path; non-2xx statuses become typed errors.
    pub fn delete(&self, path: &str) -> Result<Value> {
        self.call(Request::new(Method::Delete, path))
    }

    /// Send a request and parse its JSON answer; non-2xx statuses become typed errors.
    pub fn call(&self, request: Request) -> Result<Value> {
        let method = request.method;
        let path = request.path.clone();
        let mut answer = self.send_answer(request)?;
        status_error(method, &path, answer.status, in_memory(&answer.body))?;
        answer.json()
    }

    /// Send a request with retries and CSRF handling; any HTTP status is returned as a
    /// [`Response`] (only transport failures and exhausted retries of 5xx/429 are errors).
    pub fn send(&self, request: Request) -> Result<Response> {
        self.send_answer(request)?.into_response()
    }

    /// [`Client::send`], but a large body stays spooled in a temporary file instead of being
    /// read into memory: for answers printed as they are parsed (see [`crate::answer`]).
    pub fn send_answer(&self, request: Request) -> Result<Answer> {
        let mut answer = self.send_with_retries(&request)?;
        if request.method.is_write()
            && answer.status == 403
            && mentions_csrf(in_memory(&answer.body))
            && self.fetch_csrf_token()?
        {
            answer = self.send_with_retries(&request)?;
        }
        Ok(answer)
    }

    fn send_with_retries(&self, request: &Request) -> Result<Answer> {
        let max_retries = self.settings.max_retries;
        let mut attempt: u32 = 0;
        loop {
            let wait = match self.send_once(request) {
                Ok((response, retry_after)) => {
                    if !self.is_retryable_status(response.status) || attempt >= max_retries {
                        return self.unknown_if_unsafe(request, response);
                    }
                    // A create without a key is resent only after 429 or 503, which say the
                    // request was not processed (Prefect answers 503 when its database is busy
                    // and the transaction rolled back); a 502/504 from a proxy, or a 500, may
                    // come after the server applied it.
                    if !request.idempotent && !matches!(response.status, 429 | 503) {
                        return self.unknown_if_unsafe(request, response);
                    }
                    match retry_after {
                        Some(after) if after > MAX_RETRY_AFTER => {
                            return self.unknown_if_unsafe(request, response);
                        }
                        // Honour Retry-After, never shorter; a little jitter on top spreads clients.
                        Some(after) => after + after.mul_f64(fastrand::f64() * 0.1),
                        None => backoff(attempt),
                    }
                }
                Err(failure) => {
                    let budget = if failure.connect_phase {
                        max_retries.min(3)
                    } else {
                        max_retries
                    };
                    let safe = failure.connect_phase || request.idempotent;
                    if !safe {
                        return Err(outcome_unknown(request, &failure.error.to_string(), 7));
                    }
                    if !failure.retryable || attempt >= budget {
                        return Err(failure.error);
                    }
                    if failure.connect_phase {
                        // Nothing listens: retry briefly, so "server down" is reported in ~1 s.
                        Duration::from_millis(100 * 3u64.pow(attempt))
                            .mul_f64(0.8 + fastrand::f64() * 0.4)
                    } else {
                        backoff(attempt)
                    }
                }
            };
            if self.verbose {
                let _ = writeln!(std::io::stderr(), "pf: retrying in {} ms", wait.as_millis());
            }
            std::thread::sleep(wait);
            attempt += 1;
        }
    }

    /// A non-idempotent write answered with a status that does not say whether it was applied
    /// (408, 5xx) is an [`Error::OutcomeUnknown`]; everything else passes as it is.
    fn unknown_if_unsafe(&self, request: &Request, response: Answer) -> Result<Answer> {
        let ambiguous =
            response.status == 408 || (response.status >= 500 && response.status != 503);
        if request.idempotent || !ambiguous {
            return Ok(response);
        }
        let cause = format!(
            "the server answered {}: {}",
            response.status,
            summarize_body(in_memory(&response.body))
        );
        Err(outcome_unknown(request, &cause, crate::error::EXIT_SERVER))
    }

    fn is_retryable_status(&self, status: u16) -> bool {
        matches!(status, 408 | 429 | 502 | 503 | 504)
            || self.settings.retry_extra_codes.contains(&status)
    }

    fn send_once(
        &self,
        request: &Request,
    ) -> std::result::Result<(Answer, Option<Duration>), Failure> {
        let url = self.url(&request.path);
        let started = Instant::now();
        let mut builder = http_request(request.method, &url)
            .header("X-PREFECT-API-VERSION", API_VERSION)
            .header("Accept", "application/json");
        for (name, value) in &self.settings.custom_headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(auth) = self.authorization() {
            builder = builder.header("Authorization", auth);
        }
        if request.method.is_write()
            && let Csrf::Token { token, client } = &*self.csrf.borrow()
        {
            builder = builder.header("Prefect-Csrf-Token", token.as_str());
            builder = builder.header("Prefect-Csrf-Client", client.as_str());
        }
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let http_request = match &request.body {
            Some(body) => builder
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(body).expect("JSON values serialize")),
            None => builder.body(Vec::new()),
        }
        .map_err(|e| Failure {
            error: Error::usage(format!("invalid request to {}: {e}", redact_url(&url))),
            retryable: false,
            connect_phase: false,
        })?;
        let result = self.agent.run(http_request);
        let mut response = match result {
            Ok(r) => r,
            Err(e) => {
                self.trace(request, &url, None, started);
                return Err(classify_transport_error(e, &url));
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = if (200..300).contains(&status) {
            // A large answer goes to a temporary file as it arrives, so it is held once (as
            // it is parsed), not as text and parsed value together; a read dropped midway
            // fails here and is retried as a whole.
            Body::read_from(response.body_mut().as_reader(), SPOOL_THRESHOLD)
                .map_err(|e| classify_transport_error(ureq::Error::from(e), &url))?
        } else {
            // Only the start of an error body is needed for a one-line message; the rest of a
            // huge page is not read into memory.
            let mut head = Vec::new();
            let reader = response.body_mut().as_reader();
            let read = std::io::Read::read_to_end(
                &mut std::io::Read::take(reader, crate::error::MAX_ERROR_BODY),
                &mut head,
            );
            match read {
                Ok(_) => Body::Memory(head),
                Err(_) if !head.is_empty() => Body::Memory(head),
                Err(e) => return Err(classify_transport_error(ureq::Error::Io(e), &url)),
            }
        };
        self.trace(request, &url, Some(status), started);
        Ok((Answer { status, body }, retry_after))
    }

    fn trace(&self, request: &Request, url: &str, status: Option<u16>, started: Instant) {
        if !self.verbose {
            return;
        }
        let path = url.split('?').next().unwrap_or(url);
        // Show the path below the API URL; absolute URLs elsewhere (Cloud) show in full.
        let redacted;
        let path = match path.strip_prefix(self.settings.api_url.as_str()) {
            Some(below) => below,
            None => {
                redacted = redact_url(path);
                &redacted
            }
        };
        let status = status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "ERR".into());
        let _ = writeln!(
            std::io::stderr(),
            "pf: {} {} {} {}ms",
            request.method.as_str(),
            path,
            status,
            started.elapsed().as_millis()
        );
    }

    /// Fetch a CSRF token (`GET /csrf-token?client=…`); returns whether writes must carry one.
    fn fetch_csrf_token(&self) -> Result<bool> {
        if matches!(*self.csrf.borrow(), Csrf::Disabled) {
            return Ok(false);
        }
        let client_id = uuid::Uuid::new_v4().to_string();
        let mut response = self.send_with_retries(&Request::new(
            Method::Get,
            format!("csrf-token?client={client_id}"),
        ))?;
        if response.status == 422 {
            // "CSRF protection is disabled": nothing to send.
            *self.csrf.borrow_mut() = Csrf::Disabled;
            return Ok(false);
        }
        status_error(
            Method::Get,
            "csrf-token",
            response.status,
            in_memory(&response.body),
        )?;
        let token = response
            .json()?
            .get("token")
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .ok_or_else(|| Error::Server {
                status: response.status,
                message: "CSRF answer has no token".into(),
            })?;
        *self.csrf.borrow_mut() = Csrf::Token {
            token,
            client: client_id,
        };
        Ok(true)
    }
}

/// Retry-After values above this are not waited for: the error is reported instead.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

fn backoff(attempt: u32) -> Duration {
    backoff_delay(attempt, Duration::from_secs(16))
}

/// Exponential backoff with jitter: 0.5 s doubling per attempt up to `cap`, ±20 % so clients
/// that lost the same server do not come back in step. Every retry loop of pf uses this.
pub fn backoff_delay(attempt: u32, cap: Duration) -> Duration {
    let base = Duration::from_millis(500) * 2u32.pow(attempt.min(10));
    base.min(cap).mul_f64(0.8 + fastrand::f64() * 0.4)
}

fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        // A server's number: anything absurd (1e30, inf, NaN, negative) is no usable wait; a
        // huge one is longer than pf waits, which the caller turns into "give up now".
        return Duration::try_from_secs_f64(secs)
            .ok()
            .map(|d| d.min(Duration::from_secs(86_400)));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let now = jiff::Timestamp::now();
    Some(Duration::try_from(when.duration_since(now)).unwrap_or(Duration::ZERO))
}

fn mentions_csrf(body: &[u8]) -> bool {
    String::from_utf8_lossy(body)
        .to_ascii_lowercase()
        .contains("csrf")
}

fn http_request(method: Method, url: &str) -> ureq::http::request::Builder {
    let m = match method {
        Method::Get => ureq::http::Method::GET,
        Method::Post => ureq::http::Method::POST,
        Method::Patch => ureq::http::Method::PATCH,
        Method::Put => ureq::http::Method::PUT,
        Method::Delete => ureq::http::Method::DELETE,
        Method::Head => ureq::http::Method::HEAD,
        Method::Options => ureq::http::Method::OPTIONS,
    };
    ureq::http::Request::builder().method(m).uri(url)
}

struct Failure {
    error: Error,
    retryable: bool,
    /// The connection was never made, so nothing reached the server.
    connect_phase: bool,
}

/// An [`Error::OutcomeUnknown`] for a write that must not be repeated blindly.
fn outcome_unknown(request: &Request, cause: &str, code: i32) -> Error {
    let path = request.path.split('?').next().unwrap_or(&request.path);
    Error::OutcomeUnknown {
        message: format!(
            "{} {} may or may not have been applied ({cause}); it was not resent, as a repeat could apply it twice",
            request.method.as_str(),
            redact_url(path.trim_start_matches('/')),
        ),
        hint: Some("check whether it was applied before running it again".into()),
        code,
    }
}

/// A URL with any password in it replaced by `***` (`http://admin:***@host/api`), for every
/// place pf shows a URL: status, profiles, traces, errors.
///
/// ```
/// use pf_common::client::redact_url;
/// assert_eq!(redact_url("http://admin:s3cret@host:4200/api"), "http://admin:***@host:4200/api");
/// assert_eq!(redact_url("https://token@host/api"), "https://***@host/api");
/// assert_eq!(redact_url("http://host/api?x=a@b"), "http://host/api?x=a@b");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let shown = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => "***".to_string(),
            };
            format!("{scheme}://{shown}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

fn classify_transport_error(e: ureq::Error, url: &str) -> Failure {
    use std::io::ErrorKind;
    // scheme://host:port only, without any user:password@ in the URL: errors never show secrets.
    let server = url.split('/').take(3).collect::<Vec<_>>().join("/");
    let server = match server.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.rsplit('@').next().unwrap_or(rest)),
        None => server,
    };
    let hint = Some(
        "is the server running? check PREFECT_API_URL, the active profile or --api-url".into(),
    );
    let https = url.starts_with("https://");
    let (message, retryable, connect_phase) = match &e {
        // Neither heals by waiting: report at once instead of backing off for seconds.
        ureq::Error::Io(io) if is_dns_failure(io) => (
            format!("cannot resolve host of {server}: {io}"),
            false,
            true,
        ),
        ureq::Error::Io(io) if https && io.kind() == ErrorKind::InvalidData => (
            format!("TLS handshake with {server} failed: {io} (is it an http:// server?)"),
            false,
            true,
        ),
        ureq::Error::Io(io) => match io.kind() {
            ErrorKind::ConnectionRefused => (
                format!("cannot connect to {server}: connection refused"),
                true,
                true,
            ),
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof => {
                (format!("connection to {server} dropped: {io}"), true, false)
            }
            _ => (
                format!("network error talking to {server}: {io}"),
                true,
                false,
            ),
        },
        ureq::Error::ConnectionFailed => (format!("cannot connect to {server}"), true, true),
        ureq::Error::HostNotFound => (format!("cannot resolve host of {server}"), false, true),
        ureq::Error::Timeout(t) => (format!("timed out talking to {server} ({t})"), true, false),
        ureq::Error::Tls(t) => (format!("TLS error talking to {server}: {t}"), false, true),
        ureq::Error::Protocol(p) => (format!("connection to {server} broke: {p}"), true, false),
        // A compressed answer cut off midway is a dropped read like any other.
        ureq::Error::Decompress(_, io) => {
            (format!("connection to {server} dropped: {io}"), true, false)
        }
        ureq::Error::BodyStalled => (format!("answer from {server} stalled"), true, false),
        other => (format!("request to {server} failed: {other}"), false, false),
    };
    Failure {
        error: Error::Network { message, hint },
        retryable,
        connect_phase,
    }
}

/// A failed name lookup (std's resolver reports it as an uncategorised I/O error).
fn is_dns_failure(io: &std::io::Error) -> bool {
    let text = io.to_string();
    text.contains("failed to lookup address")
        || text.contains("Name or service not known")
        || text.contains("nodename nor servname")
        || text.contains("No address associated")
}

/// Turn a non-2xx response into the typed error of its class (3: auth, 4: client, 5: server).
pub fn check_status(method: Method, path: &str, response: &Response) -> Result<()> {
    status_error(method, path, response.status, &response.body)
}

fn status_error(method: Method, path: &str, status: u16, body: &[u8]) -> Result<()> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let summary = summarize_body(body);
    let path = path.split('?').next().unwrap_or(path);
    let what = format!("{} {}", method.as_str(), path.trim_start_matches('/'));
    Err(match status {
        401 | 403 => Error::Auth {
            status,
            message: format!("not authorized ({status}) for {what}: {summary}"),
            hint: Some(
                "set PREFECT_API_KEY (Cloud) or PREFECT_API_AUTH_STRING (self-hosted), or run pf-auth login"
                    .into(),
            ),
        },
        400..=499 => Error::Client { status, message: format!("{what} failed ({status}): {summary}"), hint: None },
        _ => Error::Server { status, message: format!("{what}: {summary}") },
    })
}

/// Standard base64 (for the Basic auth header); small enough not to need a crate.
fn base64_encode(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"admin:pass"), "YWRtaW46cGFzcw==");
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn creates_are_not_idempotent_but_filters_are() {
        assert!(!Request::new(Method::Post, "flow_runs/").idempotent);
        assert!(Request::new(Method::Post, "flow_runs/filter").idempotent);
        assert!(Request::new(Method::Delete, "flows/x").idempotent);
    }
}
