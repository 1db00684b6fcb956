//! A Go-style duration string (`"4320h"`, `"1h30m"`) as used across Kubernetes APIs.
//!
//! The original text is kept so that a value read from the apiserver serialises back unchanged
//! (no spurious diffs on server-side apply); the parsed value is computed on deserialisation.

use std::{borrow::Cow, fmt, str::FromStr, time::Duration as StdDuration};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Regex the apiserver enforces on every duration field, so CEL's `duration()` never sees garbage.
/// Units are deliberately limited to what makes sense for credential lifetimes.
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(h|m|s|ms))+$";
/// Keeps values short enough that they cannot overflow and CEL cost estimates stay small.
pub const DURATION_MAX_LENGTH: u32 = 24;

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("duration is empty")]
    Empty,
    #[error(
        "duration {0:?} is not a number followed by a unit (h, m, s, ms), e.g. \"4320h\" or \"1h30m\""
    )]
    Malformed(String),
    #[error("duration {0:?} is too large")]
    Overflow(String),
}

/// A non-negative duration written the Go way (`time.ParseDuration`): e.g. `"4320h"`, `"90m"`, `"1h30m"`.
#[derive(Clone, PartialEq, Eq)]
pub struct GoDuration {
    text: String,
    value: StdDuration,
}

impl GoDuration {
    /// The parsed value.
    pub fn as_std(&self) -> StdDuration {
        self.value
    }

    /// The text exactly as written by the user.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Builds a duration of whole hours (used for defaults), written as `"<n>h"`.
    pub fn from_hours(hours: u64) -> Self {
        Self {
            text: format!("{hours}h"),
            value: StdDuration::from_secs(hours.saturating_mul(3600)),
        }
    }
}

impl FromStr for GoDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self {
            text: s.to_owned(),
            value: parse(s)?,
        })
    }
}

/// Parses the subset of Go's duration syntax allowed by [`DURATION_PATTERN`] (plus `us`/`ns`),
/// with checked arithmetic so that absurd values are an error instead of a panic.
fn parse(s: &str) -> Result<StdDuration, DurationError> {
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let malformed = || DurationError::Malformed(s.to_owned());
    let overflow = || DurationError::Overflow(s.to_owned());
    let mut rest = s;
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(malformed)?;
        let (number, tail) = rest.split_at(num_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        rest = tail;
        let unit_nanos: u128 = match unit {
            "h" => 3_600_000_000_000,
            "m" => 60_000_000_000,
            "s" => 1_000_000_000,
            "ms" => 1_000_000,
            "us" | "µs" => 1_000,
            "ns" => 1,
            _ => return Err(malformed()),
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() || (number.contains('.') && frac.is_empty()) {
            return Err(malformed());
        }
        let whole: u128 = whole.parse().map_err(|_| overflow())?;
        let mut nanos = whole.checked_mul(unit_nanos).ok_or_else(overflow)?;
        // Fractions: scale digit by digit; precision below 1ns is dropped like Go does.
        let mut scale = unit_nanos;
        for digit in frac.chars() {
            let d = u128::from(digit.to_digit(10).ok_or_else(malformed)?);
            scale /= 10;
            nanos = nanos.checked_add(d * scale).ok_or_else(overflow)?;
        }
        total_nanos = total_nanos.checked_add(nanos).ok_or_else(overflow)?;
    }
    let secs = u64::try_from(total_nanos / 1_000_000_000).map_err(|_| overflow())?;
    // The remainder is < 1e9 and therefore always fits.
    let sub = (total_nanos % 1_000_000_000) as u32;
    Ok(StdDuration::new(secs, sub))
}

impl fmt::Debug for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GoDuration({:?})", self.text)
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for GoDuration {
    fn schema_name() -> Cow<'static, str> {
        "GoDuration".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "maxLength": DURATION_MAX_LENGTH,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> StdDuration {
        s.parse::<GoDuration>().unwrap().as_std()
    }

    #[test]
    fn parses_go_style_durations() {
        assert_eq!(d("4320h"), StdDuration::from_secs(4320 * 3600));
        assert_eq!(d("1h30m"), StdDuration::from_secs(5400));
        assert_eq!(d("1.5h"), StdDuration::from_secs(5400));
        assert_eq!(d("250ms"), StdDuration::from_millis(250));
        assert_eq!(d("0s"), StdDuration::ZERO);
        assert_eq!(d("2m3s"), StdDuration::from_secs(123));
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in [
            "",
            "h",
            "10",
            "10d",
            "1.h",
            ".5h",
            "-1h",
            "1h 2m",
            "99999999999999999999999999999999999999h",
        ] {
            assert!(
                bad.parse::<GoDuration>().is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn serialises_the_original_text() {
        let v: GoDuration = serde_json::from_str("\"1h30m\"").unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"1h30m\"");
        assert_eq!(GoDuration::from_hours(4320).as_str(), "4320h");
    }
}
