//! The `users` table, in raw SQL.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use shop_postgres::{DbError, Traced};
use tokio_postgres::Row;

use crate::domain::{Role, Username};

/// A stored account. The hash leaves this module only to be verified.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub hashed_password: String,
    pub role: Role,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl UserRecord {
    fn from_row(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            username: row.get("username"),
            hashed_password: row.get("hashed_password"),
            role: Role::from_db(row.get("role")),
            is_active: row.get("is_active"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
        }
    }
}

/// What token validation needs to know about a user, read by primary key.
#[derive(Debug, Clone)]
pub struct UserStatus {
    pub username: String,
    pub role: Role,
    pub is_active: bool,
}

const COLUMNS: &str = "id, username, hashed_password, role, is_active, created_at, updated_at";

#[derive(Debug, Clone)]
pub struct UsersRepository {
    pool: Pool,
}

impl UsersRepository {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Inserts a new account; a taken username (in any case) is `UniqueViolation`.
    pub async fn insert(
        &self,
        username: &Username,
        hashed_password: &str,
        role: Role,
    ) -> Result<UserRecord, DbError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one_traced(
                &format!(
                    "INSERT INTO users (username, hashed_password, role) VALUES ($1, $2, $3) \
                     RETURNING {COLUMNS}"
                ),
                &[&username.as_str(), &hashed_password, &role.as_str()],
            )
            .await?;
        Ok(UserRecord::from_row(&row))
    }

    pub async fn find_by_username(&self, username: &str) -> Result<Option<UserRecord>, DbError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt_traced(
                &format!("SELECT {COLUMNS} FROM users WHERE lower(username) = lower($1)"),
                &[&username],
            )
            .await?;
        Ok(row.as_ref().map(UserRecord::from_row))
    }

    pub async fn status(&self, id: i64) -> Result<Option<UserStatus>, DbError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt_traced(
                "SELECT username, role, is_active FROM users WHERE id = $1",
                &[&id],
            )
            .await?;
        Ok(row.map(|row| UserStatus {
            username: row.get("username"),
            role: Role::from_db(row.get("role")),
            is_active: row.get("is_active"),
        }))
    }

    /// Makes `username` an admin; false when there is no such user.
    pub async fn promote_to_admin(&self, username: &str) -> Result<bool, DbError> {
        let client = self.pool.get().await?;
        let updated = client
            .execute_traced(
                "UPDATE users SET role = 'admin', updated_at = now() \
                 WHERE lower(username) = lower($1)",
                &[&username],
            )
            .await?;
        Ok(updated == 1)
    }

    /// Enables or disables an account; a disabled account cannot log in and its tokens stop
    /// validating at once.
    pub async fn set_active(&self, id: i64, active: bool) -> Result<bool, DbError> {
        let client = self.pool.get().await?;
        let updated = client
            .execute_traced(
                "UPDATE users SET is_active = $2, updated_at = now() WHERE id = $1",
                &[&id, &active],
            )
            .await?;
        Ok(updated == 1)
    }
}
