//! The next due time of a schedule once a slot is claimed.

use chrono::{DateTime, TimeDelta, Utc};
use invsync_config::Cadence;

/// The slot after the one due at `due`, claimed at `now`.
///
/// * `every`: one interval after the slot, so the cadence does not drift by however late
///   each claim was — unless that is already past (the daemon was down, or the loop was
///   late by more than an interval): then one interval from now. After downtime a
///   schedule therefore runs once, not once per missed slot.
/// * `cron`: the next occurrence strictly after now, in the schedule's time zone (croner
///   runs a local time that DST skips at the jump, and a repeated local time once).
pub fn next_due(cadence: &Cadence, due: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    match cadence {
        Cadence::Every(interval) => {
            let step = TimeDelta::from_std(*interval).unwrap_or(TimeDelta::minutes(15));
            let next = due + step;
            if next > now { next } else { now + step }
        }
        // An expression validated at load always has a next occurrence; should it not, try
        // again in a day rather than spinning.
        Cadence::Cron { .. } => cadence.next_after(now).unwrap_or(now + TimeDelta::days(1)),
    }
}

/// About how long a slot lasts, for deciding when a schedule is overdue.
pub fn interval_near(cadence: &Cadence, due: DateTime<Utc>) -> TimeDelta {
    match cadence {
        Cadence::Every(interval) => {
            TimeDelta::from_std(*interval).unwrap_or(TimeDelta::minutes(15))
        }
        Cadence::Cron { .. } => cadence
            .next_after(due)
            .map(|next| next - due)
            .unwrap_or(TimeDelta::days(1)),
    }
}

/// Where a never-run or re-configured schedule starts: due now if it never ran, else one
/// slot after its last start under the new cadence (at once if that is already past).
pub fn first_due(
    cadence: &Cadence,
    last_started: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    match last_started {
        None => now,
        Some(last) => {
            // A time in the past is simply due: the next look claims it.
            match cadence {
                Cadence::Every(interval) => {
                    last + TimeDelta::from_std(*interval).unwrap_or(TimeDelta::minutes(15))
                }
                Cadence::Cron { .. } => cadence.next_after(last).unwrap_or(now),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::time::Duration;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, h, m, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn every_keeps_its_cadence_and_coalesces_missed_slots() {
        let c = Cadence::Every(Duration::from_secs(900));
        assert_eq!(next_due(&c, at(10, 0), at(10, 0)), at(10, 15), "on time");
        assert_eq!(
            next_due(&c, at(10, 0), at(10, 3)),
            at(10, 15),
            "a late claim does not drift the cadence"
        );
        assert_eq!(
            next_due(&c, at(10, 0), at(13, 7)),
            at(13, 22),
            "after downtime: once, then one interval on"
        );
    }

    #[test]
    fn first_due_after_a_cadence_change() {
        let hourly = Cadence::Every(Duration::from_secs(3600));
        assert_eq!(
            first_due(&hourly, None, at(10, 0)),
            at(10, 0),
            "never ran: due now"
        );
        assert_eq!(first_due(&hourly, Some(at(9, 30)), at(10, 0)), at(10, 30));
        assert_eq!(
            first_due(&hourly, Some(at(5, 0)), at(10, 0)),
            at(6, 0),
            "already past: due now (it is before now)"
        );
    }
}
