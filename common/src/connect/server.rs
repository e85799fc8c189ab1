//! What the server can do, from its real version (`GET /admin/version`; every release answers
//! `/version` with the API version `0.8.4`), asked once per process and server, and only by the
//! commands that need a feature older servers lack. A server that does not say (Prefect Cloud,
//! a proxy that hides `/admin`) is taken to be current.
//!
//! | feature | since |
//! |---|---|
//! | JSON variable values | 3.0.0 (Prefect 2 variables are strings) |
//! | flow run labels | 3.1.5 |
//! | `/logs/out` log stream | 3.4.7 |
//! | log text search (`logs.text`) | 3.4.20 |
//! | events and automations without experimental settings | 3.0.0 |

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use serde_json::Value;

use crate::client::Client;
use crate::error::Error;

/// A release number `MAJOR.MINOR.PATCH` (pre-release and build suffixes are ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// Parse `3.4.25`, `2.20.27`, `3.1.0rc1`, `3.4.20.dev2`.
    ///
    /// ```
    /// use pf_common::server::Version;
    /// assert_eq!(Version::parse("3.4.25"), Some(Version(3, 4, 25)));
    /// assert_eq!(Version::parse("3.1.0rc1"), Some(Version(3, 1, 0)));
    /// assert_eq!(Version::parse("2.20"), Some(Version(2, 20, 0)));
    /// assert_eq!(Version::parse("latest"), None);
    /// ```
    pub fn parse(text: &str) -> Option<Version> {
        let mut parts = text.trim().split('.').map(|part| {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u32>().ok()
        });
        let major = parts.next()??;
        let minor = parts.next()??;
        let patch = parts.next().flatten().unwrap_or(0);
        Some(Version(major, minor, patch))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// Flow run labels (`labels` on create).
pub const RUN_LABELS: Version = Version(3, 1, 5);
/// Server-side log text search (`logs.text` in `/logs/filter`).
pub const LOG_TEXT_SEARCH: Version = Version(3, 4, 20);
/// The `/logs/out` websocket.
pub const LOG_STREAM: Version = Version(3, 4, 7);
/// Variables hold any JSON value, not only strings.
pub const JSON_VARIABLES: Version = Version(3, 0, 0);

/// What pf knows about the server it talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerInfo {
    /// The server's release, when it says (`None`: Cloud, or `/admin/version` not answered).
    pub version: Option<Version>,
}

impl ServerInfo {
    /// Whether the server has a feature that arrived in release `since` (an unknown version
    /// is taken to be current).
    pub fn has(&self, since: Version) -> bool {
        self.version.is_none_or(|v| v >= since)
    }

    /// Whether this is a Prefect 2 server.
    pub fn is_prefect2(&self) -> bool {
        self.version.is_some_and(|v| v.0 < 3)
    }

    /// `Prefect 3.0.11` (or `this Prefect server` when unknown), for messages.
    pub fn describe(&self) -> String {
        match self.version {
            Some(v) => format!("Prefect {v}"),
            None => "this Prefect server".into(),
        }
    }

    /// A usage error saying that `what` needs release `since` and this server is older, when
    /// it is; `Ok` otherwise.
    pub fn require(&self, since: Version, what: &str) -> Result<(), Error> {
        if self.has(since) {
            return Ok(());
        }
        Err(Error::usage_hint(
            format!(
                "{what} needs a Prefect {since} server or newer; this server is {}",
                self.describe()
            ),
            format!("upgrade the server to Prefect {since} or later, or leave {what} out"),
        ))
    }
}

/// The server's [`ServerInfo`], asked once per process and API URL. Failures (no
/// `/admin/version`, auth, network) give an unknown version: the command's own request then
/// reports whatever is wrong.
pub fn info(client: &Client) -> ServerInfo {
    static CACHE: Mutex<Option<HashMap<String, ServerInfo>>> = Mutex::new(None);
    let url = client.settings().api_url.clone();
    if let Some(found) = CACHE
        .lock()
        .ok()
        .and_then(|cache| cache.as_ref()?.get(&url).copied())
    {
        return found;
    }
    let version = match client.get("admin/version") {
        Ok(Value::String(text)) => Version::parse(&text),
        _ => None,
    };
    let found = ServerInfo { version };
    if let Ok(mut cache) = CACHE.lock() {
        cache.get_or_insert_with(HashMap::new).insert(url, found);
    }
    found
}

/// Add a hint to a 404 that an older server answers for an endpoint it lacks: events and
/// automations on Prefect 2 need its experimental settings. The server's own text stays.
pub fn explain_missing(client: &Client, error: Error) -> Error {
    match error {
        Error::Client {
            status: 404,
            message,
            hint: None,
        } if (message.contains("events/") || message.contains("automations/"))
            && info(client).is_prefect2() =>
        {
            let hint = format!(
                "{} serves events and automations only with PREFECT_EXPERIMENTAL_EVENTS=true and \
                 PREFECT_API_SERVICES_TRIGGERS_ENABLED=true in the server's environment (Prefect 3 always does)",
                info(client).describe()
            );
            Error::Client {
                status: 404,
                message,
                hint: Some(hint),
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_by_version() {
        let old = ServerInfo {
            version: Some(Version(3, 0, 11)),
        };
        assert!(!old.has(RUN_LABELS));
        assert!(old.has(JSON_VARIABLES));
        assert!(old.require(RUN_LABELS, "--label").is_err());
        let two = ServerInfo {
            version: Some(Version(2, 20, 27)),
        };
        assert!(two.is_prefect2() && !two.has(JSON_VARIABLES));
        let unknown = ServerInfo { version: None };
        assert!(unknown.has(LOG_TEXT_SEARCH) && !unknown.is_prefect2());
        assert!(Version(3, 4, 25) > Version(3, 4, 20));
        assert!(Version(3, 10, 0) > Version(3, 9, 1));
    }
}
