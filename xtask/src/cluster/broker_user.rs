//! The cluster's own RabbitMQ user: its replicas run in the production profile, which refuses
//! `guest`. The password lives in `.cluster/secrets.env`; the user exists while the cluster
//! runs and is deleted when this value is dropped, on a clean stop and on an error alike.

use std::process::{Command, Output};

use anyhow::{Context, bail};

/// One name, so a user left by a cluster that was killed is replaced, not piled up.
pub const NAME: &str = "shop-cluster";

#[derive(Debug)]
pub struct ClusterBrokerUser {
    password: String,
}

impl ClusterBrokerUser {
    /// (Re)creates the user with `password` and every permission on vhost `/`.
    pub fn create(password: &str) -> anyhow::Result<Self> {
        // A leftover of a killed run would make add_user fail; its absence is fine.
        let _ = rabbitmqctl(&["delete_user", NAME]);
        check(rabbitmqctl(&["add_user", NAME, password])?, "add_user")?;
        let user = Self {
            password: password.to_owned(),
        };
        check(
            rabbitmqctl(&["set_permissions", "-p", "/", NAME, ".*", ".*", ".*"])?,
            "set_permissions",
        )?;
        Ok(user)
    }

    pub fn url(&self) -> String {
        format!("amqp://{NAME}:{}@127.0.0.1:5672/%2f", self.password)
    }
}

impl Drop for ClusterBrokerUser {
    /// Synchronous and bounded by rabbitmqctl's own timeout.
    fn drop(&mut self) {
        match rabbitmqctl(&["delete_user", NAME]) {
            Ok(output) if output.status.success() => {}
            _ => eprintln!(
                "cluster: broker user {NAME} not deleted; `rabbitmqctl delete_user {NAME}`"
            ),
        }
    }
}

fn rabbitmqctl(args: &[&str]) -> anyhow::Result<Output> {
    Command::new("rabbitmqctl")
        .args(["--timeout", "15"])
        .args(args)
        .output()
        .context("running rabbitmqctl (the cluster creates its own broker user)")
}

fn check(output: Output, what: &str) -> anyhow::Result<()> {
    if !output.status.success() {
        bail!(
            "rabbitmqctl {what}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
