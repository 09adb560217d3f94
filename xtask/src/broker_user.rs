//! A RabbitMQ user of our own for whatever runs services in the production profile, which
//! refuses `guest`: the cluster (its password lives in `.cluster/secrets.env`) and a test run
//! (`cargo xtask test` hands it to every test process). The user exists while the value lives
//! and is deleted when it is dropped, on a clean stop and on an error alike.

use std::process::{Command, Output};

use anyhow::{Context, bail};

/// One name, so a user left by a cluster that was killed is replaced, not piled up.
pub const NAME: &str = "shop-cluster";

#[derive(Debug)]
pub struct BrokerUser {
    name: String,
    password: String,
}

impl BrokerUser {
    /// (Re)creates the cluster's user with `password` and every permission on vhost `/`.
    pub fn create(password: &str) -> anyhow::Result<Self> {
        Self::create_named(NAME, password)
    }

    /// (Re)creates user `name` with `password` and every permission on vhost `/`.
    pub fn create_named(name: &str, password: &str) -> anyhow::Result<Self> {
        // A leftover of a killed run would make add_user fail; its absence is fine.
        let _ = rabbitmqctl(&["delete_user", name]);
        check(rabbitmqctl(&["add_user", name, password])?, "add_user")?;
        let user = Self {
            name: name.to_owned(),
            password: password.to_owned(),
        };
        check(
            rabbitmqctl(&["set_permissions", "-p", "/", name, ".*", ".*", ".*"])?,
            "set_permissions",
        )?;
        Ok(user)
    }

    pub fn url(&self) -> String {
        format!("amqp://{}:{}@127.0.0.1:5672/%2f", self.name, self.password)
    }
}

impl Drop for BrokerUser {
    /// Synchronous and bounded by rabbitmqctl's own timeout.
    fn drop(&mut self) {
        let name = &self.name;
        match rabbitmqctl(&["delete_user", name]) {
            Ok(output) if output.status.success() => {}
            _ => eprintln!("broker user {name} not deleted; `rabbitmqctl delete_user {name}`"),
        }
    }
}

fn rabbitmqctl(args: &[&str]) -> anyhow::Result<Output> {
    Command::new("rabbitmqctl")
        .args(["--timeout", "15"])
        .args(args)
        .output()
        .context("running rabbitmqctl (to create a broker user of our own)")
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
