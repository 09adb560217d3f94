//! Values that are valid by construction: past the HTTP edge, a `Username` or `Password` that
//! breaks a rule cannot exist.

use std::fmt;

use shop_contract::user as contract;
use shop_http::problem::FieldError;

/// 3 to 50 characters from `A–Z a–z 0–9 _ . -`. Uniqueness ignores case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub const MIN_CHARS: usize = 3;
    pub const MAX_CHARS: usize = 50;
    /// Allowed besides ASCII letters and digits; `-` last, so it is literal in a regex class.
    const PUNCTUATION: [char; 3] = ['_', '.', '-'];

    fn allowed(c: char) -> bool {
        c.is_ascii_alphanumeric() || Self::PUNCTUATION.contains(&c)
    }

    /// The character rule as a JSON Schema pattern.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let length = raw.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&length) {
            return Err(FieldError::new(
                "username",
                format!(
                    "must be {} to {} characters long",
                    Self::MIN_CHARS,
                    Self::MAX_CHARS
                ),
            ));
        }
        if !raw.chars().all(Self::allowed) {
            return Err(FieldError::new(
                "username",
                "may contain only letters, digits, '_', '.' and '-'",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// At least 8 characters and at most 72 bytes: bcrypt ignores everything past byte 72, so a
/// longer password is refused rather than silently truncated.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = contract::PASSWORD_MIN_CHARS;
    pub const MAX_BYTES: usize = contract::PASSWORD_MAX_BYTES;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.chars().count() < Self::MIN_CHARS {
            return Err(FieldError::new(
                "password",
                format!("must be at least {} characters long", Self::MIN_CHARS),
            ));
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(FieldError::new(
                "password",
                format!("must be at most {} bytes long (UTF-8)", Self::MAX_BYTES),
            ));
        }
        if raw.contains('\0') {
            return Err(FieldError::new(
                "password",
                "must not contain NUL characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(**redacted**)")
    }
}

pub use shop_contract::user::Role;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_pattern_is_the_character_rule() {
        assert_eq!(shop_contract::user::username_pattern(), "^[A-Za-z0-9_.-]*$");
    }

    #[test]
    fn username_length_bounds() {
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse(&"a".repeat(50)).is_ok());
        assert!(Username::parse(&"a".repeat(51)).is_err());
    }

    #[test]
    fn username_rejects_spaces_and_quotes() {
        assert!(Username::parse("bob smith").is_err());
        assert!(Username::parse("bob'--").is_err());
        assert!(Username::parse("bob.smith-2_x").is_ok());
    }

    #[test]
    fn password_bounds_count_bytes_for_bcrypt() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("longenough").is_ok());
        assert!(Password::parse(&"x".repeat(72)).is_ok());
        assert!(Password::parse(&"x".repeat(73)).is_err());
        // 25 three-byte characters: 25 characters but 75 bytes.
        assert!(Password::parse(&"€".repeat(25)).is_err());
    }

    #[test]
    fn password_debug_hides_the_value() {
        let password = Password::parse("correct horse").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }
}
