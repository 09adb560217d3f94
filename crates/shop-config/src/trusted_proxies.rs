//! The `TRUSTED_PROXIES` setting: which networks may state a client's address. A setting type,
//! so it lives with the settings; reading the address from a request is the HTTP layer's.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

use crate::ConfigError;

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
impl crate::SettingValue for TrustedProxies {
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
