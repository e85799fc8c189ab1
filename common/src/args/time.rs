//! Times: `--since 1d` parsing, relative ages ("22 hours ago"), durations `HH:MM:SS`.

use std::time::Duration;

use jiff::{SignedDuration, Span, Timestamp};

use crate::error::{Error, Result};

/// The longest duration or offset pf accepts (100 years): anything longer is a typo, and
/// keeping every value far inside `Duration`/`Timestamp` ranges means no arithmetic can panic.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

const DURATION_FORMS: &str = "use a number of seconds, or a duration with units: 30s, 10m, 2h, 1d, 1w, 1h30m, '20 minutes', '2 weeks 1 day'";

const TIME_FORMS: &str = "use a duration (30m, 2h, '2 weeks 1 day'), a time as `date -d` reads it ('tomorrow 9am', 'January 2 2043', '12/1/2022 5pm', '2 hours ago'), RFC 3339 (2024-05-01T12:00:00Z), or @SECONDS for a Unix time";

/// Parse a duration for `--timeout` and `--interval`: a number of seconds (as Prefect's
/// `--timeout`), or units in jiff's friendly format (`30s`, `1h30m`, `20 minutes`,
/// `2 weeks & 1 day`). Negative, non-finite and longer than [`MAX_DURATION`] are usage errors.
///
/// ```
/// use std::time::Duration;
/// use pf_common::time::parse_duration;
/// assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
/// assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
/// assert_eq!(parse_duration("2 weeks & 1 day").unwrap(), Duration::from_secs(15 * 86400));
/// assert!(parse_duration("soon").is_err());
/// assert_eq!(parse_duration("1e300").unwrap_err().exit_code(), 2);
/// ```
pub fn parse_duration(text: &str) -> Result<Duration> {
    let s = text.trim();
    if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return Err(Error::usage_hint(
                format!("invalid duration '{text}'"),
                DURATION_FORMS,
            ));
        }
        if secs > MAX_DURATION.as_secs_f64() {
            return Err(out_of_range(text));
        }
        return Ok(Duration::from_secs_f64(secs));
    }
    match parse_span(s)? {
        Some(span) => {
            let duration = Duration::try_from(span).map_err(|_| {
                Error::usage_hint(
                    format!("invalid duration '{text}' (it is negative)"),
                    DURATION_FORMS,
                )
            })?;
            Ok(duration)
        }
        None => Err(Error::usage_hint(
            format!("invalid duration '{text}'"),
            DURATION_FORMS,
        )),
    }
}

/// Parse a point in time for `--since/--until`: a duration meaning "that long ago" (`30m`,
/// `2h`, `1d`, `2 weeks`), or an absolute time (see [`parse_time_from_now`]).
pub fn parse_time_ago(text: &str) -> Result<Timestamp> {
    parse_time(text, Direction::Past)
}

/// Parse a point in time for `--start-in/--start-at`: a duration from now (`20 minutes`,
/// `2 weeks & 1 day`, `27 hours + 4 mins`), or an absolute time: RFC 3339, `2024-05-01`
/// (midnight UTC), a phrase as GNU `date -d` reads it (`tomorrow 9am`, `January 2nd 2043`,
/// `12-1-2022 5pm`, `5-17-43 5:30pm UTC`; local time unless a zone is named), or `@SECONDS`.
/// A bare number is ambiguous (seconds, or a Unix time?) and refused, as Prefect refuses it.
///
/// ```
/// use pf_common::time::parse_time_from_now;
/// let t = parse_time_from_now("January 2nd 2043 UTC").unwrap();
/// assert_eq!(t.to_string(), "2043-01-02T00:00:00Z");
/// assert_eq!(parse_time_from_now("@1671483897").unwrap().as_second(), 1671483897);
/// assert_eq!(parse_time_from_now("1671483897").unwrap_err().exit_code(), 2);
/// ```
pub fn parse_time_from_now(text: &str) -> Result<Timestamp> {
    parse_time(text, Direction::Future)
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Past,
    Future,
}

fn parse_time(text: &str, direction: Direction) -> Result<Timestamp> {
    let bad = || Error::usage_hint(format!("invalid time '{text}'"), TIME_FORMS);
    let s = text.trim();
    if s.is_empty() {
        return Err(bad());
    }
    if s.parse::<f64>().is_ok() {
        return Err(Error::usage_hint(
            format!("'{text}' is ambiguous: a bare number is neither a duration nor a time"),
            format!("for a duration give a unit ({s}s, {s}m); for a Unix time write @{s}"),
        ));
    }
    let phrase = s.strip_prefix("in ").map(str::trim).unwrap_or(s);
    if let Some(span) = parse_span(phrase)? {
        let offset = if direction == Direction::Past && !span.is_negative() {
            -span
        } else {
            span
        };
        return Timestamp::now()
            .checked_add(offset)
            .map_err(|_| out_of_range(text));
    }
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
    match parse_datetime::parse_datetime(date_phrase(phrase)) {
        Ok(parse_datetime::ParsedDateTime::InRange(zoned)) => Ok(zoned.timestamp()),
        Ok(parse_datetime::ParsedDateTime::Extended(_)) => Err(out_of_range(text)),
        Err(_) => Err(bad()),
    }
}

/// A duration with units, in jiff's friendly format after Prefect's joiners (`&`, `+`, `and`,
/// `,`) are dropped: `None` when the text is not shaped like one, an error when it is but is
/// out of range (longer than [`MAX_DURATION`]).
fn parse_span(text: &str) -> Result<Option<SignedDuration>> {
    let joined = text
        .split_whitespace()
        .filter(|word| !matches!(*word, "&" | "+" | "and" | ","))
        .collect::<Vec<_>>()
        .join(" ");
    let span = match joined.parse::<Span>() {
        Ok(span) => span,
        Err(e) => {
            let message = e.to_string();
            let starts_with_number = joined.starts_with(|c: char| c.is_ascii_digit());
            if starts_with_number
                && (message.contains("too big") || message.contains("out of range"))
            {
                return Err(out_of_range(text));
            }
            return Ok(None);
        }
    };
    let today = jiff::Zoned::now().date();
    let duration = span.to_duration(today).map_err(|_| out_of_range(text))?;
    if duration.unsigned_abs() > MAX_DURATION {
        return Err(out_of_range(text));
    }
    Ok(Some(duration))
}

/// Prefect's `dateparser` forms rewritten into what `date -d` reads: ordinals (`2nd`) lose
/// their suffix, `M-D-Y` becomes `M/D/Y`, and `D/M/Y` with a day above 12 is swapped.
fn date_phrase(text: &str) -> String {
    text.split_whitespace()
        .map(|word| {
            let word = strip_ordinal(word);
            let word = word.as_str();
            let parts: Vec<&str> = word.split(['/', '-']).collect();
            let numeric = parts.len() == 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            if !numeric || parts[0].len() > 2 {
                return word.to_string();
            }
            let (a, b): (u32, u32) = (parts[0].parse().unwrap_or(0), parts[1].parse().unwrap_or(0));
            if a > 12 && b <= 12 {
                format!("{}/{}/{}", parts[1], parts[0], parts[2])
            } else {
                format!("{}/{}/{}", parts[0], parts[1], parts[2])
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `2nd` → `2`, `31st,` → `31,` (a word that is not a number with an ordinal stays).
fn strip_ordinal(word: &str) -> String {
    let core = word.trim_end_matches(',');
    let comma = &word[core.len()..];
    for suffix in ["st", "nd", "rd", "th"] {
        if let Some(number) = core.strip_suffix(suffix)
            && !number.is_empty()
            && number.bytes().all(|b| b.is_ascii_digit())
        {
            return format!("{number}{comma}");
        }
    }
    word.to_string()
}

fn out_of_range(text: &str) -> Error {
    Error::usage_hint(
        format!("'{text}' is out of range"),
        "durations and offsets are at most 100 years",
    )
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
/// use jiff::{SignedDuration, Span, Timestamp};
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

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> String {
        parse_time_from_now(&format!("{text} UTC"))
            .unwrap()
            .to_string()
    }

    #[test]
    fn prefect_start_at_phrases() {
        // tests/cli/deployment/test_deployment_run.py in PrefectHQ/prefect.
        assert_eq!(utc("12-1-2022 5pm"), "2022-12-01T17:00:00Z");
        assert_eq!(utc("1/1/30"), "2030-01-01T00:00:00Z");
        assert_eq!(utc("13/1/2020 13:31"), "2020-01-13T13:31:00Z");
        assert_eq!(utc("January 2nd 2043"), "2043-01-02T00:00:00Z");
        assert_eq!(utc("12/20/2022 1am"), "2022-12-20T01:00:00Z");
        assert_eq!(utc("1-1-2020"), "2020-01-01T00:00:00Z");
        assert_eq!(utc("5 June 2015"), "2015-06-05T00:00:00Z");
        assert_eq!(
            parse_time_from_now("5-17-43 5:30pm UTC")
                .unwrap()
                .to_string(),
            "2043-05-17T17:30:00Z"
        );
        for bad in [
            "foobar",
            "1671483897",
            "Jan 32nd 2023",
            "Octob 1st 2020",
            "",
        ] {
            assert_eq!(
                parse_time_from_now(bad).unwrap_err().exit_code(),
                2,
                "{bad}"
            );
        }
    }

    #[test]
    fn prefect_start_in_spans() {
        let now = Timestamp::now().as_second();
        let secs = |t: &str| parse_time_from_now(t).unwrap().as_second() - now;
        assert!((1199..=1201).contains(&secs("20 minutes")));
        assert!((5 * 86400 - 1..=5 * 86400 + 1).contains(&secs("5 days")));
        assert!((15 * 86400 - 1..=15 * 86400 + 1).contains(&secs("2 weeks & 1 day")));
        assert!((97440 - 1..=97440 + 1).contains(&secs("27 hours + 4 mins")));
        assert!((3599..=3601).contains(&secs("in 1h")));
        let ago = parse_time_ago("2h").unwrap().as_second() - now;
        assert!((-7201..=-7199).contains(&ago));
        let ago = parse_time_ago("2 hours ago").unwrap().as_second() - now;
        assert!((-7201..=-7199).contains(&ago));
        assert!(parse_time_from_now("tomorrow 9am").unwrap().as_second() > now);
    }

    #[test]
    fn huge_values_are_usage_errors() {
        for text in ["1e300", "99999999999999999999d", "inf", "NaN", "-5"] {
            assert_eq!(parse_time_ago(text).unwrap_err().exit_code(), 2, "{text}");
        }
        assert_eq!(
            parse_time_from_now("99999999999999999999w")
                .unwrap_err()
                .exit_code(),
            2
        );
        assert_eq!(parse_time_ago("9999999 days").unwrap_err().exit_code(), 2);
        for text in [
            "1e300",
            "inf",
            "-1",
            "99999999999999999999d",
            "200 years",
            "1 hour ago",
        ] {
            assert_eq!(parse_duration(text).unwrap_err().exit_code(), 2, "{text}");
        }
    }
}
