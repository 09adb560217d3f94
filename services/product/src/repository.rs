//! The `products` and `reservations` tables, in raw SQL.

use chrono::{DateTime, Utc};
use deadpool_postgres::{ClientWrapper, Pool};
use rust_decimal::Decimal;
use shop_postgres::{DbError, Traced};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::domain::{Description, Price, ProductName, ReservedQuantity, Stock};

/// A stored product. `version` grows with every change and never leaves the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRecord {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub price: Decimal,
    pub quantity: i32,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ProductRecord {
    fn from_row(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            name: row.get("name"),
            description: row.get("description"),
            price: row.get("price"),
            quantity: row.get("quantity"),
            version: row.get("version"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
        }
    }
}

const COLUMNS: &str = "id, name, description, price, quantity, version, created_at, updated_at";

#[derive(Debug, Clone)]
pub struct NewProduct {
    pub name: ProductName,
    pub description: Description,
    pub price: Price,
    pub quantity: Stock,
}

/// A partial update: `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct ProductChanges {
    pub name: Option<ProductName>,
    pub description: Option<Description>,
    pub price: Option<Price>,
    pub quantity: Option<Stock>,
}

/// One page of the listing: filters plus the keyset position.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Case-insensitive substring of the name.
    pub name: Option<String>,
    pub min_price: Option<Decimal>,
    pub max_price: Option<Decimal>,
    /// Only ids above this one (the keyset cursor).
    pub after_id: Option<i64>,
    pub skip: i64,
    pub limit: i64,
}

/// A stock reservation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRecord {
    pub reservation_id: Uuid,
    pub product_id: i64,
    pub product_name: String,
    pub unit_price: Decimal,
    pub quantity: i32,
    pub status: String,
}

impl ReservationRecord {
    fn from_row(row: &Row) -> Self {
        Self {
            reservation_id: row.get("reservation_id"),
            product_id: row.get("product_id"),
            product_name: row.get("product_name"),
            unit_price: row.get("unit_price"),
            quantity: row.get("quantity"),
            status: row.get("status"),
        }
    }
}

/// What a reservation attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// Stock was taken; the product is now at `version`.
    Created {
        reservation: ReservationRecord,
        version: i64,
    },
    /// This reservation id exists already (possibly with another product or quantity).
    Existing(ReservationRecord),
    ProductNotFound,
    InsufficientStock {
        available: i32,
    },
}

const RESERVATION_COLUMNS: &str =
    "reservation_id, product_id, product_name, unit_price, quantity, status";

#[derive(Debug, Clone)]
pub struct ProductsRepository {
    pool: Pool,
}

impl ProductsRepository {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    pub async fn insert(&self, product: &NewProduct) -> Result<ProductRecord, DbError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one_traced(
                &format!(
                    "INSERT INTO products (name, description, price, quantity) \
                     VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
                ),
                &[
                    &product.name.as_str(),
                    &product.description.as_str(),
                    &product.price.value(),
                    &product.quantity.value(),
                ],
            )
            .await?;
        Ok(ProductRecord::from_row(&row))
    }

    pub async fn find(&self, id: i64) -> Result<Option<ProductRecord>, DbError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt_traced(
                &format!("SELECT {COLUMNS} FROM products WHERE id = $1"),
                &[&id],
            )
            .await?;
        Ok(row.as_ref().map(ProductRecord::from_row))
    }

    /// Applies `changes` and bumps the version; `None` when there is no such product.
    pub async fn update(
        &self,
        id: i64,
        changes: &ProductChanges,
    ) -> Result<Option<ProductRecord>, DbError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt_traced(
                &format!(
                    "UPDATE products SET name = COALESCE($2, name), \
                     description = COALESCE($3, description), price = COALESCE($4, price), \
                     quantity = COALESCE($5, quantity), version = version + 1, updated_at = now() \
                     WHERE id = $1 RETURNING {COLUMNS}"
                ),
                &[
                    &id,
                    &changes.name.as_ref().map(ProductName::as_str),
                    &changes.description.as_ref().map(Description::as_str),
                    &changes.price.map(Price::value),
                    &changes.quantity.map(Stock::value),
                ],
            )
            .await?;
        Ok(row.as_ref().map(ProductRecord::from_row))
    }

    /// True when a product was deleted.
    pub async fn delete(&self, id: i64) -> Result<bool, DbError> {
        let client = self.pool.get().await?;
        Ok(client
            .execute_traced("DELETE FROM products WHERE id = $1", &[&id])
            .await?
            == 1)
    }

    /// One page in id order. Only the conditions in use are in the statement, so each of the
    /// few shapes gets its own plan (and stays an index range scan on the primary key).
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<ProductRecord>, DbError> {
        let pattern = filter.name.as_deref().map(like_pattern);
        let mut conditions = Vec::new();
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
        if let Some(after_id) = &filter.after_id {
            bind(&mut conditions, &mut params, "id >", after_id);
        }
        if let Some(pattern) = &pattern {
            bind(&mut conditions, &mut params, "name ILIKE", pattern);
        }
        if let Some(min_price) = &filter.min_price {
            bind(&mut conditions, &mut params, "price >=", min_price);
        }
        if let Some(max_price) = &filter.max_price {
            bind(&mut conditions, &mut params, "price <=", max_price);
        }
        let mut sql = format!("SELECT {COLUMNS} FROM products");
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        params.push(&filter.limit);
        sql.push_str(&format!(" ORDER BY id LIMIT ${}", params.len()));
        if filter.skip > 0 {
            params.push(&filter.skip);
            sql.push_str(&format!(" OFFSET ${}", params.len()));
        }
        let client = self.pool.get().await?;
        let rows = client.query_traced(&sql, &params).await?;
        Ok(rows.iter().map(ProductRecord::from_row).collect())
    }

    /// Takes `quantity` units of `product_id` for `reservation_id`, once. The stock check and
    /// the decrement are one conditional UPDATE, so concurrent reservations serialise on the
    /// row and stock never goes below zero (the CHECK constraint stands behind it too).
    ///
    /// The UPDATE and the reservation's INSERT are one statement, so one round trip and one
    /// commit: either both happen or neither. A new reservation is the common case, so it is
    /// tried first. A repeat is told by the reservation's primary key refusing the insert
    /// (which undoes the statement's UPDATE too), or, when the stock no longer suffices, by
    /// looking the id up before the shortage is reported.
    pub async fn reserve(
        &self,
        reservation_id: Uuid,
        product_id: i64,
        quantity: ReservedQuantity,
    ) -> Result<ReserveOutcome, DbError> {
        let client = self.pool.get().await?;
        let reserved = client
            .query_opt_traced(
                &format!(
                    "WITH taken AS (\
                       UPDATE products SET quantity = quantity - $3, version = version + 1, \
                              updated_at = now() \
                       WHERE id = $2 AND quantity >= $3 RETURNING name, price, version), \
                     reserved AS (\
                       INSERT INTO reservations \
                              (reservation_id, product_id, product_name, unit_price, quantity) \
                       SELECT $1, $2, name, price, $3 FROM taken \
                       RETURNING {RESERVATION_COLUMNS}) \
                     SELECT reserved.*, taken.version FROM reserved, taken"
                ),
                &[&reservation_id, &product_id, &quantity.value()],
            )
            .await;
        match reserved {
            Ok(Some(row)) => Ok(ReserveOutcome::Created {
                reservation: ReservationRecord::from_row(&row),
                version: row.get("version"),
            }),
            // The id was used before (a repeat, or a concurrent retry that won): nothing was
            // taken, and the answer is that reservation.
            Err(DbError::UniqueViolation { .. }) => {
                match Self::reservation_on(&client, reservation_id).await? {
                    Some(existing) => Ok(ReserveOutcome::Existing(existing)),
                    None => Err(DbError::UniqueViolation {
                        constraint: "reservations_pkey".into(),
                    }),
                }
            }
            Err(error) => Err(error),
            // Nothing taken: a repeat whose stock has gone since, or a short or unknown product.
            Ok(None) => {
                if let Some(existing) = Self::reservation_on(&client, reservation_id).await? {
                    return Ok(ReserveOutcome::Existing(existing));
                }
                let available = client
                    .query_opt_traced(
                        "SELECT quantity FROM products WHERE id = $1",
                        &[&product_id],
                    )
                    .await?;
                Ok(match available {
                    Some(row) => ReserveOutcome::InsufficientStock {
                        available: row.get(0),
                    },
                    None => ReserveOutcome::ProductNotFound,
                })
            }
        }
    }

    /// The reservation `reservation_id`, read over `client`.
    async fn reservation_on(
        client: &ClientWrapper,
        reservation_id: Uuid,
    ) -> Result<Option<ReservationRecord>, DbError> {
        let row = client
            .query_opt_traced(
                &format!(
                    "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE reservation_id = $1"
                ),
                &[&reservation_id],
            )
            .await?;
        Ok(row.as_ref().map(ReservationRecord::from_row))
    }

    /// Returns a reservation's units to stock exactly once. The status flip is conditional, so
    /// of concurrent releases one alone sees the row change. Returns the product id and its new
    /// version when stock was returned.
    pub async fn release(&self, reservation_id: Uuid) -> Result<Option<(i64, i64)>, DbError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        let released = transaction
            .query_opt_traced(
                "UPDATE reservations SET status = 'released', released_at = now() \
                 WHERE reservation_id = $1 AND status IN ('reserved', 'confirmed') \
                 RETURNING product_id, quantity",
                &[&reservation_id],
            )
            .await?;
        let Some(released) = released else {
            return Ok(None);
        };
        let product_id: i64 = released.get("product_id");
        let restocked = restock(&transaction, product_id, released.get("quantity")).await?;
        transaction.commit().await?;
        Ok(restocked.map(|version| (product_id, version)))
    }
}

/// Returns `units` to `product_id`'s stock within `transaction`; its new version, or `None` for
/// a product deleted meanwhile (it gets nothing back). Every stock return goes through here, so
/// each bumps the version the read cache compares.
pub(crate) async fn restock(
    transaction: &deadpool_postgres::Transaction<'_>,
    product_id: i64,
    units: i32,
) -> Result<Option<i64>, DbError> {
    let row = transaction
        .query_opt_traced(
            "UPDATE products SET quantity = quantity + $2, version = version + 1, \
             updated_at = now() WHERE id = $1 RETURNING version",
            &[&product_id, &units],
        )
        .await?;
    Ok(row.map(|row| row.get("version")))
}

/// Adds `condition $n` with its parameter.
fn bind<'a>(
    conditions: &mut Vec<String>,
    params: &mut Vec<&'a (dyn ToSql + Sync)>,
    condition: &str,
    param: &'a (dyn ToSql + Sync),
) {
    params.push(param);
    conditions.push(format!("{condition} ${}", params.len()));
}

/// `%term%` with the pattern characters of the term escaped, so a search for "50%" means it.
fn like_pattern(term: &str) -> String {
    let escaped = term
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms_are_literal() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
