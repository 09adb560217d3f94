//! Where the journeys send their requests: one gateway, or each service at its own address.

/// Base URLs by service, and the admin account the admin journey logs in with.
#[derive(Debug, Clone)]
pub struct Target {
    pub user: String,
    pub product: String,
    pub order: String,
    pub admin: (String, String),
}

impl Default for Target {
    /// The services directly, on the ports `cargo xtask up` uses, with its development admin.
    fn default() -> Self {
        Self {
            user: "http://127.0.0.1:8001".into(),
            product: "http://127.0.0.1:8002".into(),
            order: "http://127.0.0.1:8003".into(),
            admin: ("admin".into(), "admin-password".into()),
        }
    }
}

impl Target {
    /// Everything through one gateway that routes by path.
    pub fn gateway(url: &str) -> Self {
        Self {
            user: url.into(),
            product: url.into(),
            order: url.into(),
            ..Self::default()
        }
    }

    pub fn user(&self, path: &str) -> String {
        join(&self.user, path)
    }

    pub fn product(&self, path: &str) -> String {
        join(&self.product, path)
    }

    pub fn order(&self, path: &str) -> String {
        join(&self.order, path)
    }
}

fn join(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_takes_every_path_and_services_their_own() {
        let gateway = Target::gateway("http://127.0.0.1:8080/");
        assert_eq!(gateway.order("/orders"), "http://127.0.0.1:8080/orders");
        assert_eq!(gateway.user("/login"), "http://127.0.0.1:8080/login");
        let direct = Target::default();
        assert_eq!(
            direct.product("/products/1"),
            "http://127.0.0.1:8002/products/1"
        );
    }
}
