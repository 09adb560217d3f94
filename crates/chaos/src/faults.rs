//! Applying a [`Fault`] to the running system and healing it: routes, links and queueing
//! disciplines through [`Lab`], signals to replicas and servers, degradations on the link
//! proxies, and the rolling restart the operators run.

use std::net::Ipv4Addr;

use anyhow::Context as _;

use crate::lab::{BRIDGE_TO_NATS, HOST_B_TO_POSTGRES_PROXY, Host, Lab, ORDER_TO_PRODUCT};
use crate::link::Degradation;
use crate::schedule::{Broker, Fault, Link, ReplicaHost};
use crate::system::System;

/// The one-way cuts a partition fault makes: (host whose packets fail, address they go to).
/// Set on both sides where the peer also opens connections, so established ones break too.
pub fn cuts(fault: &Fault) -> Vec<(Host, Ipv4Addr)> {
    match fault {
        Fault::DatabasePartition { host } => {
            let replica_host = host.host();
            let mut cuts = vec![
                (replica_host, Host::Postgres.address()),
                (Host::Postgres, replica_host.address()),
            ];
            if *host == ReplicaHost::B {
                // host-b reaches PostgreSQL through the link proxy's address.
                cuts.push((replica_host, HOST_B_TO_POSTGRES_PROXY));
            }
            cuts
        }
        Fault::OrderProductPartition => vec![
            (Host::HostA, ORDER_TO_PRODUCT),
            (Host::HostB, ORDER_TO_PRODUCT),
        ],
        Fault::BridgeNatsPartition => {
            vec![(Host::HostA, BRIDGE_TO_NATS), (Host::HostB, BRIDGE_TO_NATS)]
        }
        _ => Vec::new(),
    }
}

/// The words the output uses for what a partition cut, e.g. `host-a ↛ 10.77.0.20 (postgres)`.
pub fn describe_cuts(fault: &Fault) -> Vec<String> {
    cuts(fault)
        .into_iter()
        .map(|(host, address)| format!("{} ↛ {address} ({})", host.name(), owner(address)))
        .collect()
}

fn owner(address: Ipv4Addr) -> &'static str {
    if address == HOST_B_TO_POSTGRES_PROXY {
        return "postgres, through the link proxy";
    }
    Host::ALL
        .into_iter()
        .find(|host| host.addresses().contains(&address))
        .map_or("?", Host::name)
}

fn degradation(fault: &Fault) -> Option<(Link, Degradation)> {
    match fault {
        Fault::Latency {
            link,
            delay_ms,
            jitter_ms,
        } => Some((
            *link,
            Degradation {
                delay_ms: *delay_ms,
                jitter_ms: *jitter_ms,
                loss_percent: 0,
            },
        )),
        Fault::Loss { link, percent } => Some((
            *link,
            Degradation {
                delay_ms: 0,
                jitter_ms: 0,
                loss_percent: *percent,
            },
        )),
        _ => None,
    }
}

fn set_link(system: &System, link: Link, degradation: Option<Degradation>) {
    let proxies: Vec<&crate::link::LinkProxy> = match link {
        Link::GatewayToHostA => system.gateway_to_host_a.iter().collect(),
        Link::HostBToPostgres => vec![&system.host_b_to_postgres],
    };
    for proxy in proxies {
        match degradation {
            Some(degradation) => proxy.set(degradation),
            None => proxy.clear(),
        }
    }
}

/// Applies `fault`. A rolling restart runs to its end here (it heals itself).
pub async fn apply(system: &mut System, fault: &Fault) -> anyhow::Result<()> {
    for (host, address) in cuts(fault) {
        Lab::prohibit(host, address)?;
    }
    if let Some((link, degradation)) = degradation(fault) {
        set_link(system, link, Some(degradation));
    }
    match fault {
        Fault::BrokerIsolated => Lab::set_link(Host::RabbitMq, false)?,
        Fault::HostIsolated { host } => Lab::set_link(host.host(), false)?,
        Fault::Bandwidth { host, kbit } => Lab::limit_bandwidth(host.host(), Some(*kbit))?,
        Fault::KillReplica { service, host } => system.replica_mut(*service, *host).kill().await?,
        Fault::PauseReplica { service, host } => {
            system.replica_mut(*service, *host).signal("STOP")?;
        }
        Fault::KillBroker { broker } => broker_server(system, *broker).kill().await?,
        Fault::PauseBroker { broker } => broker_server(system, *broker).signal("STOP")?,
        Fault::RollingRestart => {
            let System {
                gateway, replicas, ..
            } = system;
            gateway::rolling::rolling_restart(gateway, replicas, |line| {
                println!("chaos: rolling restart: {line}");
            })
            .await
            .context("the rolling restart")?;
        }
        _ => {}
    }
    Ok(())
}

/// Undoes `fault`: the cut routes removed, the link back up, the process continued or started
/// again with the same settings and data.
pub async fn heal(system: &mut System, fault: &Fault) -> anyhow::Result<()> {
    for (host, address) in cuts(fault) {
        Lab::allow(host, address)?;
    }
    if let Some((link, _)) = degradation(fault) {
        set_link(system, link, None);
    }
    match fault {
        Fault::BrokerIsolated => Lab::set_link(Host::RabbitMq, true)?,
        Fault::HostIsolated { host } => Lab::set_link(host.host(), true)?,
        Fault::Bandwidth { host, .. } => Lab::limit_bandwidth(host.host(), None)?,
        Fault::KillReplica { service, host } => {
            use gateway::rolling::ReplicaProcess as _;
            system.replica_mut(*service, *host).start()?;
        }
        Fault::PauseReplica { service, host } => {
            system.replica_mut(*service, *host).signal("CONT")?;
        }
        Fault::KillBroker { broker } => broker_server(system, *broker).start().await?,
        Fault::PauseBroker { broker } => broker_server(system, *broker).signal("CONT")?,
        _ => {}
    }
    Ok(())
}

fn broker_server(system: &mut System, broker: Broker) -> &mut crate::infra::Server {
    match broker {
        Broker::RabbitMq => &mut system.rabbitmq,
        Broker::Nats => &mut system.nats,
    }
}
