//! Configuration, resolved the way the Python client does it, so nothing extra is set up.
//!
//! Precedence, highest first: command-line flags (`--api-url`, `--profile`) → environment →
//! the active profile of `profiles.toml` → default `http://127.0.0.1:4200/api`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::profiles::{ProfilesFile, non_empty_env, profiles_path};

/// The default API URL of a local `prefect server start`.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:4200/api";

/// A secret string (API key or basic-auth string) that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the Authorization header only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A form safe to show: `pnu_…abcd` (prefix up to the first `_`, last four characters).
    ///
    /// ```
    /// use pf_common::config::Secret;
    /// assert_eq!(Secret::new("pnu_0123456789abcdef").redacted(), "pnu_…cdef");
    /// assert_eq!(Secret::new("admin:pass").redacted(), "…");
    /// ```
    pub fn redacted(&self) -> String {
        let s = &self.0;
        let chars: Vec<char> = s.chars().collect();
        if chars.len() < 12 {
            return "…".into();
        }
        let prefix = match s.find('_') {
            Some(i) if i <= 4 => &s[..=i],
            _ => "",
        };
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{prefix}…{tail}")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.redacted())
    }
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag,
    /// An environment variable.
    Env,
    /// The named profile of profiles.toml.
    Profile(String),
    /// Built-in default.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("flag"),
            Source::Env => f.write_str("env"),
            Source::Profile(p) => write!(f, "profile {p}"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// Command-line overrides that take precedence over everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--api-url`.
    pub api_url: Option<String>,
    /// `--profile`.
    pub profile: Option<String>,
}

/// Every setting the client needs, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    /// API base URL without a trailing slash, e.g. `http://127.0.0.1:4200/api`.
    pub api_url: String,
    /// Where `api_url` came from.
    pub api_url_source: Source,
    /// PREFECT_API_KEY (sent as Bearer).
    pub api_key: Option<Secret>,
    /// PREFECT_API_AUTH_STRING (`user:pass`, sent as Basic; wins over the key).
    pub auth_string: Option<Secret>,
    /// PREFECT_CLIENT_CUSTOM_HEADERS, a JSON object of extra headers.
    pub custom_headers: Vec<(String, String)>,
    /// PREFECT_API_TLS_INSECURE_SKIP_VERIFY.
    pub tls_insecure: bool,
    /// PREFECT_API_SSL_CERT_FILE or SSL_CERT_FILE: extra root certificates (PEM).
    pub ssl_cert_file: Option<PathBuf>,
    /// PREFECT_API_REQUEST_TIMEOUT (seconds, default 60).
    pub request_timeout: Duration,
    /// PREFECT_CLIENT_MAX_RETRIES (default 5).
    pub max_retries: u32,
    /// PREFECT_CLIENT_RETRY_EXTRA_CODES: more statuses to retry (comma-separated).
    pub retry_extra_codes: Vec<u16>,
    /// The profile in effect, if any.
    pub profile: Option<String>,
    /// The profiles.toml path consulted.
    pub profiles_path: PathBuf,
}

impl Settings {
    /// Resolve settings from flags, environment and profiles.toml.
    pub fn load(overrides: &Overrides) -> Result<Self> {
        Self::resolve(overrides, false)
    }

    /// Like [`Settings::load`], but a named profile that does not exist yet reads as empty
    /// instead of being an error (`pf-auth login --profile NEW` validates before creating it).
    pub fn load_allowing_new_profile(overrides: &Overrides) -> Result<Self> {
        Self::resolve(overrides, true)
    }

    fn resolve(overrides: &Overrides, allow_new_profile: bool) -> Result<Self> {
        let path = profiles_path();
        let file = ProfilesFile::load(&path)?;
        let profile = match overrides
            .profile
            .clone()
            .or_else(|| non_empty_env("PREFECT_PROFILE"))
        {
            Some(name) => {
                if !file.has(&name) && !allow_new_profile {
                    let known = file.names();
                    return Err(Error::usage_hint(
                        format!("profile '{name}' not found in {}", path.display()),
                        if known.is_empty() {
                            "create it with: pf-auth login --profile NAME --url URL".into()
                        } else {
                            format!("known profiles: {}", known.join(", "))
                        },
                    ));
                }
                Some(name)
            }
            None => file.active().filter(|a| file.has(a)).map(str::to_string),
        };
        let lookup = |key: &str| -> Option<(String, Source)> {
            if let Some(v) = non_empty_env(key) {
                return Some((v, Source::Env));
            }
            let p = profile.as_deref()?;
            file.get(p, key)
                .filter(|v| !v.is_empty())
                .map(|v| (v, Source::Profile(p.into())))
        };

        let (api_url, api_url_source) = match &overrides.api_url {
            Some(url) => (url.clone(), Source::Flag),
            None => lookup("PREFECT_API_URL").unwrap_or((DEFAULT_API_URL.into(), Source::Default)),
        };
        let api_url = normalize_url(&api_url)?;
        let custom_headers = match lookup("PREFECT_CLIENT_CUSTOM_HEADERS") {
            Some((json, _)) => parse_custom_headers(&json)?,
            None => Vec::new(),
        };
        let request_timeout = match lookup("PREFECT_API_REQUEST_TIMEOUT") {
            Some((v, _)) => {
                let secs: f64 = v.trim().parse().map_err(|_| {
                    Error::Config(format!(
                        "PREFECT_API_REQUEST_TIMEOUT: '{v}' is not a number"
                    ))
                })?;
                request_timeout_of(secs).ok_or_else(|| {
                    Error::Config(format!(
                        "PREFECT_API_REQUEST_TIMEOUT: '{v}' is not a number of seconds (0 or more)"
                    ))
                })?
            }
            None => Duration::from_secs(60),
        };
        let max_retries = match lookup("PREFECT_CLIENT_MAX_RETRIES") {
            Some((v, _)) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= MAX_RETRIES_CAP)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "PREFECT_CLIENT_MAX_RETRIES: '{v}' is not a whole number from 0 to {MAX_RETRIES_CAP}"
                    ))
                })?,
            None => 5,
        };
        let retry_extra_codes = match lookup("PREFECT_CLIENT_RETRY_EXTRA_CODES") {
            Some((v, _)) => parse_codes(&v)?,
            None => Vec::new(),
        };
        let ssl_cert_file = lookup("PREFECT_API_SSL_CERT_FILE")
            .map(|(v, _)| v)
            .or_else(|| non_empty_env("SSL_CERT_FILE"))
            .map(PathBuf::from);
        Ok(Settings {
            api_url,
            api_url_source,
            api_key: lookup("PREFECT_API_KEY").map(|(v, _)| Secret::new(v)),
            auth_string: lookup("PREFECT_API_AUTH_STRING").map(|(v, _)| Secret::new(v)),
            custom_headers,
            tls_insecure: lookup("PREFECT_API_TLS_INSECURE_SKIP_VERIFY")
                .is_some_and(|(v, _)| is_truthy(&v)),
            ssl_cert_file,
            request_timeout,
            max_retries,
            retry_extra_codes,
            profile,
            profiles_path: path,
        })
    }

    /// True when the API URL points at Prefect Cloud (`…/accounts/{id}/workspaces/{id}`).
    pub fn is_cloud(&self) -> bool {
        self.api_url.contains("/accounts/") && self.api_url.contains("/workspaces/")
    }
}

fn normalize_url(url: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
        return Err(Error::usage_hint(
            format!("API URL '{trimmed}' must start with http:// or https://"),
            "example: http://127.0.0.1:4200/api",
        ));
    }
    Ok(trimmed.to_string())
}

fn is_truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

fn parse_custom_headers(json: &str) -> Result<Vec<(String, String)>> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
        Error::Config(format!(
            "PREFECT_CLIENT_CUSTOM_HEADERS is not a JSON object: {e}"
        ))
    })?;
    let obj = value.as_object().ok_or_else(|| {
        Error::Config("PREFECT_CLIENT_CUSTOM_HEADERS must be a JSON object".into())
    })?;
    Ok(obj
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
            )
        })
        .collect())
}

/// More retries than this is a typo, not a policy (with backoff it would wait for days).
const MAX_RETRIES_CAP: u32 = 100;

/// The longest request timeout pf uses: larger values (`inf`, `1e20`, "no limit") mean this.
const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(86_400);

/// A request timeout from seconds: at least 0.1 s, at most [`MAX_REQUEST_TIMEOUT`]; None for a
/// value that is no duration (NaN, negative).
fn request_timeout_of(secs: f64) -> Option<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    Some(
        Duration::try_from_secs_f64(secs.max(0.1))
            .unwrap_or(MAX_REQUEST_TIMEOUT)
            .min(MAX_REQUEST_TIMEOUT),
    )
}

fn parse_codes(v: &str) -> Result<Vec<u16>> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u16>()
                .ok()
                .filter(|code| (100..=599).contains(code))
                .ok_or_else(|| {
                    Error::Config(format!(
                        "PREFECT_CLIENT_RETRY_EXTRA_CODES: '{s}' is not a status code"
                    ))
                })
        })
        .collect()
}
