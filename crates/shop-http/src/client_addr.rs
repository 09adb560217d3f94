//! Which client a request comes from, when it may have passed through a gateway.
//!
//! Behind the gateway every connection comes from the gateway's address, so per-client limits
//! keyed on the peer would treat all clients as one. The gateway appends the address it saw to
//! `X-Forwarded-For`; that header is believed only when the direct peer is a trusted proxy
//! (`TRUSTED_PROXIES`), because any client can send it. Walking the header from the right and
//! skipping trusted hops finds the first address no trusted proxy vouches for being someone
//! else: the client. Entries further left were written by the client and are ignored.
//!
//! A service calling on behalf of a client (the storefront for a shopper) is one address for
//! all of them; it names the client in `X-Client-IP` instead, believed only beside the service
//! credential ([`ClientAddressing`]).
//!
//! [`client_key`] turns an address into a rate-limit key. An IPv6 host usually owns a whole
//! /64 and can pick any address in it, so IPv6 clients are keyed by their /64.

use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use salvo::http::HeaderMap;
use shop_config::{Secret, TrustedProxies};

use crate::service_auth::carries_service_token;

pub use crate::headers::CLIENT_IP_HEADER;

/// The client's address: `peer` itself unless `peer` is a trusted proxy, then the rightmost
/// `X-Forwarded-For` entry that is not one. A trusted peer sending no usable header is taken as
/// the client (a health check or a proxy misconfiguration, not a reason to fail the request).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let mut hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    while let Some(hop) = hops.pop() {
        // A garbled entry was not written by a trusted proxy: stop at the last good address.
        let Some(address) = parse_hop(hop) else {
            break;
        };
        client = address;
        if !trusted.contains(address) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(address) = IpAddr::from_str(hop) {
        return Some(address.to_canonical());
    }
    std::net::SocketAddr::from_str(hop)
        .ok()
        .map(|socket| socket.ip().to_canonical())
}

/// The key under which per-client limits count `address`: the address for IPv4, its /64
/// network for IPv6.
pub fn client_key(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            let network = Ipv6Addr::new(
                segments[0],
                segments[1],
                segments[2],
                segments[3],
                0,
                0,
                0,
                0,
            );
            format!("{network}/64")
        }
    }
}

/// The peer of a salvo request; `None` for a Unix socket.
fn peer_ip(req: &salvo::Request) -> Option<IpAddr> {
    let remote = req.remote_addr();
    remote
        .as_ipv4()
        .map(|addr| IpAddr::V4(*addr.ip()))
        .or_else(|| remote.as_ipv6().map(|addr| IpAddr::V6(*addr.ip())))
}

/// How a service finds the client a request counts against. A service calling on behalf of
/// someone else (the storefront for a shopper) names that client in [`CLIENT_IP_HEADER`]; the
/// header is believed only beside the service credential, since anyone can send it. A trusted
/// proxy is not enough: gateways append to `X-Forwarded-For` but pass other headers through, so
/// a shopper's own `X-Client-IP` would arrive from a trusted peer. Without the credential the
/// client is [`client_ip`]'s.
#[derive(Debug, Clone, Default)]
pub struct ClientAddressing {
    trusted_proxies: TrustedProxies,
    service_token: Option<Secret>,
}

impl ClientAddressing {
    /// `service_token` from [`ServiceTokenConfig::resolve`](crate::service_auth::ServiceTokenConfig::resolve):
    /// `None` believes no `X-Client-IP`.
    pub fn new(trusted_proxies: TrustedProxies, service_token: Option<Secret>) -> Self {
        Self {
            trusted_proxies,
            service_token,
        }
    }

    /// The client's address. A service stating an unusable `X-Client-IP` (garbled, or more than
    /// one) is a bug on its side, not the shopper's: the request counts against the address
    /// found without the header, and the mistake is logged.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let found = client_ip(peer, headers, &self.trusted_proxies);
        let mut stated = headers.get_all(CLIENT_IP_HEADER).iter();
        let Some(first) = stated.next() else {
            return found;
        };
        if !carries_service_token(headers, self.service_token.as_ref()) {
            return found;
        }
        let parsed = match (first.to_str(), stated.next()) {
            (Ok(value), None) => parse_hop(value.trim()),
            _ => None,
        };
        parsed.unwrap_or_else(|| {
            let value = String::from_utf8_lossy(first.as_bytes());
            tracing::warn!(
                stated = %value.chars().take(64).collect::<String>(),
                client = %found,
                "a service stated an unusable X-Client-IP; counting the request against its sender"
            );
            found
        })
    }

    /// The per-client key of a salvo request: [`Self::client_ip`] then [`client_key`]. A
    /// request with no IP peer (a Unix socket) is keyed `unknown`.
    pub fn request_client_key(&self, req: &salvo::Request) -> String {
        match peer_ip(req) {
            Some(peer) => client_key(self.client_ip(peer, req.headers())),
            None => "unknown".into(),
        }
    }
}

/// The client address of a salvo request ([`client_ip`]: the peer, or `X-Forwarded-For` from a
/// trusted proxy); `None` when the peer has no IP address (a Unix socket).
pub fn request_client_ip(req: &salvo::Request, trusted: &TrustedProxies) -> Option<IpAddr> {
    Some(client_ip(peer_ip(req)?, req.headers(), trusted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use salvo::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                "x-forwarded-for",
                HeaderValue::from_str(value).expect("header"),
            );
        }
        headers
    }

    #[test]
    fn an_untrusted_peer_cannot_name_another_client() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").expect("list");
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(
            client_ip(ip("198.51.100.7"), &headers, &trusted),
            ip("198.51.100.7")
        );
        let nobody = TrustedProxies::default();
        assert_eq!(client_ip(ip("10.0.0.2"), &headers, &nobody), ip("10.0.0.2"));
    }

    #[test]
    fn a_trusted_peer_names_the_client_and_forged_entries_to_the_left_are_ignored() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").expect("list");
        // The client forged "1.1.1.1"; the gateway appended the address it really saw.
        let headers = forwarded(&["1.1.1.1, 203.0.113.9"]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers, &trusted),
            ip("203.0.113.9")
        );
        // Two trusted hops (and the header split over two lines) are skipped.
        let headers = forwarded(&["1.1.1.1, 203.0.113.9", "10.1.1.1"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &headers, &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_trusted_peer_without_a_usable_header_is_the_client() {
        let trusted = TrustedProxies::parse("127.0.0.1/32").expect("list");
        let peer = ip("127.0.0.1");
        assert_eq!(client_ip(peer, &HeaderMap::new(), &trusted), peer);
        assert_eq!(client_ip(peer, &forwarded(&["nonsense"]), &trusted), peer);
        let ported = forwarded(&["[2001:db8::1]:443"]);
        assert_eq!(client_ip(peer, &ported, &trusted), ip("2001:db8::1"));
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa::1")),
            client_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            client_key(ip("2001:db8:1:2::1")),
            client_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(client_key(ip("2001:db8:1:2::1")), "2001:db8:1:2::/64");
        assert_eq!(client_key(ip("::ffff:192.0.2.1")), "192.0.2.1");
        let trusted = TrustedProxies::parse("127.0.0.1").expect("list");
        assert!(trusted.contains(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn a_bad_entry_names_the_setting() {
        let error = TrustedProxies::parse("10.0.0.0/8, example.com").expect_err("refused");
        assert_eq!(error.key, "TRUSTED_PROXIES");
        assert!(error.reason.contains("example.com"));
        let parsed: TrustedProxies =
            serde_json::from_str(r#"["10.0.0.0/8", "::1"]"#).expect("array form");
        assert!(parsed.contains(ip("::1")));
    }

    fn stating(client: &str, token: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.append(
            CLIENT_IP_HEADER,
            HeaderValue::from_str(client).expect("header"),
        );
        if let Some(token) = token {
            headers.insert(
                crate::service_auth::SERVICE_TOKEN_HEADER,
                HeaderValue::from_str(token).expect("header"),
            );
        }
        headers
    }

    #[test]
    fn x_client_ip_is_believed_only_beside_the_service_token() {
        let token = "right-token-right-token";
        let addressing = ClientAddressing::new(
            TrustedProxies::parse("127.0.0.1").expect("list"),
            Some(Secret::new(token)),
        );
        let caller = ip("198.51.100.7");
        let stated = |headers: &HeaderMap| addressing.client_ip(caller, headers);
        assert_eq!(
            stated(&stating("203.0.113.9", Some(token))),
            ip("203.0.113.9")
        );
        assert_eq!(
            stated(&stating("[2001:db8::1]:443", Some(token))),
            ip("2001:db8::1")
        );
        assert_eq!(stated(&stating("203.0.113.9", None)), caller);
        assert_eq!(
            stated(&stating("203.0.113.9", Some("wrong-token-wrong"))),
            caller
        );
        // A trusted proxy passes a shopper's own header through: not believed on its word.
        let headers = stating("203.0.113.9", None);
        assert_eq!(
            addressing.client_ip(ip("127.0.0.1"), &headers),
            ip("127.0.0.1")
        );
        // Without a configured token (production without SERVICE_TOKEN) nobody is believed.
        let shut = ClientAddressing::new(TrustedProxies::default(), None);
        assert_eq!(
            shut.client_ip(caller, &stating("203.0.113.9", Some(token))),
            caller
        );
    }

    #[test]
    fn an_unusable_x_client_ip_from_a_service_counts_against_the_sender() {
        let token = "right-token-right-token";
        let addressing = ClientAddressing::new(TrustedProxies::default(), Some(Secret::new(token)));
        let caller = ip("198.51.100.7");
        assert_eq!(
            addressing.client_ip(caller, &stating("not-an-address", Some(token))),
            caller
        );
        let mut twice = stating("203.0.113.9", Some(token));
        twice.append(CLIENT_IP_HEADER, HeaderValue::from_static("203.0.113.10"));
        assert_eq!(addressing.client_ip(caller, &twice), caller);
    }
}
