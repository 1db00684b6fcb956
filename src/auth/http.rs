//! HTTP plumbing shared by token acquisition (`auth`) and the Graph client (`graph`): the reqwest client with the
//! operator's TLS trust, and `Retry-After` parsing. It lives in `auth`, the lower layer, so `graph` depends on
//! `auth` and never the other way round.

use chrono::{DateTime, Utc};
use std::time::Duration;

/// reqwest client for Entra and Graph: trusts the system roots plus `extra_ca_pem`, if given.
pub(crate) fn http_client(
    extra_ca_pem: Option<&str>,
    timeout: Option<Duration>,
) -> Result<reqwest::Client, reqwest::Error> {
    http_client_builder(extra_ca_pem, timeout)?.build()
}

/// The builder behind [`http_client`], for callers that need one more setting (e.g. no redirects).
pub(crate) fn http_client_builder(
    extra_ca_pem: Option<&str>,
    timeout: Option<Duration>,
) -> Result<reqwest::ClientBuilder, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("entramail-operator/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10));
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    if let Some(pem) = extra_ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())?;
        builder = builder.tls_certs_merge(certs);
    }
    Ok(builder)
}

/// Longest `Retry-After` we honour. Graph's own guidance shows waits of seconds (SharePoint-backed
/// workloads have been seen sending a few hundred); anything beyond this is treated as a broken header and capped,
/// so one bad value cannot park a reconcile for hours.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// Parses a `Retry-After` header value: delta-seconds or an HTTP-date (relative to `now`).
///
/// - Delta-seconds may be fractional: Microsoft Graph's throttling guidance shows `Retry-After: 2.128`
///   (<https://learn.microsoft.com/graph/throttling>, "Sample response"), although RFC 9110 only defines integers.
///   Accepted: `digits` or `digits.digits`; anything else (signs, exponents, `inf`, `NaN`, junk) is ignored.
/// - An HTTP-date in the past means "retry now" (zero).
/// - Values above [`MAX_RETRY_AFTER`] are capped to it.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Some(delay) = parse_delta_seconds(value) {
        return Some(delay.min(MAX_RETRY_AFTER));
    }
    // HTTP-date (IMF-fixdate, e.g. "Wed, 21 Oct 2015 07:28:00 GMT") is RFC 2822 compatible.
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some(
        (at - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

/// `digits[.digits]` as a duration, without going through floating point (no NaN/overflow cases).
/// More than 9 fractional digits are truncated to nanoseconds; an integer part too large for `u64` saturates.
fn parse_delta_seconds(value: &str) -> Option<Duration> {
    let (int, frac) = match value.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (value, None),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs = int.parse::<u64>().unwrap_or(u64::MAX);
    let nanos = match frac {
        None => 0,
        Some(frac) if !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit()) => frac
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(9)
            .fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0')),
        Some(_) => return None,
    };
    Some(Duration::new(secs, 0).saturating_add(Duration::from_nanos(u64::from(nanos))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_retry_after_forms() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:50Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn parses_fractional_retry_after_like_graph_sends() {
        let now = Utc::now();
        // The value in learn.microsoft.com/graph/throttling's sample 429.
        assert_eq!(
            parse_retry_after("2.128", now),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(
            parse_retry_after(" 0.5 ", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_retry_after("1.0", now), Some(Duration::from_secs(1)));
        // nanosecond precision, extra digits truncated
        assert_eq!(
            parse_retry_after("0.1234567891", now),
            Some(Duration::from_nanos(123_456_789))
        );
    }

    #[test]
    fn ignores_malformed_retry_after() {
        let now = Utc::now();
        for bad in [
            "", ".", "1.", ".5", "1.2.3", "+1", "-0.5", "1e3", "inf", "NaN", "0x10", "1 000",
            "2,5", "½", "１",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn caps_absurd_retry_after() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:50Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("86400", now), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("99999999999999999999999999.5", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2099 00:00:00 GMT", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("600", now), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("599.999", now),
            Some(Duration::from_millis(599_999))
        );
    }

    proptest! {
        #[test]
        fn retry_after_parser_never_panics_and_stays_capped(s in "\\PC{0,24}") {
            if let Some(d) = parse_retry_after(&s, Utc::now()) {
                prop_assert!(d <= MAX_RETRY_AFTER);
            }
        }
    }
}
