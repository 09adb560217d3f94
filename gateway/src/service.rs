//! The six services the system deploys, with what every deployment of them needs to know: the
//! binary, the documented port and the gateway backend that routes to it (if any). Written once
//! for `cargo xtask cluster`, the cluster tests and `cargo xtask chaos`.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    User,
    Product,
    Order,
    Notification,
    Bridge,
    Storefront,
}

impl Service {
    pub const ALL: [Self; 6] = [
        Self::User,
        Self::Product,
        Self::Order,
        Self::Notification,
        Self::Bridge,
        Self::Storefront,
    ];

    /// Its short name: `user`, `product`, `order`, ...
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Product => "product",
            Self::Order => "order",
            Self::Notification => "notification",
            Self::Bridge => "bridge",
            Self::Storefront => "storefront",
        }
    }

    /// The service whose [`Service::name`] is `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|service| service.name() == name)
    }

    /// Its binary.
    pub fn binary(self) -> &'static str {
        match self {
            Self::User => "user-service",
            Self::Product => "product-service",
            Self::Order => "order-service",
            Self::Notification => "notification-service",
            Self::Bridge => "event-bridge",
            Self::Storefront => "storefront",
        }
    }

    /// Its documented port (8001-8006).
    pub fn port(self) -> u16 {
        match self {
            Self::User => 8001,
            Self::Product => 8002,
            Self::Order => 8003,
            Self::Notification => 8004,
            Self::Bridge => 8005,
            Self::Storefront => 8006,
        }
    }

    /// The backend the routes (`haproxy/routes.cfg`) send its traffic to; `None` for the
    /// notification service and the bridge, which have no public API.
    pub fn backend(self) -> Option<&'static str> {
        match self {
            Self::Notification | Self::Bridge => None,
            routed => Some(routed.name()),
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_only_services_with_a_public_api_are_routed() {
        for service in Service::ALL {
            assert_eq!(Service::from_name(service.name()), Some(service));
        }
        assert_eq!(Service::from_name("gateway"), None);
        let routed: Vec<&str> = Service::ALL
            .into_iter()
            .filter_map(Service::backend)
            .collect();
        assert_eq!(routed, ["user", "product", "order", "storefront"]);
    }
}
