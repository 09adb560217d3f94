//! A RabbitMQ user that exists for one test, one `cargo xtask test` run or one `cargo xtask
//! cluster`: full permissions on vhost `/`, deleted again when the value is dropped.
//!
//! Production refuses `guest` as the broker user (see `shop_config::secrets`), so
//! whatever starts services in the production profile against the shared broker needs a user
//! of its own. The shared broker has no management plugin, so this goes through `rabbitmqctl`
//! (the machine's test runner is root, which may read the Erlang cookie). Each call starts an
//! Erlang VM, about 0.6 s here: create one user per cluster or run, not per request.

use std::process::{Command, Output};
use std::sync::OnceLock;

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
        Self::create_named(format!("test-{}", uuid::Uuid::new_v4().simple()))
    }

    fn create_named(name: String) -> Self {
        let password = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        Self::add(name, password).unwrap_or_else(|error| panic!("{error}"))
    }

    /// Creates user `name` with `password`, first deleting a user of that name that a killed
    /// run left behind; an error says which `rabbitmqctl` call failed and why. For tools that
    /// report errors rather than panic (`cargo xtask test` and `cluster`).
    pub fn replace(name: &str, password: &str) -> Result<Self, String> {
        // Its absence is fine.
        let _ = run(&["delete_user", name]);
        Self::add(name.to_owned(), password.to_owned())
    }

    fn add(name: String, password: String) -> Result<Self, String> {
        rabbitmqctl(&["add_user", &name, &password])?;
        let user = Self { name, password };
        // Dropped from here on, so a failed grant still deletes the user.
        rabbitmqctl(&["set_permissions", "-p", "/", &user.name, ".*", ".*", ".*"])?;
        Ok(user)
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
        listed(&users_listing(), name)
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

/// Prefix of the users [`service_url`] creates, followed by the creating process's id.
const PROCESS_USER_PREFIX: &str = "test-proc-";

/// `AMQP_URL` of the shared broker for whatever this test process starts in the production
/// profile, which refuses `guest`: one user per process, created on first use, shared by every
/// service and helper in the process (each `rabbitmqctl` call costs about 0.6 s).
///
/// `cargo xtask test` runs every test in a process of its own, so it creates one user for the
/// whole run and passes its URL in [`RUN_URL_VAR`]; then no process pays for `rabbitmqctl`.
///
/// Otherwise a static is never dropped, so the user outlives the process. Its name carries the
/// process id (`test-proc-<pid>-<random>`), and creating the next one first deletes those
/// whose process is gone: at most one user per test binary still running, or last run, remains.
pub fn service_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    static USER: OnceLock<TempBrokerUser> = OnceLock::new();
    URL.get_or_init(|| match std::env::var(RUN_URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => USER.get_or_init(create_process_user).url(),
    })
}

/// The environment variable in which the test runner passes a broker URL, with a user of its
/// own, for every test process of the run.
const RUN_URL_VAR: &str = "SHOP_TEST_AMQP_URL";

/// What [`service_url`] keeps: first the users of ended processes go, then this process's
/// is created.
fn create_process_user() -> TempBrokerUser {
    delete_users_of_ended_processes();
    TempBrokerUser::create_named(format!(
        "{PROCESS_USER_PREFIX}{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ))
}

/// Deletes the users [`service_url`] created in processes that no longer run. A process is
/// alive while `/proc/<pid>` exists (tests and broker share the host's process ids). A
/// reused id only keeps a stale user longer; failures are ignored, as another process may be
/// deleting the same user at the same moment.
fn delete_users_of_ended_processes() {
    for name in stale_process_users(&users_listing(), |pid| {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    }) {
        let _ = run(&["delete_user", &name]);
    }
}

/// The names in a `list_users --silent` listing (`name\t[tags]` per line) that
/// [`service_url`] created in a process for which `alive` says no.
fn stale_process_users(listing: &str, alive: impl Fn(u32) -> bool) -> Vec<String> {
    listing
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| {
            name.strip_prefix(PROCESS_USER_PREFIX)
                .and_then(|rest| rest.split_once('-'))
                .and_then(|(pid, _)| pid.parse::<u32>().ok())
                .is_some_and(|pid| !alive(pid))
        })
        .map(str::to_owned)
        .collect()
}

/// The broker's users as `list_users --silent` prints them (`name\t[tags]` per line).
fn users_listing() -> String {
    String::from_utf8_lossy(&run(&["list_users", "--silent"]).stdout).into_owned()
}

/// Whether `listing` (from [`users_listing`]) names `name`.
fn listed(listing: &str, name: &str) -> bool {
    listing
        .lines()
        .any(|line| line.split_whitespace().next() == Some(name))
}

/// Runs `rabbitmqctl args`; an error unless it succeeds.
fn rabbitmqctl(args: &[&str]) -> Result<(), String> {
    let output = run(args);
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "rabbitmqctl {} failed: {}",
        args[0],
        String::from_utf8_lossy(&output.stderr).trim()
    ))
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
    use super::*;
    use crate::broker::TestBroker;

    #[test]
    fn only_users_of_ended_processes_are_stale() {
        let listing = "guest\t[administrator]\n\
                       test-proc-41-a1b2c3\t[]\n\
                       test-proc-42-d4e5f6\t[]\n\
                       test-proc-x-d4e5f6\t[]\n\
                       test-0f9e8d\t[]\n\
                       shop-order\t[]\n";
        assert_eq!(
            stale_process_users(listing, |pid| pid == 42),
            ["test-proc-41-a1b2c3"]
        );
    }

    /// The life of a process user: creating it first deletes a user left by a process that
    /// ended; it can connect; dropping it deletes it. One test, because each `rabbitmqctl`
    /// call starts an Erlang VM (about a CPU-second here).
    #[tokio::test]
    async fn a_process_user_replaces_those_of_ended_processes_connects_and_goes_with_drop() {
        let mut ended = Command::new("true").spawn().expect("`true` runs");
        let pid = ended.id();
        ended.wait().expect("`true` ends");
        let stale = TempBrokerUser::create_named(format!("{PROCESS_USER_PREFIX}{pid}-stale"));
        let stale_name = stale.name.clone();
        // As a static leaves it: never dropped.
        std::mem::forget(stale);

        let own = create_process_user();
        let listing = users_listing();
        if listed(&listing, &stale_name) {
            let _ = run(&["delete_user", &stale_name]);
            panic!("{stale_name} was not deleted");
        }
        let prefix = format!("{PROCESS_USER_PREFIX}{}-", std::process::id());
        assert!(own.name.starts_with(&prefix), "{}", own.name);
        assert!(listed(&listing, &own.name), "{} was not created", own.name);
        TestBroker::connect_to(&own.url()).await;

        let name = own.name.clone();
        drop(own);
        assert!(!TempBrokerUser::exists(&name), "{name} still exists");
    }

    #[tokio::test]
    async fn every_caller_in_a_process_shares_one_user_that_can_connect() {
        let url = service_url();
        assert_eq!(service_url(), url);
        TestBroker::connect_to(url).await;
    }
}
