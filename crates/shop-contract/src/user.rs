//! The User Service's API: `POST /auth/register`, `POST /auth/login`,
//! `POST /auth/validate-token`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Usernames are 3 to 50 characters: ASCII letters, digits and [`USERNAME_PUNCTUATION`].
pub const USERNAME_MIN_CHARS: usize = 3;
pub const USERNAME_MAX_CHARS: usize = 50;
pub const USERNAME_PUNCTUATION: [char; 3] = ['_', '.', '-'];
/// Passwords: at least 8 characters, at most 72 bytes of UTF-8 (bcrypt's limit), no NUL.
pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_BYTES: usize = 72;

/// What a user may do: customers shop; admins also run the catalogue and fulfil orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Admin => "admin",
        }
    }

    /// The stored text; anything but `admin` is a customer.
    pub fn from_db(value: &str) -> Self {
        if value == "admin" {
            Self::Admin
        } else {
            Self::Customer
        }
    }
}

/// `POST /auth/register`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[cfg_attr(feature = "openapi", salvo(schema(value_type = schemas::Username)))]
    pub username: String,
    #[cfg_attr(feature = "openapi", salvo(schema(value_type = schemas::Password)))]
    pub password: String,
}

/// An account as clients see it; never the password hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema), salvo(schema(name = User)))]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Credentials, as JSON or as the OAuth2 password form (`grant_type`, `scope` and `client_id`
/// are accepted and ignored).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
pub struct LoginRequest {
    /// Checked against the registration rules (422 otherwise), not only looked up.
    #[cfg_attr(feature = "openapi", salvo(schema(value_type = schemas::Username)))]
    pub username: String,
    pub password: String,
}

/// An access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: i64,
}

/// `POST /auth/validate-token`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
pub struct ValidateTokenRequest {
    pub token: String,
}

/// The verdict on a token. Invalid tokens are a normal answer (200 with `valid: false`), not an
/// error: the caller asked a question and got a reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
pub struct ValidateTokenResponse {
    pub valid: bool,
    pub username: Option<String>,
    pub user_id: Option<i64>,
    pub role: Option<Role>,
    /// Unix time the token expires at.
    pub expires_at: Option<i64>,
    pub message: String,
}

impl ValidateTokenResponse {
    /// A refusal, saying why.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            valid: false,
            username: None,
            user_id: None,
            role: None,
            expires_at: None,
            message: message.into(),
        }
    }
}

/// The pattern of a valid username.
pub fn username_pattern() -> String {
    let punctuation: String = USERNAME_PUNCTUATION.iter().collect();
    format!("^[A-Za-z0-9{punctuation}]*$")
}

/// Schemas of the bounded fields, from the bounds above. Types rather than functions, so that a
/// field's own doc comment is kept beside its type's schema in the document.
#[cfg(feature = "openapi")]
mod schemas {
    use salvo::oapi::{Components, RefOr, Schema, ToSchema};

    use super::*;

    /// The schema of a Username field.
    #[derive(Debug)]
    pub struct Username;

    impl ToSchema for Username {
        fn to_schema(_: &mut Components) -> RefOr<Schema> {
            crate::schema::text(USERNAME_MIN_CHARS, USERNAME_MAX_CHARS)
                .pattern(username_pattern())
                .description("Letters, digits, `_`, `.` and `-`; unique regardless of case.")
                .example("alice_1")
                .into()
        }
    }

    /// The schema of a Password field.
    #[derive(Debug)]
    pub struct Password;

    impl ToSchema for Password {
        fn to_schema(_: &mut Components) -> RefOr<Schema> {
            crate::schema::text(PASSWORD_MIN_CHARS, PASSWORD_MAX_BYTES)
                .pattern(crate::schema::NO_NUL)
                .description("At least 8 characters and at most 72 bytes of UTF-8; no NUL.")
                .example("correct horse battery")
                .into()
        }
    }
}
