//! `GET /stream`: what the bridge mirrors from where to where, and the stream's current state,
//! so an operator (or `cargo xtask demo`) sees at a glance whether events arrive.

use std::sync::Arc;

use async_nats::jetstream::Context;
use salvo::oapi::ToSchema;
use salvo::prelude::*;
use serde::Serialize;
use shop_http::problem::Problem;
use shop_http::server::{Provide, route, state};

use crate::config::BridgeSettings;

/// What the stream route needs.
#[derive(Debug)]
pub struct StreamRouteState {
    pub jetstream: Context,
    pub settings: BridgeSettings,
}

/// Where the events come from.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceReport {
    pub exchange: String,
    pub queue: String,
    pub binding_keys: Vec<String>,
}

/// The JetStream stream the events are mirrored into.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamReport {
    pub source: SourceReport,
    /// `order.created` is stored under `{subject_prefix}.order.created`.
    pub subject_prefix: String,
    pub stream: String,
    pub subjects: Vec<String>,
    pub max_age_secs: u64,
    pub duplicate_window_secs: u64,
    pub messages: u64,
    pub bytes: u64,
    pub first_sequence: u64,
    pub last_sequence: u64,
    pub consumers: usize,
}

/// The mirror's source, target and the stream's state.
#[endpoint(
    tags("bridge"),
    responses((status_code = 200, description = "The stream and where its events come from", body = StreamReport)),
    status_codes(200, 503)
)]
pub async fn stream_report(depot: &mut Depot) -> Result<Json<StreamReport>, Problem> {
    let state = state::<Arc<StreamRouteState>>(depot);
    let settings = &state.settings;
    let info = state
        .jetstream
        .get_stream(&settings.bridge_stream)
        .await
        .map_err(|error| {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "stream lookup failed"
            );
            Problem::unavailable("The JetStream stream")
        })?
        .cached_info()
        .clone();
    Ok(Json(StreamReport {
        source: SourceReport {
            exchange: settings.bridge_exchange.clone(),
            queue: settings.bridge_queue.clone(),
            binding_keys: settings.binding_keys(),
        },
        subject_prefix: settings.bridge_subject_prefix.clone(),
        stream: info.config.name,
        subjects: info.config.subjects,
        max_age_secs: info.config.max_age.as_secs(),
        duplicate_window_secs: info.config.duplicate_window.as_secs(),
        messages: info.state.messages,
        bytes: info.state.bytes,
        first_sequence: info.state.first_sequence,
        last_sequence: info.state.last_sequence,
        consumers: info.state.consumer_count,
    }))
}

pub fn router(state: Arc<StreamRouteState>) -> Router {
    Router::new()
        .hoop(Provide(state))
        .push(route("/stream").get(stream_report))
}
