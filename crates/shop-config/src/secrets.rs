//! The production profile's refusal of published secrets.
//!
//! Anything in this repository is public: the `.env.example` values, the development defaults,
//! the credentials `cargo xtask up` prints, the tests' own. A deployment that starts with one of
//! them (`cp .env.example .env` is all it takes) has a known admin password or a forgeable JWT,
//! so under `APP_PROFILE=production` [`check_production`] refuses, with an error naming the key:
//!
//! - a secret that starts with `dev-only-` or `test-only-` (every placeholder the repository
//!   ships says which it is), or equals a value listed in [`PUBLISHED_VALUES`];
//! - a connection URL whose password is such a value;
//! - a connection URL the service needs that is not set at all: the development fallbacks point
//!   at a local server with default credentials, which a production process must never use by
//!   accident.
//! - an `AMQP_URL` that logs in as `guest`, RabbitMQ's default user (its password is public,
//!   and a URL without a user means `guest` too): each service gets a broker user of its own.
//!
//! Tests run in the production profile too, so their credentials are generated per process, not
//! written down (see `test_support`).

use figment::value::Value;

use super::{ConfigError, Profile, Settings};

/// Prefixes that mark a value as a published placeholder.
pub const PUBLISHED_PREFIXES: [&str; 2] = ["dev-only-", "test-only-"];

/// Values written in this repository, or in tutorials it resembles, that are not prefixed: the
/// development defaults of the services and the launcher, and common examples.
pub const PUBLISHED_VALUES: [&str; 9] = [
    "development-only-jwt-secret-never-use-in-production",
    "dev-service-token",
    "admin-password",
    "customer-password",
    "secret",
    "changeme",
    "supersecret",
    "your-secret-key",
    "your-secret-key-change-in-production",
];

/// Settings that hold a secret on their own.
pub const SECRET_KEYS: [&str; 5] = [
    "JWT_SECRET",
    "SERVICE_TOKEN",
    "BOOTSTRAP_ADMIN_PASSWORD",
    "NOTIFY_WEBHOOK_SECRET",
    "SMTP_PASSWORD",
];

/// Settings that are URLs which may carry a password.
pub const URL_KEYS: [&str; 5] = [
    "DATABASE_URL",
    "DATABASE_MIGRATION_URL",
    "AMQP_URL",
    "REDIS_URL",
    "NATS_URL",
];

/// Whether `value` is one of the repository's published secrets.
pub fn is_published(value: &str) -> bool {
    let lowered = value.trim().to_ascii_lowercase();
    PUBLISHED_PREFIXES
        .iter()
        .any(|prefix| lowered.starts_with(prefix))
        || PUBLISHED_VALUES.contains(&lowered.as_str())
}

/// Under the production profile: every key in `required` must be set explicitly, and no secret
/// or URL password may be a published value. The development profile accepts anything.
pub fn check_production(
    settings: &Settings,
    profile: Profile,
    required: &[&str],
) -> Result<(), ConfigError> {
    if profile == Profile::Development {
        return Ok(());
    }
    for key in required {
        if raw(settings, key).is_none() {
            return Err(ConfigError::new(
                key,
                "is required in production (the local development default is not used)",
            ));
        }
    }
    for key in SECRET_KEYS {
        if raw(settings, key).is_some_and(|value| is_published(&value)) {
            return Err(ConfigError::new(
                key,
                "is a value published in this repository; generate a random one",
            ));
        }
    }
    if raw(settings, "AMQP_URL").is_some_and(|url| connects_as_guest(&url)) {
        return Err(ConfigError::new(
            "AMQP_URL",
            "connects as guest (also what no user means), RabbitMQ's published default user; \
             give the service a user of its own",
        ));
    }
    for key in URL_KEYS {
        let password = raw(settings, key).and_then(|url| url_password(&url));
        if password.is_some_and(|password| is_published(&password)) {
            return Err(ConfigError::new(
                key,
                "carries a password published in this repository; generate a random one",
            ));
        }
    }
    Ok(())
}

/// The value of `key` as a string, if any source sets it.
fn raw(settings: &Settings, key: &str) -> Option<String> {
    let value = settings
        .figment
        .find_value(&key.to_ascii_lowercase())
        .ok()?;
    match value {
        Value::String(_, text) => Some(text),
        // Never reached for the keys above in practice; an all-digit secret is still a secret.
        other => other.to_num().map(|number| format!("{number:?}")),
    }
}

/// Whether an `amqp://` URL logs in as `guest`: named so (percent-encoded too, as the AMQP
/// client decodes it), or with no user (lapin's default). A URL that does not parse is left to
/// the AMQP client to refuse.
fn connects_as_guest(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|parsed| {
        let user = percent_encoding::percent_decode_str(parsed.username()).decode_utf8_lossy();
        matches!(user.as_ref(), "" | "guest")
    })
}

/// The decoded password of a `scheme://user:password@host/…` URL.
fn url_password(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let password = parsed.password()?;
    Some(
        percent_encoding::percent_decode_str(password)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&'static str, &str)]) -> Settings {
        Settings::from_pairs(pairs.iter().map(|(key, value)| (*key, (*value).to_owned())))
    }

    #[test]
    fn guest_is_refused_as_the_broker_user_in_production() {
        for url in [
            "amqp://guest:x8Kq2v9LmN4pR7tY1wZ3bC6d@mq:5672/%2f",
            "amqp://mq:5672/%2f",
            "amqp://:x8Kq2v9LmN4pR7tY1wZ3bC6d@mq:5672/%2f",
            "amqp://%67uest:x8Kq2v9LmN4pR7tY1wZ3bC6d@mq:5672/%2f",
            "amqp://mq",
        ] {
            let pairs = settings(&[("AMQP_URL", url)]);
            let error = check_production(&pairs, Profile::Production, &[]).unwrap_err();
            assert_eq!(error.key, "AMQP_URL", "{url}");
            assert!(check_production(&pairs, Profile::Development, &[]).is_ok());
        }
        let own = settings(&[("AMQP_URL", "amqp://shop-order:x8Kq2v9LmN4pR7tY@mq:5672/%2f")]);
        assert!(check_production(&own, Profile::Production, &[]).is_ok());
    }

    #[test]
    fn published_secrets_are_refused_naming_the_key() {
        for (key, value) in [
            ("JWT_SECRET", "dev-only-jwt-secret-4f1c9a7e2b8d6035e1f7a9c4"),
            ("SERVICE_TOKEN", "dev-service-token"),
            ("BOOTSTRAP_ADMIN_PASSWORD", "Admin-Password"),
            ("NOTIFY_WEBHOOK_SECRET", "test-only-webhook-secret-0123"),
        ] {
            let error =
                check_production(&settings(&[(key, value)]), Profile::Production, &[]).unwrap_err();
            assert_eq!(error.key, key);
            assert!(!error.to_string().contains(value), "the value never prints");
        }
    }

    #[test]
    fn published_passwords_inside_urls_are_refused() {
        for (key, url) in [
            (
                "AMQP_URL",
                "amqp://shop:dev%2Donly-rabbitmq-password@rabbitmq:5672/%2f",
            ),
            (
                "DATABASE_MIGRATION_URL",
                "postgres://owner:changeme@db:5432/users?sslmode=verify-full",
            ),
        ] {
            let error =
                check_production(&settings(&[(key, url)]), Profile::Production, &[]).unwrap_err();
            assert_eq!(error.key, key);
        }
    }

    #[test]
    fn required_urls_have_no_fallback_in_production() {
        let error =
            check_production(&settings(&[]), Profile::Production, &["AMQP_URL"]).unwrap_err();
        assert_eq!(error.key, "AMQP_URL");
        assert!(check_production(&settings(&[]), Profile::Development, &["AMQP_URL"]).is_ok());
    }

    #[test]
    fn generated_values_pass() {
        let pairs = [
            ("JWT_SECRET", "x8Kq2v9LmN4pR7tY1wZ3bC6dF0gH5jS2"),
            ("DATABASE_URL", "postgres://shop:Zq81mVn0c2@db:5432/users"),
        ];
        check_production(&settings(&pairs), Profile::Production, &["DATABASE_URL"]).unwrap();
    }
}
