//! `--schedule` times: every `--interval`, or each time of a five-field `--cron` expression
//! (minute hour day-of-month month day-of-week, in local time, as cron reads them).

use std::time::Duration;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use pf_common::Error;

/// When local scheduled runs start.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Every so often, the first run right away.
    Interval(Duration),
    /// At each matching minute.
    Cron(Cron),
}

impl Schedule {
    pub fn interval(every: Duration) -> Result<Schedule, Error> {
        if every < Duration::from_secs(1) {
            return Err(Error::usage("--interval must be at least 1s"));
        }
        Ok(Schedule::Interval(every))
    }

    pub fn cron(expr: &str) -> Result<Schedule, Error> {
        Cron::parse(expr).map(Schedule::Cron)
    }

    /// The start time of the next run after a run that started at `previous` (None: the first).
    pub fn next(&self, previous: Option<Timestamp>, now: Timestamp) -> Timestamp {
        match self {
            Schedule::Interval(every) => match previous {
                None => now,
                // Runs that overran their slot start at once, without piling up.
                Some(p) => {
                    (p + SignedDuration::try_from(*every).unwrap_or(SignedDuration::MAX)).max(now)
                }
            },
            Schedule::Cron(cron) => cron.next_after(previous.unwrap_or(now).max(now)),
        }
    }
}

/// A parsed cron expression: the allowed values of each field as bit sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    any_day: bool,
    any_weekday: bool,
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    pub fn parse(expr: &str) -> Result<Cron, Error> {
        let expanded = match expr.trim() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let bad = |why: String| {
            Error::usage_hint(
                format!("invalid --cron '{expr}': {why}"),
                "five fields: minute hour day-of-month month day-of-week, e.g. '*/15 * * * *' or '0 3 * * mon-fri'",
            )
        };
        if fields.len() != 5 {
            return Err(bad(format!("{} fields, not 5", fields.len())));
        }
        let minutes = field(fields[0], 0, 59, &[]).map_err(&bad)?;
        let hours = field(fields[1], 0, 23, &[]).map_err(&bad)?;
        let days = field(fields[2], 1, 31, &[]).map_err(&bad)?;
        let months = field(fields[3], 1, 12, MONTHS).map_err(&bad)?;
        let mut weekdays = field(fields[4], 0, 7, WEEKDAYS).map_err(&bad)?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1; // 7 is Sunday too
        }
        Ok(Cron {
            minutes,
            hours,
            days,
            months,
            weekdays,
            any_day: fields[2] == "*",
            any_weekday: fields[4] == "*",
        })
    }

    fn day_matches(&self, dt: DateTime) -> bool {
        let day = self.days & (1 << dt.day()) != 0;
        let weekday = self.weekdays & (1 << dt.weekday().to_sunday_zero_offset()) != 0;
        match (self.any_day, self.any_weekday) {
            // Both restricted: cron runs on either (the classic OR rule).
            (false, false) => day || weekday,
            _ => day && weekday,
        }
    }

    /// The first matching minute strictly after `after`, in local time.
    pub fn next_after(&self, after: Timestamp) -> Timestamp {
        let tz = TimeZone::system();
        let start = after.to_zoned(tz.clone()).datetime();
        let mut dt = start
            .with()
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .expect("valid time")
            + 1.minute();
        // At most a few years of days/hours/minutes; every expression matches within that.
        for _ in 0..200_000 {
            if self.months & (1 << dt.month()) == 0 {
                dt = dt
                    .first_of_month()
                    .with()
                    .hour(0)
                    .minute(0)
                    .build()
                    .expect("valid")
                    + 1.month();
            } else if !self.day_matches(dt) {
                dt = dt.with().hour(0).minute(0).build().expect("valid") + 1.day();
            } else if self.hours & (1 << dt.hour()) == 0 {
                dt = dt.with().minute(0).build().expect("valid") + 1.hour();
            } else if self.minutes & (1 << dt.minute()) == 0 {
                dt += 1.minute();
            } else {
                return dt.to_zoned(tz).map(|z| z.timestamp()).unwrap_or(after);
            }
        }
        after
    }
}

/// One field: `*`, `N`, `A-B`, `*/S`, `A-B/S`, `N/S`, lists of those, and names.
fn field(text: &str, min: u8, max: u8, names: &[&str]) -> Result<u64, String> {
    let value = |s: &str| -> Result<u8, String> {
        let lower = s.to_ascii_lowercase();
        if let Some(i) = names.iter().position(|n| *n == lower) {
            return Ok(i as u8 + if names.len() == 12 { 1 } else { 0 });
        }
        let n: u8 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
        if n < min || n > max {
            return Err(format!("{n} is outside {min}-{max}"));
        }
        Ok(n)
    };
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u8>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or(format!("bad step in '{part}'"))?,
            ),
            None => (part, 1),
        };
        let (lo, hi) = match range {
            "*" => (min, max),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if part.contains('/') => (value(r)?, max),
                None => (value(r)?, value(r)?),
            },
        };
        if lo > hi {
            return Err(format!("empty range '{range}'"));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v = match v.checked_add(step) {
                Some(next) => next,
                None => break,
            };
        }
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(expr: &str, after: &str) -> String {
        let tz = TimeZone::system();
        let after: DateTime = after.parse().unwrap();
        let ts = after.to_zoned(tz.clone()).unwrap().timestamp();
        Cron::parse(expr)
            .unwrap()
            .next_after(ts)
            .to_zoned(tz)
            .datetime()
            .to_string()
    }

    #[test]
    fn cron_next_times() {
        assert_eq!(
            next("*/15 * * * *", "2024-05-01T10:07:30"),
            "2024-05-01T10:15:00"
        );
        assert_eq!(next("0 3 * * *", "2024-05-01T10:07"), "2024-05-02T03:00:00");
        assert_eq!(
            next("0 0 * * mon-fri", "2024-05-03T10:00"),
            "2024-05-06T00:00:00"
        );
        assert_eq!(
            next("30 8 1 jan *", "2024-05-03T10:00"),
            "2025-01-01T08:30:00"
        );
        assert_eq!(next("@hourly", "2024-05-01T10:00"), "2024-05-01T11:00:00");
    }

    #[test]
    fn cron_errors_are_usage_errors() {
        assert!(Cron::parse("* * *").is_err());
        assert!(Cron::parse("61 * * * *").is_err());
        assert!(Cron::parse("*/0 * * * *").is_err());
    }

    #[test]
    fn intervals_start_now_then_keep_pace() {
        let s = Schedule::interval(Duration::from_secs(60)).unwrap();
        let now = Timestamp::now();
        assert_eq!(s.next(None, now), now);
        let p = now - SignedDuration::from_secs(10);
        assert_eq!(s.next(Some(p), now), p + SignedDuration::from_secs(60));
    }
}
