//! Values that are valid by construction: past the HTTP edge a `Price` with three decimals or
//! a negative `Stock` cannot exist.

use rust_decimal::Decimal;
use serde_json::value::RawValue;
use shop_contract::product as contract;
use shop_http::problem::FieldError;

/// Money: more than 0, at most two decimals, at most `NUMERIC(12,2)`'s 9,999,999,999.99. Parsed
/// from the JSON text itself (a string or a number) so no binary float ever rounds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price(Decimal);

impl Price {
    /// The largest value `NUMERIC(12,2)` holds.
    pub const MAX: Decimal = contract::PRICE_MAX;

    /// From a JSON value as sent: `"19.99"` or `19.99`.
    pub fn from_json(field: &str, raw: &RawValue) -> Result<Self, FieldError> {
        let text = json_number_text(raw)
            .ok_or_else(|| FieldError::new(field, "must be a decimal number such as \"19.99\""))?;
        Self::parse(field, &text)
    }

    pub fn parse(field: &str, text: &str) -> Result<Self, FieldError> {
        let value = parse_decimal(field, text)?;
        if value <= Decimal::ZERO {
            return Err(FieldError::new(field, "must be greater than 0"));
        }
        if value > Self::MAX {
            return Err(FieldError::new(field, "must be at most 9999999999.99"));
        }
        Ok(Self(value))
    }

    pub fn value(self) -> Decimal {
        self.0
    }
}

/// Any two-place decimal, as the listing's price filters take it.
pub const DECIMAL_PATTERN: &str = r"^-?[0-9]+(\.[0-9]{1,2})?$";

/// A decimal with at most two places, in canonical two-place form; used for prices and for the
/// price filters of the listing.
pub fn parse_decimal(field: &str, text: &str) -> Result<Decimal, FieldError> {
    let invalid = || FieldError::new(field, "must be a decimal number such as \"19.99\"");
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str_exact(text)
    };
    let mut value = parsed.map_err(|_| invalid())?;
    if !text
        .trim_start_matches('-')
        .starts_with(|c: char| c.is_ascii_digit())
    {
        // "+1", ".5", " 1": rust_decimal is lenient, the API is not.
        return Err(invalid());
    }
    if value.normalize().scale() > 2 {
        return Err(FieldError::new(field, "must have at most 2 decimal places"));
    }
    value.rescale(2);
    Ok(value)
}

/// A listing's price bound (`min_price`, `max_price`): any two-place decimal the document's
/// [`DECIMAL_PATTERN`] allows, however many digits. A bound beyond every price a product can
/// have filters exactly as one just beyond [`Price::MAX`] does, so it is clamped there rather
/// than refused for not fitting a `Decimal` (which holds 28 digits).
pub fn parse_price_bound(field: &str, text: &str) -> Result<Decimal, FieldError> {
    let magnitude = text.strip_prefix('-').unwrap_or(text);
    let whole = magnitude.split('.').next().unwrap_or_default();
    let significant = whole.trim_start_matches('0');
    let beyond_any_price = Decimal::from(100_000_000_000_i64); // 10^11 > Price::MAX
    if significant.len() > 11 && whole.bytes().all(|byte| byte.is_ascii_digit()) {
        // Still checked for its decimals, the one other rule of the pattern.
        parse_decimal(field, &format!("0{}", &magnitude[whole.len()..]))?;
        return Ok(if text.starts_with('-') {
            -beyond_any_price
        } else {
            beyond_any_price
        });
    }
    parse_decimal(field, text)
}

/// The text of a JSON string or number, or `None` for any other JSON type.
fn json_number_text(raw: &RawValue) -> Option<String> {
    let text = raw.get().trim();
    if text.starts_with('"') {
        serde_json::from_str::<String>(text).ok()
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        Some(text.to_owned())
    } else {
        None
    }
}

/// Text that PostgreSQL can store (no NUL) and that fits `max_chars`.
fn checked_text(
    field: &str,
    raw: &str,
    max_chars: usize,
    allow_blank: bool,
) -> Result<(), FieldError> {
    if !allow_blank && raw.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if raw.chars().count() > max_chars {
        return Err(FieldError::new(
            field,
            format!("must be at most {max_chars} characters long"),
        ));
    }
    if raw.contains('\0') {
        return Err(FieldError::new(field, "must not contain NUL characters"));
    }
    Ok(())
}

/// 1 to 200 characters, not blank; stored exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductName(String);

impl ProductName {
    pub const MAX_CHARS: usize = contract::NAME_MAX_CHARS;

    pub fn parse(raw: String) -> Result<Self, FieldError> {
        checked_text("name", &raw, Self::MAX_CHARS, false)?;
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Up to 5,000 characters, possibly empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub const MAX_CHARS: usize = contract::DESCRIPTION_MAX_CHARS;

    pub fn parse(raw: String) -> Result<Self, FieldError> {
        checked_text("description", &raw, Self::MAX_CHARS, true)?;
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A search term for the listing: like a name, at most 200 characters.
pub fn parse_search(raw: &str) -> Result<String, FieldError> {
    checked_text("name", raw, ProductName::MAX_CHARS, true)?;
    Ok(raw.to_owned())
}

/// Units on hand: 0 to 1,000,000,000 (so stock plus any reservation fits PostgreSQL's INTEGER).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stock(i32);

impl Stock {
    pub const MAX: i64 = contract::STOCK_MAX;

    pub fn parse(raw: i64) -> Result<Self, FieldError> {
        if raw < 0 {
            return Err(FieldError::new("quantity", "must be at least 0"));
        }
        if raw > Self::MAX {
            return Err(FieldError::new(
                "quantity",
                format!("must be at most {}", Self::MAX),
            ));
        }
        Ok(Self(i32::try_from(raw).expect("bounded above")))
    }

    pub fn value(self) -> i32 {
        self.0
    }
}

/// Units one reservation may hold: 1 to 10,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservedQuantity(i32);

impl ReservedQuantity {
    pub const MAX: i64 = contract::RESERVED_QUANTITY_MAX;

    pub fn parse(raw: i64) -> Result<Self, FieldError> {
        FieldError::count_in("quantity", raw, 1, Self::MAX).map(Self)
    }

    pub fn value(self) -> i32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    fn price(text: &str) -> Result<String, FieldError> {
        Price::from_json("price", &raw(text)).map(|price| price.value().to_string())
    }

    #[test]
    fn prices_are_exact_from_strings_and_numbers() {
        assert_eq!(price("\"19.99\"").unwrap(), "19.99");
        assert_eq!(price("19.99").unwrap(), "19.99");
        assert_eq!(price("20").unwrap(), "20.00");
        assert_eq!(price("\"0.1\"").unwrap(), "0.10");
        assert_eq!(price("19.990").unwrap(), "19.99");
        assert_eq!(price("1e2").unwrap(), "100.00");
        assert_eq!(price("9999999999.99").unwrap(), "9999999999.99");
        assert_eq!(Price::MAX.to_string(), "9999999999.99");
    }

    #[test]
    fn bad_prices_are_refused_with_a_reason() {
        for bad in [
            "0",
            "-1",
            "\"0.00\"",
            "19.999",
            "\"1.005\"",
            "10000000000",
            "true",
            "null",
            "\"\"",
            "\"abc\"",
            "\" 1\"",
            "\"+1\"",
            "\".5\"",
            "[1]",
            "\"NaN\"",
        ] {
            assert!(price(bad).is_err(), "{bad} must be refused");
        }
        assert_eq!(price("-5").unwrap_err().message, "must be greater than 0");
        assert_eq!(
            price("1.001").unwrap_err().message,
            "must have at most 2 decimal places"
        );
    }

    #[test]
    fn names_are_bounded_and_kept_verbatim() {
        assert!(ProductName::parse(String::new()).is_err());
        assert!(ProductName::parse("   ".into()).is_err());
        assert!(ProductName::parse("a".repeat(201)).is_err());
        assert!(ProductName::parse("nul\0byte".into()).is_err());
        let name = "'; DROP TABLE products; --";
        assert_eq!(ProductName::parse(name.into()).unwrap().as_str(), name);
    }

    #[test]
    fn quantities_are_bounded() {
        assert!(Stock::parse(-1).is_err());
        assert_eq!(Stock::parse(0).unwrap().value(), 0);
        assert!(Stock::parse(Stock::MAX + 1).is_err());
        assert!(ReservedQuantity::parse(0).is_err());
        assert!(ReservedQuantity::parse(10_001).is_err());
        assert_eq!(ReservedQuantity::parse(10_000).unwrap().value(), 10_000);
    }
}
