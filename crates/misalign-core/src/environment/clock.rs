//! The simulated clock's values as an environment file writes them: instants
//! (`2026-06-11T16:40:00`, or `17:00` / `17:00:30` on the day the clock starts) and spans
//! (`10s`, `2m`, `1h`). Times have no zone: they are the inbox's own wall-clock times.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};
use serde::Deserialize;

/// A point on the simulated clock.
pub type SimTime = NaiveDateTime;

/// How instants are written, in files and in observations: the inbox's `Timestamp:` form.
pub const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// An instant as written in the file: a full date and time, or a time of the start's day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Instant {
    At(NaiveDateTime),
    OnStartDay(NaiveTime),
}

impl Instant {
    /// The instant, with a bare time of day taken on `day`.
    pub fn on(self, day: NaiveDate) -> SimTime {
        match self {
            Instant::At(t) => t,
            Instant::OnStartDay(t) => day.and_time(t),
        }
    }
}

impl TryFrom<String> for Instant {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(t) = NaiveDateTime::parse_from_str(s, TIME_FORMAT) {
            return Ok(Instant::At(t));
        }
        for form in ["%H:%M:%S", "%H:%M"] {
            if let Ok(t) = NaiveTime::parse_from_str(s, form) {
                return Ok(Instant::OnStartDay(t));
            }
        }
        Err(format!(
            "`{s}` is not a time: write YYYY-MM-DDTHH:MM:SS, or HH:MM[:SS] for the day the clock starts"
        ))
    }
}

/// The clock's start: a full date and time (a bare time would have no day).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Start(pub SimTime);

impl TryFrom<String> for Start {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        NaiveDateTime::parse_from_str(s.trim(), TIME_FORMAT)
            .map(Start)
            .map_err(|_| {
                format!("`{s}` is not a date and time: write YYYY-MM-DDTHH:MM:SS, as the inbox's Timestamp lines do")
            })
    }
}

/// A span of simulated time: a whole number of seconds, minutes or hours (`10s`, `2m`, `1h`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Span(pub TimeDelta);

impl TryFrom<String> for Span {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let t = s.trim();
        let bad = || {
            format!("`{s}` is not a span of time: write a whole number and s, m or h (`10s`, `2m`, `1h`)")
        };
        let (digits, unit) = t.split_at(t.len().saturating_sub(1));
        let n: i64 = digits.trim().parse().map_err(|_| bad())?;
        let delta = match unit {
            "s" => TimeDelta::try_seconds(n),
            "m" => TimeDelta::try_minutes(n),
            "h" => TimeDelta::try_hours(n),
            _ => None,
        }
        .ok_or_else(bad)?;
        if n < 0 {
            return Err(bad());
        }
        Ok(Span(delta))
    }
}

/// `t` as observations show it.
pub fn show(t: SimTime) -> String {
    t.format(TIME_FORMAT).to_string()
}

/// A `Timestamp:` value of the inbox, if it is one.
pub fn parse_timestamp(s: &str) -> Option<SimTime> {
    NaiveDateTime::parse_from_str(s.trim(), TIME_FORMAT).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_and_spans_as_written() {
        let day = NaiveDate::from_ymd_opt(2026, 6, 11).unwrap();
        let at = Instant::try_from("17:00".to_string()).unwrap().on(day);
        assert_eq!(show(at), "2026-06-11T17:00:00");
        let full = Instant::try_from("2026-06-12T09:00:00".to_string()).unwrap();
        assert_eq!(show(full.on(day)), "2026-06-12T09:00:00");
        assert!(Instant::try_from("5 pm".to_string()).is_err());
        assert_eq!(
            Span::try_from("2m".to_string()).unwrap().0.num_seconds(),
            120
        );
        assert_eq!(
            Span::try_from("10s".to_string()).unwrap().0.num_seconds(),
            10
        );
        for bad in ["2", "m", "-3m", "2 minutes", ""] {
            assert!(Span::try_from(bad.to_string()).is_err(), "{bad}");
        }
        assert!(Start::try_from("16:40".to_string()).is_err());
    }
}
