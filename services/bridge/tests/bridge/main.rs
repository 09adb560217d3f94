//! The event bridge against the real RabbitMQ and NATS JetStream.

mod benchmark;
mod harness;
mod mirroring;
mod outages;
mod platform;
mod publisher;
mod stream;
