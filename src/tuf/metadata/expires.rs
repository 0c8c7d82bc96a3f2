//! `expires`: an RFC 3339 time kept byte-exact, because the string is signed (docs/protocol.md §4.2).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

use crate::tuf::error::{excerpt, Error};

/// An expiry time: the original string (clients write their local offset and trimmed
/// nanoseconds, and the signature covers those exact bytes) plus the instant it denotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expires {
    text: String,
    at: DateTime<Utc>,
}

impl Expires {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` with 1–9 fraction digits, as Go's
    /// `time.Time` JSON produces; anything looser (lower-case `t`/`z`, a space, leap seconds) is
    /// refused so that every accepted value also parses in Go clients.
    pub fn parse(s: &str) -> Result<Expires, Error> {
        let invalid = || Error::InvalidExpires(excerpt(s));
        if !is_go_rfc3339(s.as_bytes()) {
            return Err(invalid());
        }
        let at = DateTime::parse_from_rfc3339(s).map_err(|_| invalid())?;
        Ok(Expires {
            text: s.to_owned(),
            at: at.with_timezone(&Utc),
        })
    }

    /// An expiry written like the reference server writes its own: UTC, nanoseconds with
    /// trailing zeros trimmed (none when zero), `Z` — e.g. `2029-11-21T22:16:31.204646162Z`.
    /// Years beyond 9999 cannot be written in this form; callers use times near now.
    pub fn from_datetime(t: DateTime<Utc>) -> Expires {
        let nanos = t.timestamp_subsec_nanos().min(999_999_999); // leap-second nanos folded
        let fraction = if nanos == 0 {
            String::new()
        } else {
            format!(".{nanos:09}").trim_end_matches('0').to_owned()
        };
        Expires {
            text: format!("{}{fraction}Z", t.format("%Y-%m-%dT%H:%M:%S")),
            at: t,
        }
    }

    /// The instant.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// The string exactly as in the metadata.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Expires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Expires {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Expires::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The shape check; chrono then checks the ranges of each field.
fn is_go_rfc3339(b: &[u8]) -> bool {
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let byte = |i: usize, c: u8| b.get(i) == Some(&c);
    let date_time = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
        .into_iter()
        .all(digit)
        && byte(4, b'-')
        && byte(7, b'-')
        && byte(10, b'T')
        && byte(13, b':')
        && byte(16, b':')
        && b[17] <= b'5'; // no leap second: Go refuses second 60
    if !date_time {
        return false;
    }
    let mut i = 19;
    if byte(i, b'.') {
        let n = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&n) {
            return false;
        }
        i += 1 + n;
    }
    match b.get(i) {
        Some(b'Z') => b.len() == i + 1,
        Some(b'+' | b'-') => {
            b.len() == i + 6
                && digit(i + 1)
                && digit(i + 2)
                && byte(i + 3, b':')
                && digit(i + 4)
                && digit(i + 5)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_string_and_reads_offsets() {
        let e = Expires::parse("2029-11-21T23:16:31.2046+01:00").expect("valid");
        assert_eq!(e.as_str(), "2029-11-21T23:16:31.2046+01:00");
        assert_eq!(
            e.at(),
            Expires::parse("2029-11-21T22:16:31.2046Z")
                .expect("valid")
                .at()
        );
    }

    #[test]
    fn refuses_what_go_refuses() {
        for s in [
            "",
            "2029-11-21",
            "2029-11-21T22:16:31",
            "2029-11-21t22:16:31Z",
            "2029-11-21 22:16:31Z",
            "2029-11-21T22:16:31z",
            "2029-11-21T22:16:60Z",
            "2029-11-21T22:16:31.Z",
            "2029-11-21T22:16:31.1234567890Z",
            "2029-13-21T22:16:31Z",
            "2029-11-21T22:16:31+0100",
            "2029-11-21T22:16:31Zjunk",
            "2029-02-30T00:00:00Z",
            "2029-11-21T24:00:00Z",
        ] {
            assert!(Expires::parse(s).is_err(), "{s:?} must be refused");
        }
    }

    #[test]
    fn writes_like_go() {
        let t = Expires::parse("2029-11-21T22:16:31.204646100Z")
            .expect("valid")
            .at();
        let e = Expires::from_datetime(t);
        assert_eq!(e.as_str(), "2029-11-21T22:16:31.2046461Z");
        assert_eq!(Expires::parse(e.as_str()).expect("round trip").at(), t);
        let whole = Expires::parse("2030-01-01T00:00:00Z").expect("valid").at();
        assert_eq!(
            Expires::from_datetime(whole).as_str(),
            "2030-01-01T00:00:00Z"
        );
    }
}
