//! Whose W3C trace context a service continues.
//!
//! A `traceparent` chooses the trace id (and `tracestate` adds vendor data) that every span and
//! log line of the request then carries. From an anonymous client that lets anyone attach their
//! requests to someone else's trace, flood one trace id, or force the sampling decision. So an
//! inbound context is honoured only from a *peer of the system*:
//!
//! - the direct peer is on an internal network (loopback, RFC 1918, IPv6 unique-local or
//!   link-local): where the other services run; the public reaches the system only through the
//!   gateway's published port, and
//! - no proxy relayed the request (`Forwarded`, `X-Forwarded-For` and `X-Real-Ip` are absent):
//!   the gateway always adds `X-Forwarded-For`, so a public client's headers, passed through
//!   it, are never trusted, while one service calling another directly is.
//!
//! Anything else starts a new trace; the request is served the same.

use std::net::IpAddr;

use opentelemetry::Context;
use salvo::http::HeaderMap;

/// Headers a proxy adds when it relays a request on behalf of a client.
const RELAY_HEADERS: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

/// The trace a request from `peer` continues: the one its `traceparent` names when its sender
/// may continue it, else `None` (a new trace).
pub fn inbound_context(peer: Option<IpAddr>, headers: &HeaderMap) -> Option<Context> {
    // Most requests name no trace (browsers, API clients, load tests): one header lookup
    // settles them, before the relay headers and the propagator's lock.
    if !headers.contains_key("traceparent") {
        return None;
    }
    honours_inbound_context(peer, headers).then(|| crate::extract_context(headers))
}

/// Whether a request from `peer` with `headers` may continue the trace it names.
pub fn honours_inbound_context(peer: Option<IpAddr>, headers: &HeaderMap) -> bool {
    let relayed = RELAY_HEADERS.iter().any(|name| headers.contains_key(*name));
    !relayed && peer.is_some_and(is_internal)
}

fn is_internal(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_internal(IpAddr::V4(v4)),
            None => v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_direct_internal_peers_are_trusted() {
        let none = HeaderMap::new();
        let mut relayed = HeaderMap::new();
        relayed.insert("x-forwarded-for", "203.0.113.7".parse().unwrap());
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.20.0.5",
            "192.168.1.9",
            "::1",
            "fd00::5",
        ] {
            let peer = internal.parse().ok();
            assert!(honours_inbound_context(peer, &none), "{internal}");
            assert!(
                !honours_inbound_context(peer, &relayed),
                "{internal} relayed"
            );
        }
        for public in ["203.0.113.7", "8.8.8.8", "2001:db8::1", "::ffff:8.8.8.8"] {
            assert!(
                !honours_inbound_context(public.parse().ok(), &none),
                "{public}"
            );
        }
        assert!(!honours_inbound_context(None, &none));
    }

    #[test]
    fn a_trusted_peer_continues_the_trace_it_names_and_only_that() {
        use opentelemetry::trace::TraceContextExt as _;

        let loopback = "127.0.0.1".parse().ok();
        assert!(
            inbound_context(loopback, &HeaderMap::new()).is_none(),
            "no traceparent: a new trace"
        );
        let mut named = HeaderMap::new();
        named.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        let continued = inbound_context(loopback, &named).expect("a trusted peer's trace");
        assert_eq!(
            continued.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(inbound_context("8.8.8.8".parse().ok(), &named).is_none());
        named.insert("x-forwarded-for", "203.0.113.7".parse().unwrap());
        assert!(inbound_context(loopback, &named).is_none(), "relayed");
    }
}
