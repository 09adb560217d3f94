//! Where an order is in its life, as events name it.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The status of an order: `completed` and `cancelled` are final.
///
/// ```text
/// pending ──confirm──▶ confirmed ──ship──▶ shipped ──complete──▶ completed
///    │                     │
///    └──────cancel─────────┴──────▶ cancelled
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
// The Order Service's API shows this type too; it keeps the name its OpenAPI document has
// always given it, so generated clients do not see a renamed type.
#[cfg_attr(
    feature = "openapi",
    derive(salvo::oapi::ToSchema),
    salvo(schema(name = "order_service.domain.OrderStatus"))
)]
pub enum OrderStatus {
    Pending,
    Confirmed,
    Shipped,
    Completed,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Confirmed,
        Self::Shipped,
        Self::Completed,
        Self::Cancelled,
    ];

    /// The name on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Shipped => "shipped",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The status named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::Value::from(status.as_str())
            );
        }
        assert_eq!(OrderStatus::parse("Pending"), None);
    }
}
