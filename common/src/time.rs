//! Times: `--since 1d` parsing, relative ages ("22 hours ago"), durations `HH:MM:SS`.

use std::time::Duration;

use jiff::Timestamp;

use crate::error::{Error, Result};

/// Parse a duration like `30s`, `10m`, `2h`, `1d`, `1w` or combinations (`1h30m`).
/// A bare number is seconds.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(pf_common::time::parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
/// assert_eq!(pf_common::time::parse_duration("45").unwrap(), Duration::from_secs(45));
/// assert!(pf_common::time::parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || {
        Error::usage_hint(
            format!("invalid duration '{text}'"),
            "use a number with a unit: 30s, 10m, 2h, 1d, 1w (or combined: 1h30m)",
        )
    };
    let s = text.trim();
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return if secs >= 0.0 && secs.is_finite() {
            Ok(Duration::from_secs_f64(secs))
        } else {
            Err(bad())
        };
    }
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let mut unit = String::from(c);
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let value: f64 = number.parse().map_err(|_| bad())?;
        number.clear();
        let factor = match unit.to_ascii_lowercase().as_str() {
            "ms" => 0.001,
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            "w" | "week" | "weeks" => 604800.0,
            _ => return Err(bad()),
        };
        total += value * factor;
        while chars.peek() == Some(&' ') {
            chars.next();
        }
    }
    if !number.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

/// Parse a point in time for `--since/--until`: an RFC 3339 timestamp, a date (`2024-05-01`,
/// midnight UTC), or a duration meaning "that long ago" (`30m`, `2h`, `1d`).
pub fn parse_time_ago(text: &str) -> Result<Timestamp> {
    parse_time_relative(text, -1)
}

/// Parse a point in time for `--start-in` style flags: RFC 3339, or a duration from now.
pub fn parse_time_from_now(text: &str) -> Result<Timestamp> {
    parse_time_relative(text, 1)
}

fn parse_time_relative(text: &str, sign: i64) -> Result<Timestamp> {
    let s = text.trim();
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Ok(ts);
    }
    if let Ok(date) = s.parse::<jiff::civil::Date>()
        && let Ok(zoned) = date.to_zoned(jiff::tz::TimeZone::UTC)
    {
        return Ok(zoned.timestamp());
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>()
        && let Ok(zoned) = dt.to_zoned(jiff::tz::TimeZone::UTC)
    {
        return Ok(zoned.timestamp());
    }
    let duration = parse_duration(s).map_err(|_| {
        Error::usage_hint(
            format!("invalid time '{text}'"),
            "use a duration (30m, 2h, 1d) or an RFC 3339 time (2024-05-01T12:00:00Z)",
        )
    })?;
    let signed = jiff::SignedDuration::try_from(duration)
        .map_err(|_| Error::usage(format!("time '{text}' is out of range")))?;
    Timestamp::now()
        .checked_add(if sign < 0 { -signed } else { signed })
        .map_err(|_| Error::usage(format!("time '{text}' is out of range")))
}

/// Parse an API timestamp (`2024-05-01T12:00:00.123456Z` or with an offset).
pub fn parse_api_time(text: &str) -> Option<Timestamp> {
    text.parse::<Timestamp>().ok()
}

/// Format a timestamp as RFC 3339 with microseconds and `Z`, as the API expects in filters.
pub fn to_api_time(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// "22 hours ago", "in 5 minutes", "just now".
///
/// ```
/// use jiff::Timestamp;
/// let now: Timestamp = "2024-05-02T12:00:00Z".parse().unwrap();
/// let then: Timestamp = "2024-05-01T14:00:00Z".parse().unwrap();
/// assert_eq!(pf_common::time::relative_age(then, now), "22 hours ago");
/// ```
pub fn relative_age(ts: Timestamp, now: Timestamp) -> String {
    let secs = now.as_second() - ts.as_second();
    let (future, secs) = if secs < 0 {
        (true, -secs)
    } else {
        (false, secs)
    };
    if secs < 10 {
        return "just now".into();
    }
    let (n, unit) = match secs {
        s if s < 60 => (s, "second"),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86400 => (s / 3600, "hour"),
        s if s < 86400 * 30 => (s / 86400, "day"),
        s if s < 86400 * 365 => (s / (86400 * 30), "month"),
        s => (s / (86400 * 365), "year"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if future {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

/// `HH:MM:SS` for a duration in seconds (hours grow past 99 when they must).
///
/// ```
/// assert_eq!(pf_common::time::hms(3725.6), "01:02:05");
/// ```
pub fn hms(seconds: f64) -> String {
    let total = seconds.max(0.0).floor() as u64;
    format!(
        "{:02}:{:02}:{:02}",
        total / 3600,
        (total / 60) % 60,
        total % 60
    )
}

/// A local, human timestamp for tables: `2024-05-01 14:03:07`.
pub fn local_datetime(ts: Timestamp) -> String {
    let zoned = ts.to_zoned(jiff::tz::TimeZone::system());
    zoned.strftime("%Y-%m-%d %H:%M:%S").to_string()
}
