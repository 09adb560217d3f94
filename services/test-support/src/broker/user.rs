//! A RabbitMQ user that exists for one test or one `cargo xtask cluster` run: a random name and
//! password, full permissions on vhost `/`, deleted again when the value is dropped.
//!
//! Production refuses `guest` as the broker user (see `service_runtime::config::secrets`), so
//! whatever starts services in the production profile against the shared broker needs a user
//! of its own. The shared broker has no management plugin, so this goes through `rabbitmqctl`
//! (the machine's test runner is root, which may read the Erlang cookie). Each call starts an
//! Erlang VM, about 0.6 s here: create one user per cluster or run, not per request.

use std::process::{Command, Output};

/// Seconds a `rabbitmqctl` call may take before it gives up, so a dead broker cannot hold a
/// test (or its `Drop`) forever.
const CTL_TIMEOUT_SECS: &str = "15";

#[derive(Debug)]
pub struct TempBrokerUser {
    pub name: String,
    password: String,
}

impl TempBrokerUser {
    /// Creates the user on the shared broker; panics (naming the command) if it cannot.
    pub fn create() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let user = Self {
            name: format!("test-{id}"),
            password: format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
        };
        rabbitmqctl(&["add_user", &user.name, &user.password]);
        // Dropped from here on, so a failed grant still deletes the user.
        rabbitmqctl(&["set_permissions", "-p", "/", &user.name, ".*", ".*", ".*"]);
        user
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// `AMQP_URL` for the shared broker as this user.
    pub fn url(&self) -> String {
        self.url_at(super::BROKER_ADDRESS)
    }

    /// `AMQP_URL` for `address` (`host:port`, a proxy in front of the broker, say) as this user.
    pub fn url_at(&self, address: &str) -> String {
        format!("amqp://{}:{}@{address}/%2f", self.name, self.password)
    }

    /// Whether the broker knows a user called `name`.
    pub fn exists(name: &str) -> bool {
        let listed = run(&["list_users", "--silent"]);
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .any(|line| line.split_whitespace().next() == Some(name))
    }
}

impl Drop for TempBrokerUser {
    /// Synchronous and bounded by `CTL_TIMEOUT_SECS`: the user is gone when this returns,
    /// unless the broker is, and then a warning says which user was left behind.
    fn drop(&mut self) {
        let output = run(&["delete_user", &self.name]);
        if !output.status.success() {
            eprintln!(
                "warning: broker user {} not deleted: {}",
                self.name,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
    }
}

/// Runs `rabbitmqctl args`, panicking unless it succeeds.
fn rabbitmqctl(args: &[&str]) {
    let output = run(args);
    assert!(
        output.status.success(),
        "rabbitmqctl {} failed: {}",
        args[0],
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

fn run(args: &[&str]) -> Output {
    Command::new("rabbitmqctl")
        .args(["--timeout", CTL_TIMEOUT_SECS])
        .args(args)
        .output()
        .expect("rabbitmqctl runs (RabbitMQ's CLI, as root)")
}

#[cfg(test)]
mod tests {
    use super::TempBrokerUser;
    use crate::broker::TestBroker;

    #[tokio::test]
    async fn the_user_can_connect_and_is_gone_after_drop() {
        let started = std::time::Instant::now();
        let user = TempBrokerUser::create();
        eprintln!("created in {:?}", started.elapsed());
        TestBroker::connect_to(&user.url()).await;
        let name = user.name.clone();
        assert!(TempBrokerUser::exists(&name));

        let started = std::time::Instant::now();
        drop(user);
        eprintln!("deleted in {:?}", started.elapsed());
        assert!(!TempBrokerUser::exists(&name), "{name} still exists");
    }
}
