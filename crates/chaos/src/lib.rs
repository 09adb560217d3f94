//! Faults as a product feature: `cargo xtask chaos` runs the replicated system with every
//! host on a network namespace of its own, drives a recorded workload through the gateway
//! while a fault schedule partitions, slows, pauses and kills parts of it, then checks the
//! history for the promises the system makes (docs/reliability.md).
//!
//! - [`history`]: what the run records: every request, every fault window, the events seen on
//!   RabbitMQ and JetStream, the notifications sent, and the databases' final state.
//! - [`check`]: the checker of a history: safety counts (lost or doubled orders, stock not
//!   conserved, oversell, events lost, doubled or out of order, notifications doubled or
//!   missing, stale reads) and availability per fault window.
//! - [`report`]: the markdown report with its SVG timeline.
//! - [`schedule`]: the fault schedule, drawn from a seed or read from a file.
//! - [`link`]: the user-space proxy that adds latency, jitter and loss to one link.
//! - [`lab`]: the hosts (network namespaces on one bridge) and the cuts between them.
//! - [`infra`]: the run's own PostgreSQL, Redis, RabbitMQ and NATS on their hosts.
//! - [`system`]: the replicas and the gateway on their hosts.
//! - [`faults`]: applying and healing a fault.
//! - [`workload`]: the recorded clients; [`recorders`]: the events, notifications and final
//!   state; [`run`]: one run from start to end.

pub mod check;
pub mod faults;
pub mod history;
pub mod infra;
pub mod lab;
pub mod link;
pub mod process;
pub mod recorders;
pub mod report;
pub mod run;
pub mod schedule;
pub mod system;
pub mod workload;
