//! The outbox on `/health`: never a reason to be unready (orders are accepted while their
//! events wait). Checking it reads the backlog, which keeps the `outbox_backlog` gauge current;
//! the public health answer says up or down only.

use std::sync::Arc;

use shop_telemetry::DependencyCheck;

use crate::relay::OutboxRelay;

/// `/health` entry for the outbox.
#[derive(Debug, Clone)]
pub struct OutboxCheck(pub Arc<OutboxRelay>);

#[async_trait::async_trait]
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
}
