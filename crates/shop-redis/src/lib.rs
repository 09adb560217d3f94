//! Redis for optional uses such as a cache: a bb8-redis pool whose every command is traced,
//! bounded by a short timeout and guarded by a [`CircuitBreaker`].
//!
//! The service must keep working when Redis is down or slow, so nothing here waits long: getting
//! a connection is bounded by `REDIS_CONNECT_TIMEOUT_MS`, a command by `REDIS_TIMEOUT_MS`, and
//! after `REDIS_BREAKER_FAILURES` consecutive failures the breaker answers
//! [`RedisError::CircuitOpen`] at once for `REDIS_BREAKER_OPEN_MS`, then lets one trial through.
//! Connections that failed are dropped from the pool (bb8-redis cannot tell a dead multiplexed
//! connection from a live one), and bb8 makes new ones, so Redis coming back is used again
//! without a restart. The pool is built without connecting, so the service starts with Redis
//! down. [`RedisCheck`] reports Redis in `/health` as an optional dependency.
//! [`Redis::follow`] keeps a pub/sub subscription to one channel, re-established after a loss
//! (pausing per [`shop_config::backoff::reconnect_backoff`]); [`Redis::follow_reporting`] also
//! says when it is established and when it is lost.
#![warn(missing_debug_implementations)]

pub mod breaker;

use std::sync::Arc;
use std::time::Duration;

use bb8_redis::RedisConnectionManager;
use bb8_redis::bb8::{self, ManageConnection, RunError};
use futures_util::StreamExt as _;
use prometheus_client::metrics::gauge::Gauge;
use redis::aio::MultiplexedConnection;
use redis::io::tcp::TcpSettings;
use redis::{Cmd, FromRedisValue, IntoConnectionInfo, ScriptInvocation};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing::field::Empty;

use crate::breaker::{CircuitBreaker, CircuitState};
use shop_config::{ConfigError, Secret};
use shop_telemetry::DependencyCheck;
use shop_telemetry::metrics::Metrics;

shop_config::settings_section! {
    /// Redis
    pub struct RedisConfig {
        /// `redis://[:password@]host:port[/db]`, the cache; optional: the service runs without
        /// it.
        pub redis_url: Secret = Secret::new("redis://127.0.0.1:6379");
        /// Connections in the pool (each one multiplexes many commands).
        #[range(1..)]
        pub redis_pool_max_size: u32 = 8;
        /// The longest one command may take (milliseconds).
        #[range(1..)]
        pub redis_timeout_ms: u64 = 100;
        /// The longest a request waits for a pooled connection (milliseconds).
        #[range(1..)]
        pub redis_connect_timeout_ms: u64 = 250;
        /// Consecutive failures that open the circuit.
        #[range(1..)]
        pub redis_breaker_failures: u32 = 3;
        /// How long an open circuit skips Redis before a trial call (milliseconds).
        pub redis_breaker_open_ms: u64 = 1_000;
    }
}

impl RedisConfig {
    /// Checks that the URL is one the client accepts (the ranges are checked while extracting).
    pub fn validate(&self) -> Result<(), ConfigError> {
        redis::Client::open(self.redis_url.expose())
            .map(drop)
            .map_err(|error| ConfigError::new("REDIS_URL", error.to_string()))
    }
}

/// Why a Redis call gave no answer. Callers of an optional dependency treat all of them the
/// same way (go without), but logs and metrics tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("redis skipped: circuit open after repeated failures")]
    CircuitOpen,
    #[error("no redis connection: {0}")]
    Unavailable(String),
    #[error("redis command timed out")]
    Timeout,
    #[error("redis command failed")]
    Command(#[source] redis::RedisError),
}

impl RedisError {
    /// Failures that say Redis is unreachable or unwell, as opposed to a refused command.
    fn is_outage(&self) -> bool {
        match self {
            Self::CircuitOpen | Self::Unavailable(_) | Self::Timeout => true,
            Self::Command(error) => connection_failed(error),
        }
    }
}

fn connection_failed(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_timeout()
        || error.is_unrecoverable_error()
}

/// A pooled connection that remembers whether it failed, so the pool drops it.
#[derive(Debug)]
pub struct TrackedConnection {
    connection: MultiplexedConnection,
    broken: bool,
}

/// bb8-redis's manager, plus the broken-connection tracking it lacks.
#[derive(Debug)]
struct Manager(RedisConnectionManager);

impl ManageConnection for Manager {
    type Connection = TrackedConnection;
    type Error = redis::RedisError;

    async fn connect(&self) -> Result<Self::Connection, Self::Error> {
        Ok(TrackedConnection {
            connection: self.0.connect().await?,
            broken: false,
        })
    }

    async fn is_valid(&self, conn: &mut Self::Connection) -> Result<(), Self::Error> {
        self.0.is_valid(&mut conn.connection).await
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        conn.broken
    }
}

enum Request<'a> {
    Command(&'a Cmd),
    Script(&'a ScriptInvocation<'a>),
}

/// The Redis client of a service: pool, timeouts, breaker and spans.
#[derive(Clone)]
pub struct Redis {
    pool: bb8::Pool<Manager>,
    /// Subscriptions need a connection of their own, outside the pool.
    client: redis::Client,
    breaker: Arc<CircuitBreaker>,
    timeout: Duration,
    connect_timeout: Duration,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("timeout", &self.timeout)
            .field("circuit", &self.breaker.state())
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// Builds the pool without connecting: Redis may be down when the service starts.
    pub fn new(config: &RedisConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let info = config
            .redis_url
            .expose()
            .into_connection_info()
            .map_err(|error| ConfigError::new("REDIS_URL", error.to_string()))?
            // redis-rs leaves Nagle on; with many small pipelined commands per connection
            // that delays replies by milliseconds under load.
            .set_tcp_settings(TcpSettings::default().set_nodelay(true));
        let client = redis::Client::open(info.clone())
            .map_err(|error| ConfigError::new("REDIS_URL", error.to_string()))?;
        let manager = RedisConnectionManager::new(info)
            .map_err(|error| ConfigError::new("REDIS_URL", error.to_string()))?;
        let pool = bb8::Pool::builder()
            .max_size(config.redis_pool_max_size)
            .min_idle(None)
            // A PING per checkout would double the round trips; failed connections are
            // flagged instead and dropped when returned.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_millis(config.redis_connect_timeout_ms))
            .build_unchecked(Manager(manager));
        Ok(Self {
            pool,
            client,
            breaker: Arc::new(CircuitBreaker::new(
                config.redis_breaker_failures,
                Duration::from_millis(config.redis_breaker_open_ms),
            )),
            timeout: Duration::from_millis(config.redis_timeout_ms),
            connect_timeout: Duration::from_millis(config.redis_connect_timeout_ms),
        })
    }

    /// Runs one command.
    pub async fn query<T: FromRedisValue>(&self, command: &Cmd) -> Result<T, RedisError> {
        let operation = command_name(command);
        self.call(&operation, Request::Command(command), true).await
    }

    /// Runs a Lua script (EVALSHA, loading it first if the server does not know it).
    pub async fn invoke<T: FromRedisValue>(
        &self,
        script: &ScriptInvocation<'_>,
    ) -> Result<T, RedisError> {
        self.call("EVALSHA", Request::Script(script), true).await
    }

    /// PING, past the breaker: the health check asks Redis itself, and a success closes the
    /// circuit at once.
    pub async fn ping(&self) -> Result<(), RedisError> {
        self.call::<String>("PING", Request::Command(&redis::cmd("PING")), false)
            .await
            .map(drop)
    }

    /// Exposes `redis_circuit_open` (1 while Redis is being skipped) and the pool's size.
    pub fn register_metrics(&self, metrics: &Metrics) {
        let open = Gauge::<i64>::default();
        let connections = Gauge::<i64>::default();
        metrics.register(
            "redis_circuit_open",
            "1 while the Redis circuit breaker skips Redis",
            open.clone(),
        );
        metrics.register(
            "redis_pool_connections",
            "Redis connections in the pool",
            connections.clone(),
        );
        let this = self.clone();
        metrics.on_scrape(move || {
            open.set(i64::from(this.breaker.state() != CircuitState::Closed));
            connections.set(i64::from(this.pool.state().connections));
        });
    }

    async fn call<T: FromRedisValue>(
        &self,
        operation: &str,
        request: Request<'_>,
        guarded: bool,
    ) -> Result<T, RedisError> {
        if guarded && !self.breaker.allow() {
            return Err(RedisError::CircuitOpen);
        }
        let span = tracing::info_span!(
            "redis.command",
            otel.name = %format!("redis {operation}"),
            otel.kind = "client",
            otel.status_code = Empty,
            db.system = "redis",
            db.operation = %operation,
        );
        let outcome = self.execute(request).instrument(span.clone()).await;
        match &outcome {
            Err(error) if error.is_outage() => {
                span.record("otel.status_code", "ERROR");
                self.breaker.record_failure();
            }
            // An answer, even a refusal, means Redis is there.
            _ => self.breaker.record_success(),
        }
        outcome
    }

    async fn execute<T: FromRedisValue>(&self, request: Request<'_>) -> Result<T, RedisError> {
        let mut pooled = self.pool.get().await.map_err(|error| match error {
            RunError::TimedOut => RedisError::Unavailable("no connection in time".into()),
            RunError::User(error) => RedisError::Unavailable(error.to_string()),
        })?;
        let connection = &mut pooled.connection;
        let answer = match request {
            Request::Command(command) => {
                tokio::time::timeout(self.timeout, command.query_async(connection)).await
            }
            Request::Script(script) => {
                tokio::time::timeout(self.timeout, script.invoke_async(connection)).await
            }
        };
        match answer {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                pooled.broken = connection_failed(&error);
                Err(RedisError::Command(error))
            }
            Err(_) => {
                // The reply may still arrive; a fresh connection is simpler than trusting it.
                pooled.broken = true;
                Err(RedisError::Timeout)
            }
        }
    }
}

/// What a subscription followed by [`Redis::follow_reporting`] went through.
#[derive(Debug)]
pub enum Subscription {
    /// Subscribed: from now on, what is published on the channel is heard.
    Live,
    /// A message's text.
    Message(String),
    /// The subscription ended; messages published until the next [`Subscription::Live`] are
    /// lost.
    Lost,
}

impl Redis {
    /// Follows `channel` until `stop`, handing each message's text to `on_message`. Redis
    /// keeps no pub/sub message for a subscriber that is away, so whatever is published while
    /// the subscription is lost is gone: a caller that must not miss one needs a backstop of
    /// its own.
    pub async fn follow(
        &self,
        channel: &str,
        stop: CancellationToken,
        mut on_message: impl FnMut(String) + Send,
    ) {
        self.follow_reporting(channel, stop, |event| {
            if let Subscription::Message(text) = event {
                on_message(text);
            }
        })
        .await;
    }

    /// [`Self::follow`], also telling `on_event` when the subscription is established and when
    /// it is lost, for a caller that must know whether it can hear the channel.
    pub async fn follow_reporting(
        &self,
        channel: &str,
        stop: CancellationToken,
        mut on_event: impl FnMut(Subscription) + Send,
    ) {
        let mut backoff = shop_config::backoff::reconnect_backoff();
        loop {
            let (error, subscribed) = tokio::select! {
                () = stop.cancelled() => return,
                ended = self.listen(channel, &mut on_event) => ended,
            };
            if subscribed {
                on_event(Subscription::Lost);
                // It worked for a while: start again from the shortest pause.
                backoff = shop_config::backoff::reconnect_backoff();
            }
            let pause = backoff.next().unwrap_or(Duration::from_secs(5));
            tracing::warn!(error = %error, channel, retry_in = ?pause, "redis subscription lost");
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One subscription, for as long as it lasts; returns why it ended, and whether it had
    /// been established.
    async fn listen(
        &self,
        channel: &str,
        on_event: &mut (impl FnMut(Subscription) + Send),
    ) -> (RedisError, bool) {
        let subscribe = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = match tokio::time::timeout(self.connect_timeout, subscribe).await {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(error)) => return (RedisError::Command(error), false),
            Err(_) => return (RedisError::Timeout, false),
        };
        on_event(Subscription::Live);
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            match message.get_payload::<String>() {
                Ok(payload) => on_event(Subscription::Message(payload)),
                Err(error) => tracing::warn!(error = %error, channel, "unreadable pub/sub message"),
            }
        }
        let closed = RedisError::Unavailable("the subscription's connection closed".into());
        (closed, true)
    }
}

fn command_name(command: &Cmd) -> String {
    match command.args_iter().next() {
        Some(redis::Arg::Simple(name)) => String::from_utf8_lossy(name).to_ascii_uppercase(),
        _ => "COMMAND".into(),
    }
}

/// `/health` entry for Redis; optional, so the service stays ready while it is down.
#[derive(Debug, Clone)]
pub struct RedisCheck(pub Redis);

#[salvo::async_trait]
impl DependencyCheck for RedisCheck {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn required(&self) -> bool {
        false
    }

    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|error| error.to_string())
    }
}
