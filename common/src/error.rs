//! Typed errors, and the one place that maps them to exit codes.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the operation failed (a run ended badly, some REFs in a batch failed) |
//! | 2 | usage: bad flag, bad JSON, bad jq filter, bad time |
//! | 3 | authentication / authorization (401/403) |
//! | 4 | not found or another client error (404/409/422) |
//! | 5 | server error (5xx after retries) |
//! | 6 | timed out waiting (`--timeout` of a watch) |
//! | 7 | network: cannot connect, timeout, TLS (after retries) |

use std::fmt;

/// Exit code for success.
pub const EXIT_OK: i32 = 0;
/// Exit code when the operation itself failed (a run ended FAILED, a REF of a batch failed).
pub const EXIT_FAILED: i32 = 1;
/// Exit code for usage errors.
pub const EXIT_USAGE: i32 = 2;
/// Exit code for 401/403.
pub const EXIT_AUTH: i32 = 3;
/// Exit code for 404 and other 4xx.
pub const EXIT_NOT_FOUND: i32 = 4;
/// Exit code for 5xx after retries.
pub const EXIT_SERVER: i32 = 5;
/// Exit code when a wait (`pf-run --watch --timeout`) ran out of time.
pub const EXIT_TIMEOUT: i32 = 6;
/// Exit code for connection failures, timeouts and TLS errors after retries.
pub const EXIT_NETWORK: i32 = 7;

/// Every error a pf tool reports. The variant decides the exit code; the message is one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag, argument or input value is wrong (exit 2).
    #[error("{message}")]
    Usage {
        /// What was wrong.
        message: String,
        /// A second line telling the user what to do instead.
        hint: Option<String>,
    },
    /// The server refused our credentials (exit 3).
    #[error("{message}")]
    Auth {
        /// HTTP status (401 or 403), or 0 when no request was made.
        status: u16,
        /// The summarised server answer.
        message: String,
        /// What to do about it.
        hint: Option<String>,
    },
    /// A referenced object does not exist, or the server rejected the request as a client error (exit 4).
    #[error("{message}")]
    Client {
        /// HTTP status (404, 409, 422, …), or 0 when the lookup was made by pf itself.
        status: u16,
        /// The summarised server answer.
        message: String,
        /// A hint, e.g. a command that lists candidates.
        hint: Option<String>,
    },
    /// The server failed (5xx after retries) (exit 5).
    #[error("server error {status}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The summarised server answer.
        message: String,
    },
    /// The server could not be reached (exit 7).
    #[error("{message}")]
    Network {
        /// What went wrong, with the URL.
        message: String,
        /// What to check.
        hint: Option<String>,
    },
    /// A write that must not be repeated (a create without an idempotency key) was sent, but its
    /// answer was lost (5xx or a dropped connection): it may or may not have been applied. Exit
    /// 5 or 7, as the cause.
    #[error("{message}")]
    OutcomeUnknown {
        /// What was sent and what happened.
        message: String,
        /// How to find out whether it was applied.
        hint: Option<String>,
        /// The exit code of the cause (5 server, 7 network).
        code: i32,
    },
    /// The operation ran but did not succeed: a run ended FAILED, a REF of a batch failed (exit 1).
    #[error("{0}")]
    Failed(String),
    /// A wait (`--timeout`) ran out before the awaited thing happened (exit 6).
    #[error("{0}")]
    Timeout(String),
    /// Configuration (profiles.toml, environment) is unusable (exit 2).
    #[error("{0}")]
    Config(String),
    /// Local I/O failed (exit 1).
    #[error("{context}: {source}")]
    Io {
        /// What pf was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias used throughout `pf-common`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A usage error without a hint.
    pub fn usage(message: impl fmt::Display) -> Self {
        Error::Usage {
            message: message.to_string(),
            hint: None,
        }
    }

    /// A usage error with a hint line.
    pub fn usage_hint(message: impl fmt::Display, hint: impl fmt::Display) -> Self {
        Error::Usage {
            message: message.to_string(),
            hint: Some(hint.to_string()),
        }
    }

    /// "not found" for an object pf looked up itself (exit 4).
    pub fn not_found(message: impl fmt::Display, hint: Option<String>) -> Self {
        Error::Client {
            status: 404,
            message: message.to_string(),
            hint,
        }
    }

    /// An I/O error with what pf was doing.
    pub fn io(context: impl fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            context: context.to_string(),
            source,
        }
    }

    /// The process exit code for this error (see the module docs).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage { .. } | Error::Config(_) => EXIT_USAGE,
            Error::Auth { .. } => EXIT_AUTH,
            Error::Client { .. } => EXIT_NOT_FOUND,
            Error::Server { .. } => EXIT_SERVER,
            Error::Network { .. } => EXIT_NETWORK,
            Error::Timeout(_) => EXIT_TIMEOUT,
            Error::OutcomeUnknown { code, .. } => *code,
            Error::Failed(_) | Error::Io { .. } => EXIT_FAILED,
        }
    }

    /// The hint line, if any.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::Usage { hint, .. }
            | Error::Auth { hint, .. }
            | Error::Client { hint, .. }
            | Error::Network { hint, .. }
            | Error::OutcomeUnknown { hint, .. } => hint.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status behind this error, when it came from a response.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Auth { status, .. }
            | Error::Client { status, .. }
            | Error::Server { status, .. }
                if *status != 0 =>
            {
                Some(*status)
            }
            _ => None,
        }
    }

    /// True when stdout was closed under us (`| head -1`): the tool ends quietly with 0.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        Error::Io {
            context: "I/O error".into(),
            source,
        }
    }
}

/// Most bytes of an error body pf reads (the rest is not needed for a one-line message).
pub const MAX_ERROR_BODY: u64 = 64 << 10;

/// Summarise an HTTP error body for one line: `detail`, `exception_detail[].msg`, an HTML
/// page's `<title>`, or the raw text, with whitespace collapsed and cut at 300 characters.
///
/// ```
/// let body = br#"{"exception_message":"Invalid request received.","exception_detail":[{"loc":["body","limit"],"msg":"Input should be less than or equal to 200","type":"less_than_equal"}]}"#;
/// assert_eq!(
///     pf_common::error::summarize_body(body),
///     "Invalid request received.: body.limit: Input should be less than or equal to 200"
/// );
/// let page = b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>";
/// assert_eq!(pf_common::error::summarize_body(page), "502 Bad Gateway");
/// ```
pub fn summarize_body(body: &[u8]) -> String {
    one_line(&summary_of(body), 300)
}

fn summary_of(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return html_title(&text).unwrap_or_else(|| {
            if looks_like_html(&text) {
                "(an HTML error page)".into()
            } else {
                text.into_owned()
            }
        });
    };
    let mut parts = Vec::new();
    if let Some(detail) = value.get("detail") {
        match detail {
            serde_json::Value::String(s) => parts.push(s.clone()),
            serde_json::Value::Array(items) => parts.extend(items.iter().map(validation_item)),
            other => parts.push(other.to_string()),
        }
    }
    if parts.is_empty() {
        if let Some(message) = value.get("exception_message").and_then(|m| m.as_str()) {
            parts.push(message.to_string());
        }
        if let Some(items) = value.get("exception_detail").and_then(|d| d.as_array()) {
            let details: Vec<String> = items.iter().map(validation_item).collect();
            if !details.is_empty() {
                let head = parts.pop();
                let joined = details.join("; ");
                parts.push(match head {
                    Some(h) => format!("{h}: {joined}"),
                    None => joined,
                });
            }
        }
    }
    if parts.is_empty() {
        value.to_string()
    } else {
        parts.join("; ")
    }
}

fn looks_like_html(text: &str) -> bool {
    let start: String = text
        .trim_start()
        .chars()
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase();
    start.starts_with("<!doctype html") || start.starts_with("<html") || start.starts_with("<?xml")
}

/// The `<title>` of an HTML page, if it has a non-empty one.
fn html_title(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    // `to_ascii_lowercase` keeps byte offsets, so they index `text` too.
    let title = text.get(start..end)?.trim();
    (!title.is_empty()).then(|| title.to_string())
}

/// `text` on one line: runs of whitespace (newlines included) become one space, control
/// characters are dropped, and more than `max` characters are cut with `…`.
///
/// ```
/// assert_eq!(pf_common::error::one_line("a\n\n  b\tc", 100), "a b c");
/// assert_eq!(pf_common::error::one_line("ééééé", 3), "ééé…");
/// ```
pub fn one_line(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    for word in text.split_whitespace() {
        for c in (count > 0).then_some(' ').into_iter().chain(word.chars()) {
            if c.is_control() {
                continue;
            }
            if count == max {
                out.push('…');
                return out;
            }
            out.push(c);
            count += 1;
        }
    }
    out
}

fn validation_item(item: &serde_json::Value) -> String {
    let msg = item.get("msg").and_then(|m| m.as_str()).unwrap_or_default();
    let loc: Vec<String> = item
        .get("loc")
        .and_then(|l| l.as_array())
        .map(|l| {
            l.iter()
                .map(|p| {
                    p.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| p.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    match (loc.is_empty(), msg.is_empty()) {
        (_, true) => item.to_string(),
        (true, false) => msg.to_string(),
        (false, false) => format!("{}: {msg}", loc.join(".")),
    }
}
