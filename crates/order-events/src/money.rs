//! Money as the contract writes it: a decimal string with two places (`"249.00"`), never a
//! float, so every consumer shows exactly the amount the Order Service computed.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// An exact, non-negative amount with two decimal places, kept as its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Money(String);

/// What a valid amount looks like; the JSON Schema carries the same pattern.
pub const PATTERN: &str = r"^[0-9]+\.[0-9]{2}$";

impl Money {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Money {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let valid = text.split_once('.').is_some_and(|(units, cents)| {
            !units.is_empty()
                && units.bytes().all(|byte| byte.is_ascii_digit())
                && cents.len() == 2
                && cents.bytes().all(|byte| byte.is_ascii_digit())
        });
        if valid {
            Ok(Self(text))
        } else {
            Err(format!("{text:?} is not a decimal string with two places"))
        }
    }
}

/// The producer's side: the Order Service stores prices as `NUMERIC(_, 2)`, whose decimals
/// always print with two places. Written exactly as the decimal prints, as it always was.
#[cfg(feature = "decimal")]
impl From<rust_decimal::Decimal> for Money {
    fn from(amount: rust_decimal::Decimal) -> Self {
        Self(amount.to_string())
    }
}

impl From<Money> for String {
    fn from(money: Money) -> Self {
        money.0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for Money {
    fn schema_name() -> Cow<'static, str> {
        "Money".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An exact amount: a decimal string with two places, never a float.",
            "type": "string",
            "pattern": PATTERN,
            "examples": ["249.00"],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_needs_two_decimal_places() {
        for good in ["0.00", "249.00", "1000000.99"] {
            assert!(Money::try_from(good.to_owned()).is_ok(), "{good}");
        }
        for bad in [
            "249", "249.0", ".50", "-1.00", "1,00", "1.000", "abc.de", "",
        ] {
            assert!(Money::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_json_number_is_refused() {
        assert!(serde_json::from_str::<Money>("498.0").is_err());
        let money: Money = serde_json::from_str("\"498.00\"").unwrap();
        assert_eq!(money.to_string(), "498.00");
    }
}
