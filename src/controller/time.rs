//! Conversions between chrono (planner, Graph) and Kubernetes `Time` (jiff), at whole seconds.
//!
//! The apiserver stores `Time` with second precision; keeping sub-second parts would make every status
//! comparison differ and cause a write on every reconcile.

use chrono::{DateTime, TimeZone, Utc};
use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};

/// `now`, truncated to whole seconds.
pub fn now() -> DateTime<Utc> {
    truncate(Utc::now())
}

pub fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_opt(t.timestamp(), 0).single().unwrap_or(t)
}

pub fn to_time(t: DateTime<Utc>) -> Time {
    Time(Timestamp::from_second(t.timestamp()).unwrap_or(Timestamp::UNIX_EPOCH))
}

pub fn from_time(t: &Time) -> DateTime<Utc> {
    Utc.timestamp_opt(t.0.as_second(), 0)
        .single()
        .unwrap_or_default()
}

pub fn to_chrono_delta(d: std::time::Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_at_second_precision() {
        let t = Utc.timestamp_opt(1_800_000_000, 999_000_000).unwrap();
        assert_eq!(from_time(&to_time(t)), truncate(t));
        assert_eq!(truncate(t).timestamp_subsec_nanos(), 0);
    }
}
