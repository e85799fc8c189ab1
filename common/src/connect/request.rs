//! One HTTP exchange as pf sees it: the method, the request (path, body, headers, whether it is
//! safe to repeat) and the response (status and body), apart from how the client sends it.

use serde_json::Value;

use crate::error::{Error, Result};

/// An HTTP method pf uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PATCH
    Patch,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// HEAD
    Head,
    /// OPTIONS
    Options,
}

impl Method {
    /// Parse a method name (case-insensitive).
    pub fn parse(s: &str) -> Option<Method> {
        Some(match s.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PATCH" => Method::Patch,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            "OPTIONS" => Method::Options,
            _ => return None,
        })
    }

    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
        }
    }

    pub(crate) fn is_write(self) -> bool {
        !matches!(self, Method::Get | Method::Head | Method::Options)
    }
}

/// One request: method, path (relative to the API URL, or an absolute URL), body, extra headers.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// `flow_runs/filter`, `/flows/{id}`, or an absolute `https://…` URL.
    pub path: String,
    /// JSON body, if any.
    pub body: Option<Value>,
    /// Extra headers for this request only.
    pub headers: Vec<(String, String)>,
    /// Whether a dropped connection may be retried (the request is safe to repeat).
    pub idempotent: bool,
}

impl Request {
    /// A request; GET/PUT/DELETE/PATCH and POSTs to `…/filter`, `…/count` and `…/paginate`
    /// count as idempotent; other POSTs (creates) do not, unless given an idempotency key.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        let path = path.into();
        let read_only_post = ["/filter", "/count", "/paginate", "/history"]
            .iter()
            .any(|s| {
                path.split('?')
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches('/')
                    .ends_with(s)
            });
        let idempotent = method != Method::Post || read_only_post;
        Request {
            method,
            path,
            body: None,
            headers: Vec::new(),
            idempotent,
        }
    }

    /// Attach a JSON body.
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Add a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Mark the request safe to repeat (e.g. it carries an idempotency key).
    pub fn idempotent(mut self, yes: bool) -> Self {
        self.idempotent = yes;
        self
    }
}

/// A response after retries: status and body bytes.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// Parse the body as JSON (`null` for an empty body).
    pub fn json(&self) -> Result<Value> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|e| Error::Server {
            status: self.status,
            message: format!("the server's answer is not JSON: {e}"),
        })
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}
