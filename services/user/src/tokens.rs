//! Access tokens: HS256 JWTs carrying the username (`sub`), user id (`uid`), role, issue and
//! expiry times and a unique id (`jti`). Only this service holds the key; other services ask
//! `POST /validate-token`.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::Role;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub uid: i64,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Clone)]
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: i64,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

/// Why a token was refused; the text goes back to the caller in `message`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token has expired")]
    Expired,
    #[error("token is invalid")]
    Invalid,
}

impl TokenIssuer {
    pub fn new(secret: &[u8], ttl_secs: u64) -> Self {
        // Exactly one algorithm is accepted: a token whose header names another (or "none")
        // is refused before its signature is looked at.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs: i64::try_from(ttl_secs).unwrap_or(i64::MAX),
        }
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    pub fn issue(&self, uid: i64, username: &str, role: Role) -> Result<String, TokenError> {
        let now = chrono::Utc::now().timestamp();
        self.issue_at(uid, username, role, now)
    }

    /// Issues a token as if it were `now`; tests use it for expired tokens.
    pub fn issue_at(
        &self,
        uid: i64,
        username: &str,
        role: Role,
        now: i64,
    ) -> Result<String, TokenError> {
        let claims = Claims {
            sub: username.to_owned(),
            uid,
            role,
            iat: now,
            exp: now.saturating_add(self.ttl_secs),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| TokenError::Invalid)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer() -> TokenIssuer {
        TokenIssuer::new(b"0123456789abcdef0123456789abcdef", 60)
    }

    #[test]
    fn issued_token_verifies_with_its_claims() {
        let token = issuer().issue(7, "alice", Role::Admin).unwrap();
        let claims = issuer().verify(&token).unwrap();
        assert_eq!(
            (claims.uid, claims.sub.as_str(), claims.role),
            (7, "alice", Role::Admin)
        );
        assert_eq!(claims.exp - claims.iat, 60);
        assert!(!claims.jti.is_empty());
    }

    #[test]
    fn expired_token_is_refused_as_expired() {
        let past = chrono::Utc::now().timestamp() - 3600;
        let token = issuer().issue_at(7, "alice", Role::Customer, past).unwrap();
        assert_eq!(issuer().verify(&token), Err(TokenError::Expired));
    }

    #[test]
    fn other_key_is_refused() {
        let other = TokenIssuer::new(b"another-key-another-key-another-key", 60);
        let token = other.issue(7, "alice", Role::Customer).unwrap();
        assert_eq!(issuer().verify(&token), Err(TokenError::Invalid));
    }
}
