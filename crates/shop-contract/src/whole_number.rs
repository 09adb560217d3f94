//! JSON integers as JSON Schema counts them. RFC 8259 has one number type and JSON Schema calls
//! `13.0` an integer, so a body field documented as `integer` must take it: use
//! `#[serde(deserialize_with = "whole_number::required")]` on such `i64` fields (`optional` for
//! an `Option<i64>` that may be left out but not `null`). A fraction or a value outside `i64`
//! is refused with the same kind of message serde gives.

use std::fmt;

use serde::Deserializer;
use serde::de::{Error, Unexpected, Visitor};

struct Whole;

impl Visitor<'_> for Whole {
    type Value = i64;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an integer")
    }

    fn visit_i64<E: Error>(self, value: i64) -> Result<i64, E> {
        Ok(value)
    }

    fn visit_u64<E: Error>(self, value: u64) -> Result<i64, E> {
        i64::try_from(value).map_err(|_| E::invalid_value(Unexpected::Unsigned(value), &self))
    }

    fn visit_f64<E: Error>(self, value: f64) -> Result<i64, E> {
        // 2^63 is exactly representable; anything from it up does not fit.
        const LIMIT: f64 = 9_223_372_036_854_775_808.0;
        if value.fract() == 0.0 && (-LIMIT..LIMIT).contains(&value) {
            #[allow(clippy::cast_possible_truncation)]
            Ok(value as i64)
        } else {
            Err(E::invalid_type(Unexpected::Float(value), &self))
        }
    }
}

/// An `i64` from a JSON integer or a number with no fraction.
pub fn required<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    deserializer.deserialize_any(Whole)
}

/// Like [`required`], for a field that may be left out (with `#[serde(default)]`) but not sent
/// as `null`.
pub fn optional<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    required(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::required")]
        n: i64,
    }

    fn parse(json: &str) -> Result<i64, String> {
        serde_json::from_str::<Body>(json)
            .map(|body| body.n)
            .map_err(|error| error.to_string())
    }

    #[test]
    fn integers_with_or_without_a_point() {
        assert_eq!(parse(r#"{"n": 13}"#), Ok(13));
        assert_eq!(parse(r#"{"n": 13.0}"#), Ok(13));
        assert_eq!(parse(r#"{"n": -4e2}"#), Ok(-400));
    }

    /// Schemathesis sent this one: a whole number written with a point, which a parser that
    /// rounds decimals to the nearest double only approximately reads as `…345.5`.
    #[test]
    fn a_large_whole_number_with_a_point_is_read_exactly() {
        assert_eq!(
            parse(r#"{"n": -4464375057753346.0}"#),
            Ok(-4_464_375_057_753_346)
        );
    }

    #[test]
    fn fractions_strings_and_overflow_are_refused() {
        assert!(
            parse(r#"{"n": 13.5}"#)
                .unwrap_err()
                .contains("expected an integer")
        );
        assert!(parse(r#"{"n": "13"}"#).is_err());
        assert!(parse(r#"{"n": null}"#).is_err());
        assert!(parse(r#"{"n": 9223372036854775808}"#).is_err());
        assert!(parse(r#"{"n": 1e19}"#).is_err());
    }
}
