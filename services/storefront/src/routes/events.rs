//! `GET /live/orders`: server-sent events with the visitor's own order updates.
//!
//! The page passes `since` (the stream position it was rendered at); a browser reconnecting by
//! itself sends `Last-Event-ID` (the last event it got). Updates after that position are
//! replayed from the hub, then live ones follow; both are filtered here, on the server, to the
//! visitor's own orders. Events: `status` (`{"order", "status", "label"}`, id = stream
//! sequence), `live` (`running` / `paused`), and `resync` when updates were lost (the page
//! reloads). The stream ends at shutdown, so draining never waits for open pages.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream;
use salvo::prelude::*;
use salvo::sse::{SseEvent, SseKeepAlive};
use serde_json::json;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::live::OrderUpdate;
use crate::routes::shop;
use crate::session::visitor;
use crate::views::status_label;

struct Feed {
    user_id: i64,
    updates: broadcast::Receiver<Arc<OrderUpdate>>,
    live: watch::Receiver<bool>,
    queued: VecDeque<SseEvent>,
    last_sent: u64,
    shutdown: CancellationToken,
    done: bool,
}

fn status_event(update: &OrderUpdate) -> SseEvent {
    SseEvent::default()
        .name("status")
        .id(update.seq.to_string())
        .text(
            json!({
                "order": update.order_id,
                "status": update.status,
                "label": status_label(&update.status),
            })
            .to_string(),
        )
}

fn live_event(running: bool) -> SseEvent {
    SseEvent::default()
        .name("live")
        .text(if running { "running" } else { "paused" })
}

fn resync_event() -> SseEvent {
    SseEvent::default().name("resync").text("reload")
}

impl Feed {
    /// The next event for this visitor, or `None` when the stream should end.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(event) = self.queued.pop_front() {
                return Some(event);
            }
            if self.done {
                return None;
            }
            tokio::select! {
                received = self.updates.recv() => match received {
                    Ok(update) if update.user_id == self.user_id && update.seq > self.last_sent => {
                        self.last_sent = update.seq;
                        return Some(status_event(&update));
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // This page fell behind the broadcast: it reloads rather than guess.
                        self.done = true;
                        return Some(resync_event());
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                changed = self.live.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    let running = *self.live.borrow_and_update();
                    return Some(live_event(running));
                }
                () = self.shutdown.cancelled() => return None,
            }
        }
    }
}

#[handler]
pub async fn order_events(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Some(caller) = visitor(depot).caller() else {
        // 204 tells EventSource to stop reconnecting: there is nothing to follow logged out.
        res.status_code(StatusCode::NO_CONTENT);
        return;
    };
    let shop = shop(depot);
    let since = req.query::<u64>("since").unwrap_or(0);
    let last_event = req
        .header::<String>("last-event-id")
        .and_then(|id| id.parse::<u64>().ok())
        .unwrap_or(0);
    let after = since.max(last_event);
    // Subscribe before reading the ring, so nothing falls between the replay and live events.
    let updates = shop.hub.subscribe();
    let mut live = shop.hub.watch_live();
    let replay = shop.hub.replay(caller.user_id, after);
    let mut queued = VecDeque::from([live_event(*live.borrow_and_update())]);
    let mut last_sent = after;
    if replay.gap {
        queued.push_back(resync_event());
    }
    for update in &replay.updates {
        last_sent = last_sent.max(update.seq);
        queued.push_back(status_event(update));
    }
    let feed = Feed {
        user_id: caller.user_id,
        updates,
        live,
        queued,
        last_sent,
        shutdown: shop.shutdown.clone(),
        done: replay.gap,
    };
    let events = stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok::<_, Infallible>(event), feed))
    });
    let _ = res.add_header("cache-control", "no-store", true);
    SseKeepAlive::new(events)
        .max_interval(Duration::from_secs(15))
        .stream(res);
}
