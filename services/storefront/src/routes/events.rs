//! `GET /live/orders`: server-sent events with the visitor's own order updates.
//!
//! The page passes `since` (the stream position it was rendered at); a browser reconnecting by
//! itself sends `Last-Event-ID` (the last event it got). Updates after that position are
//! replayed from the hub, then live ones follow; the hub's follower keeps both, on the server,
//! to the visitor's own orders. Events: `status` (`{"order", "status", "label"}`, id = stream
//! sequence), `live` (`running` / `paused`), and `resync` when updates were lost or the
//! stream was replaced (the page reloads). The stream ends at shutdown, so draining never
//! waits for open pages, and when its session ends (a logout on any replica, or found gone at
//! a periodic re-check).
//!
//! Streams are capped per user and per replica ([`order_status_feed::Streams`]): past a cap
//! the answer is a 429 or 503 problem with `Retry-After` at once, never a connection left
//! hanging.

use std::convert::Infallible;
use std::time::Duration;

use futures_util::stream;
use order_status_feed::{FeedEvent, Follower, OrderUpdate, Refusal, StreamSlot};
use salvo::prelude::*;
use salvo::sse::{SseEvent, SseKeepAlive};
use serde_json::json;
use shop_http::problem::Problem;
use shop_sessions::SessionStore;
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::routes::shop;
use crate::session::visitor;
use crate::views::status_label;

/// Seconds a refused page waits before trying again.
const RETRY_AFTER_SECS: u64 = 30;

/// One open stream: the visitor's feed from the hub, until shutdown or its session ends.
struct Feed {
    follower: Follower,
    shutdown: CancellationToken,
    /// Held for as long as the stream is open; fires when its session ends.
    slot: StreamSlot,
    store: SessionStore,
    recheck: Interval,
}

fn sse_event(event: &FeedEvent) -> SseEvent {
    match event {
        FeedEvent::Status(update) => status_event(update),
        FeedEvent::Live(running) => {
            SseEvent::default()
                .name("live")
                .text(if *running { "running" } else { "paused" })
        }
        FeedEvent::Resync => SseEvent::default().name("resync").text("reload"),
    }
}

fn status_event(update: &OrderUpdate) -> SseEvent {
    SseEvent::default()
        .name("status")
        .id(update.seq.to_string())
        .text(
            json!({
                "order": update.order_id,
                "status": update.status,
                "label": status_label(update.status),
            })
            .to_string(),
        )
}

impl Feed {
    /// The next event for this visitor, or `None` when the stream should end.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            tokio::select! {
                event = self.follower.next() => return event.as_ref().map(sse_event),
                () = self.shutdown.cancelled() => return None,
                () = self.slot.ended.cancelled() => return None,
                _ = self.recheck.tick() => {
                    // Only a session known to be gone ends the stream: Redis being away for
                    // a moment is no reason to drop every page.
                    if matches!(self.store.exists(self.slot.session()).await, Ok(false)) {
                        return None;
                    }
                }
            }
        }
    }
}

#[handler]
pub async fn order_events(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let visitor = visitor(depot);
    let (Some(caller), Some(session)) = (visitor.caller(), visitor.session.as_deref()) else {
        if visitor.account_unavailable {
            refuse(req, res, None);
        } else {
            // 204 tells EventSource to stop reconnecting: there is nothing to follow logged out.
            res.status_code(StatusCode::NO_CONTENT);
        }
        return;
    };
    let shop = shop(depot);
    let slot = match shop.streams.open(caller.user_id, session) {
        Ok(slot) => slot,
        Err(refusal) => {
            tracing::warn!(user = caller.user_id, ?refusal, "live stream refused");
            refuse(req, res, Some(refusal));
            return;
        }
    };
    let since = req.query::<u64>("since").unwrap_or(0);
    let last_event = req
        .header::<String>("last-event-id")
        .and_then(|id| id.parse::<u64>().ok())
        .unwrap_or(0);
    let after = since.max(last_event);
    let feed = Feed {
        follower: shop.hub.follow(caller.user_id, after),
        shutdown: shop.shutdown.clone(),
        slot,
        store: shop.sessions.store.clone(),
        recheck: recheck_every(shop.live_recheck),
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

fn recheck_every(period: Duration) -> Interval {
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    recheck.set_missed_tick_behavior(MissedTickBehavior::Delay);
    recheck
}

/// A short problem a page's script can read; `None` means the session could not be checked.
fn refuse(req: &Request, res: &mut Response, refusal: Option<Refusal>) {
    let problem = match refusal {
        Some(Refusal::UserFull) => Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-live-streams",
            "Too many live update streams",
        )
        .detail("Close another tab of this shop to get live updates here."),
        Some(Refusal::ReplicaFull) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "live-updates-full",
            "Live updates are busy",
        )
        .detail("This server follows as many pages as it can; try again shortly."),
        None => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "account-unavailable",
            "Account service unavailable",
        ),
    };
    problem.retry_after(RETRY_AFTER_SECS).write_to(req, res);
}
