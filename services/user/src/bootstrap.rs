//! The first administrator, from `BOOTSTRAP_ADMIN_USERNAME` / `BOOTSTRAP_ADMIN_PASSWORD`.
//!
//! Create-only. The settings say "make this admin if there is none", never "whoever holds this
//! name is an admin":
//! - no account of that name: it is created as an admin (the only time the password is hashed,
//!   so a restart costs no bcrypt work);
//! - an admin of that name: left exactly as it is. A deactivated admin stays deactivated and a
//!   changed `BOOTSTRAP_ADMIN_PASSWORD` is not applied: whoever deactivated it or changed its
//!   password meant it, and a restart must not undo that;
//! - a non-admin of that name (a customer who registered `admin` first): start-up stops with an
//!   error naming the problem. Promoting them would hand the shop to a stranger.

use crate::domain::{Password, Role, Username};
use crate::password::PasswordHasher;
use crate::repository::{UserRecord, UsersRepository};
use shop_postgres::DbError;

/// What start-up did with the bootstrap admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    AlreadyPresent,
}

pub async fn ensure_admin(
    users: &UsersRepository,
    hasher: &PasswordHasher,
    username: &str,
    password: &str,
) -> anyhow::Result<Outcome> {
    let username = Username::parse(username)
        .map_err(|error| anyhow::anyhow!("BOOTSTRAP_ADMIN_USERNAME {}", error.message))?;
    let password = Password::parse(password)
        .map_err(|error| anyhow::anyhow!("BOOTSTRAP_ADMIN_PASSWORD {}", error.message))?;
    if let Some(existing) = users.find_by_username(username.as_str()).await? {
        return accept_existing(&existing);
    }
    let hash = hasher.hash(&password).await?;
    match users.insert(&username, &hash, Role::Admin).await {
        Ok(admin) => {
            tracing::info!(user_id = admin.id, username = %admin.username, "bootstrap admin created");
            Ok(Outcome::Created)
        }
        // Another replica, or a registration, took the name between the read and the insert.
        Err(DbError::UniqueViolation { .. }) => {
            let existing = users
                .find_by_username(username.as_str())
                .await?
                .ok_or_else(|| anyhow::anyhow!("bootstrap admin vanished while being created"))?;
            accept_existing(&existing)
        }
        Err(error) => Err(error.into()),
    }
}

fn accept_existing(existing: &UserRecord) -> anyhow::Result<Outcome> {
    if existing.role != Role::Admin {
        anyhow::bail!(
            "BOOTSTRAP_ADMIN_USERNAME names an existing account ({}) that is not an admin; it is \
             not promoted. Choose another name, or promote that account on purpose with \
             `user-service promote-admin`",
            existing.username
        );
    }
    if existing.is_active {
        tracing::info!(
            user_id = existing.id,
            "bootstrap admin already exists; left unchanged"
        );
    } else {
        tracing::warn!(
            user_id = existing.id,
            "bootstrap admin exists but is deactivated; it stays deactivated"
        );
    }
    Ok(Outcome::AlreadyPresent)
}
