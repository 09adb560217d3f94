//! Which client a request comes from, when it may have passed through a gateway.
//!
//! Behind the gateway every connection comes from the gateway's address, so per-client limits
//! keyed on the peer would treat all clients as one. The gateway appends the address it saw to
//! `X-Forwarded-For`; that header is believed only when the direct peer is a trusted proxy
//! (`TRUSTED_PROXIES`), because any client can send it. Walking the header from the right and
//! skipping trusted hops finds the first address no trusted proxy vouches for being someone
//! else: the client. Entries further left were written by the client and are ignored.
//!
//! [`client_key`] turns an address into a rate-limit key. An IPv6 host usually owns a whole
//! /64 and can pick any address in it, so IPv6 clients are keyed by their /64.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;
use salvo::http::HeaderMap;
use serde::{Deserialize, Deserializer};

use crate::config::ConfigError;

/// The header a trusted caller (the storefront, with its service token) states its own
/// client's address in, when it calls another service on that client's behalf.
pub const CLIENT_IP_HEADER: &str = "x-client-ip";

/// The networks whose connections may state the client address in `X-Forwarded-For`.
/// Empty (the default) trusts nobody: the peer address is the client.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a list of CIDR blocks or single addresses separated by commas or whitespace,
    /// e.g. `10.0.0.0/8, 127.0.0.1, fd00::/8`.
    pub fn parse(list: &str) -> Result<Self, ConfigError> {
        list.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|item| !item.is_empty())
            .map(parse_net)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|net| net.contains(&address))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn parse_net(item: &str) -> Result<IpNet, ConfigError> {
    IpNet::from_str(item)
        .or_else(|_| IpAddr::from_str(item).map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| {
            ConfigError::new(
                "TRUSTED_PROXIES",
                format!("`{item}` is not an IP address or CIDR block"),
            )
        })
}

/// In the configuration reference: the blocks as they would be written, or "empty".
impl crate::config::SettingValue for TrustedProxies {
    fn show(&self) -> String {
        if self.0.is_empty() {
            "empty".into()
        } else {
            let blocks: Vec<String> = self.0.iter().map(ToString::to_string).collect();
            format!("`{}`", blocks.join(","))
        }
    }
}

impl fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(ToString::to_string))
            .finish()
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // An environment variable gives one string; a TOML file may give an array.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            One(String),
            Many(Vec<String>),
        }
        let list = match Form::deserialize(deserializer)? {
            Form::One(list) => list,
            Form::Many(items) => items.join(","),
        };
        Self::parse(&list).map_err(|error| serde::de::Error::custom(error.reason))
    }
}

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

/// The client address of a salvo request ([`client_ip`]); `None` when the peer has no IP
/// address (a Unix socket).
pub fn request_client_ip(req: &salvo::Request, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = req
        .remote_addr()
        .as_ipv4()
        .map(|addr| IpAddr::V4(*addr.ip()))
        .or_else(|| {
            req.remote_addr()
                .as_ipv6()
                .map(|addr| IpAddr::V6(*addr.ip()))
        })?;
    Some(client_ip(peer, req.headers(), trusted))
}

/// The per-client key of a salvo request: [`client_ip`] then [`client_key`]. A request with
/// no IP peer (a Unix socket) is keyed `unknown`.
pub fn request_client_key(req: &salvo::Request, trusted: &TrustedProxies) -> String {
    request_client_ip(req, trusted).map_or_else(|| "unknown".into(), client_key)
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
}
