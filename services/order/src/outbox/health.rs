//! The outbox on `/health`: its backlog is reported but never makes the service unready (orders
//! are accepted while their events wait).

use std::sync::Arc;

use service_runtime::health::DependencyCheck;

use super::relay::OutboxRelay;

/// `/health` entry for the outbox.
#[derive(Debug, Clone)]
pub struct OutboxCheck(pub Arc<OutboxRelay>);

#[salvo::async_trait]
impl DependencyCheck for OutboxCheck {
    fn name(&self) -> &'static str {
        "outbox"
    }

    fn required(&self) -> bool {
        false
    }

    async fn check(&self) -> Result<(), String> {
        self.0.backlog().await.map(drop).map_err(|e| e.to_string())
    }

    async fn detail(&self) -> Option<serde_json::Value> {
        let backlog = self.0.backlog().await.ok()?;
        Some(serde_json::json!({
            "backlog": backlog.count,
            "oldest_age_secs": (backlog.oldest_age_secs * 1000.0).round() / 1000.0,
        }))
    }
}
