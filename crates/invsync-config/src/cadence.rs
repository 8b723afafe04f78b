//! Schedule cadences: `every = "15m"` … `"24h"` (product.md rule 5), or `cron` +
//! `timezone` held to the same minimum gap between two runs.

use crate::model::Cadence;
use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use std::time::Duration;

/// The shortest interval a schedule may have.
pub const MIN_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// The longest `every` interval.
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// How far ahead a cron expression is checked for its minimum gap: a year and a day covers
/// both DST transitions of every time zone and every month length.
const CRON_HORIZON_DAYS: i64 = 367;

/// Parses and range-checks `every`.
pub fn parse_every(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| {
        format!("`{text}` is not a duration ({e}); write it like \"15m\", \"6h\" or \"24h\"")
    })?;
    if d < MIN_INTERVAL || d > MAX_INTERVAL {
        return Err(format!(
            "`{text}` is outside the allowed range: schedules run every 15m to 24h"
        ));
    }
    Ok(d)
}

fn parser() -> CronParser {
    // Seconds optional: `0 0 3 * * *` (seconds first, as tokio-cron-scheduler writes it)
    // and classic five-field `0 3 * * *` both work.
    CronParser::builder().seconds(Seconds::Optional).build()
}

fn parse_cron_expr(expr: &str) -> Result<Cron, String> {
    parser()
        .parse(expr)
        .map_err(|e| format!("`{expr}` is not a valid cron expression: {e}"))
}

/// Parses a cron cadence and checks that two consecutive runs are never less than
/// [`MIN_INTERVAL`] apart, in real (UTC) time, across a whole year from `from` —
/// DST transitions included.
pub fn parse_cron(expr: &str, timezone: Tz, from: DateTime<Utc>) -> Result<Cadence, String> {
    let cron = parse_cron_expr(expr)?;
    let min_gap = TimeDelta::from_std(MIN_INTERVAL).unwrap_or(TimeDelta::MAX);
    let horizon = from + TimeDelta::days(CRON_HORIZON_DAYS);
    let mut previous: Option<DateTime<Utc>> = None;
    let mut fired = false;
    for next in cron.iter_after(from.with_timezone(&timezone)) {
        let next = next.with_timezone(&Utc);
        if next > horizon {
            break;
        }
        fired = true;
        // Around a DST fall-back the iterator can yield the same instant twice; it is one
        // run, not two.
        if previous.is_some_and(|prev| next <= prev) {
            continue;
        }
        if let Some(prev) = previous
            && next - prev < min_gap
        {
            return Err(format!(
                "`{expr}` runs {} after {} ({timezone}); schedules need at least 15m between runs",
                humantime::format_duration((next - prev).to_std().unwrap_or_default()),
                prev.with_timezone(&timezone).format("%Y-%m-%d %H:%M:%S %Z"),
            ));
        }
        previous = Some(next);
    }
    if !fired {
        return Err(format!("`{expr}` does not run within the next year"));
    }
    Ok(Cadence::Cron {
        expr: expr.to_owned(),
        timezone,
    })
}

impl Cadence {
    /// The first fire time strictly after `after`. `None` only for a cron expression with
    /// no future occurrence.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Cadence::Every(d) => Some(after + TimeDelta::from_std(*d).ok()?),
            Cadence::Cron { expr, timezone } => {
                let cron = parse_cron_expr(expr).ok()?;
                cron.find_next_occurrence(&after.with_timezone(timezone), false)
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
            }
        }
    }

    /// `every 15m` or `cron "0 0 3 * * *" (Europe/Berlin)`.
    pub fn describe(&self) -> String {
        match self {
            Cadence::Every(d) => format!("every {}", humantime::format_duration(*d)),
            Cadence::Cron { expr, timezone } => format!("cron \"{expr}\" ({timezone})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn every_accepts_15m_to_24h() {
        let cases: &[(&str, Result<u64, &str>)] = &[
            ("15m", Ok(900)),
            ("6h", Ok(6 * 3600)),
            ("24h", Ok(86400)),
            ("1day", Ok(86400)),
            ("1h 30m", Ok(5400)),
            ("14m 59s", Err("outside the allowed range")),
            ("5m", Err("outside the allowed range")),
            ("24h 1s", Err("outside the allowed range")),
            ("2d", Err("outside the allowed range")),
            ("soon", Err("is not a duration")),
            ("15", Err("is not a duration")),
        ];
        for (text, want) in cases {
            match (parse_every(text), want) {
                (Ok(d), Ok(secs)) => assert_eq!(d.as_secs(), *secs, "{text}"),
                (Err(e), Err(part)) => assert!(e.contains(part), "{text}: {e}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn cron_is_held_to_the_minimum_gap() {
        let from = at(2026, 1, 1, 0, 0);
        let berlin: Tz = "Europe/Berlin".parse().expect("tz");
        let cases: &[(&str, Result<(), &str>)] = &[
            ("0 0 3 * * *", Ok(())),
            ("0 3 * * *", Ok(())),
            ("0 */15 * * * *", Ok(())),
            ("0 0 9-17 * * MON-FRI", Ok(())),
            ("0 */5 * * * *", Err("schedules need at least 15m")),
            ("* * * * *", Err("schedules need at least 15m")),
            ("0 0,10 3 * * *", Err("runs 10m after")),
            ("0 0 3 30 2 *", Err("does not run within the next year")),
            ("0 0 25 * * *", Err("is not a valid cron expression")),
            ("hourly please", Err("is not a valid cron expression")),
        ];
        for (expr, want) in cases {
            match (parse_cron(expr, berlin, from), want) {
                (Ok(_), Ok(())) => {}
                (Err(e), Err(part)) => assert!(e.contains(part), "{expr}: {e}"),
                (got, want) => panic!("{expr}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn cron_next_fire_follows_the_time_zone_across_dst() {
        let berlin: Tz = "Europe/Berlin".parse().expect("tz");
        let daily = parse_cron("0 0 3 * * *", berlin, at(2026, 1, 1, 0, 0)).expect("valid");
        // Winter: 03:00 CET is 02:00 UTC; summer (after 2026-03-29): 03:00 CEST is 01:00 UTC.
        assert_eq!(
            daily.next_after(at(2026, 3, 27, 12, 0)),
            Some(at(2026, 3, 28, 2, 0))
        );
        assert_eq!(
            daily.next_after(at(2026, 3, 28, 12, 0)),
            Some(at(2026, 3, 29, 1, 0))
        );
        assert_eq!(
            daily.next_after(at(2026, 10, 24, 12, 0)),
            Some(at(2026, 10, 25, 2, 0))
        );
    }

    #[test]
    fn every_next_is_one_interval_later() {
        let c = Cadence::Every(Duration::from_secs(900));
        assert_eq!(
            c.next_after(at(2026, 1, 1, 0, 0)),
            Some(at(2026, 1, 1, 0, 15))
        );
        assert_eq!(c.describe(), "every 15m");
    }
}
