//! A user-space TCP proxy for one link, which adds latency, jitter and loss to what crosses it.
//! The kernel of the chaos hosts has no netem, so the links that are to be degraded
//! ([`crate::schedule::Link`]) run through one of these instead.
//!
//! Every chunk read from one side is written to the other after the current delay ± a uniform
//! jitter. Within a connection each direction keeps its order: chunks wait in a queue and a
//! chunk is never released before the one ahead of it, so jitter stretches the stream but never
//! reorders it (TCP would reorder nothing either).
//!
//! Loss cannot drop bytes inside a TCP stream, so a lost segment is emulated the way the
//! endpoints of a lossy link experience it: the segment arrives late, once TCP retransmits it.
//! With probability `loss_percent` a chunk is held an extra [`RETRANSMISSION_TIMEOUT`]; the
//! retransmission may be lost again, with the same probability, and each further loss doubles
//! the timeout, as TCP's backoff does, up to [`MAX_BACKOFF_DOUBLINGS`] times (after which the
//! chunk gets through). Everything behind a held chunk waits for it: the head-of-line blocking
//! a lost segment causes.
//!
//! The settings are read for every chunk, so [`LinkProxy::set`] and [`LinkProxy::clear`] act at
//! once on open connections as well as new ones; chunks already queued keep their release time.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// What a lost chunk waits for its first retransmission: Linux's minimum retransmission
/// timeout.
pub const RETRANSMISSION_TIMEOUT: Duration = Duration::from_millis(200);

/// How many times a chunk lost again and again has its retransmission timeout doubled before it
/// gets through: at most 200 + 400 + 800 + 1600 ms extra.
pub const MAX_BACKOFF_DOUBLINGS: u32 = 3;

/// The most bytes read at once, each read forwarded as one chunk.
const CHUNK_BYTES: usize = 16 * 1024;

/// The most chunks waiting in one direction of one connection. When the queue is full the proxy
/// stops reading, so the sender feels the back-pressure a slow link gives instead of the proxy
/// buffering without bound.
const QUEUED_CHUNKS: usize = 64;

/// How long the accept loop waits after a failed accept (out of file descriptors, typically),
/// so it does not spin on an error that only time clears.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// How a link is degraded. The default degrades nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Degradation {
    /// The delay of every chunk, in each direction.
    pub delay_ms: u64,
    /// The most the delay varies, up or down, drawn uniformly per chunk (the delay never goes
    /// below zero).
    pub jitter_ms: u64,
    /// The chance, in percent, that a chunk is lost and waits for a retransmission (see the
    /// module's doc).
    pub loss_percent: u8,
}

/// A running proxy: connections to [`LinkProxy::local_addr`] are forwarded to the upstream
/// address, degraded as last [`set`](LinkProxy::set). Stopping it, or dropping it, closes the
/// listener and every forwarded connection.
#[derive(Debug)]
pub struct LinkProxy {
    local_addr: SocketAddr,
    degradation: Arc<Mutex<Degradation>>,
    accept_loop: JoinHandle<()>,
}

impl LinkProxy {
    /// Listens on `listen` (port 0 picks a free one) and forwards every connection to
    /// `upstream`, with no degradation until [`LinkProxy::set`]. Returns once it listens; must
    /// be called within a tokio runtime, which runs the proxy's tasks.
    pub async fn start(listen: SocketAddr, upstream: SocketAddr) -> io::Result<LinkProxy> {
        let listener = TcpListener::bind(listen).await?;
        let local_addr = listener.local_addr()?;
        let degradation = Arc::new(Mutex::new(Degradation::default()));
        let accept_loop = tokio::spawn(accept_connections(
            listener,
            upstream,
            Arc::clone(&degradation),
        ));
        Ok(LinkProxy {
            local_addr,
            degradation,
            accept_loop,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Degrades every chunk read from now on, on open connections and new ones.
    pub fn set(&self, degradation: Degradation) {
        *self.lock_degradation() = degradation;
    }

    /// Degrades nothing from now on.
    pub fn clear(&self) {
        self.set(Degradation::default());
    }

    /// The degradation in force.
    pub fn degradation(&self) -> Degradation {
        *self.lock_degradation()
    }

    /// Closes the listener and every forwarded connection (both ends see the connection
    /// close). The same as dropping it; this names the intent.
    pub fn stop(self) {}

    fn lock_degradation(&self) -> std::sync::MutexGuard<'_, Degradation> {
        // The guarded value is a plain copy, consistent whatever a panicking holder did.
        self.degradation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        // The accept loop owns the listener and, in its JoinSet, every connection's task:
        // cancelling it drops them all, and dropping a connection's task closes its sockets.
        self.accept_loop.abort();
    }
}

async fn accept_connections(
    listener: TcpListener,
    upstream: SocketAddr,
    degradation: Arc<Mutex<Degradation>>,
) {
    let mut connections = JoinSet::new();
    // Rebound after the set so that, cancelled, the listener is dropped before the
    // connections: once a connection closes, new ones are already refused.
    let listener = listener;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    connections.spawn(forward(client, upstream, Arc::clone(&degradation)));
                }
                Err(_) => tokio::time::sleep(ACCEPT_ERROR_PAUSE).await,
            },
            // Reaps finished connections so the set holds only live ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Forwards one connection until both directions have ended, or either fails.
async fn forward(client: TcpStream, upstream: SocketAddr, degradation: Arc<Mutex<Degradation>>) {
    // An unreachable upstream closes the client's connection: what the client would see if
    // the far end refused it.
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    // Chunks are already held on purpose; Nagle's algorithm would add delay of its own.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // An error in one direction (a reset, typically) ends the other too: dropping the halves
    // closes both sockets.
    let _ = tokio::try_join!(
        forward_direction(client_read, server_write, Arc::clone(&degradation)),
        forward_direction(server_read, client_write, degradation),
    );
}

/// Forwards one direction of a connection: a reader stamps each chunk with its release time
/// and queues it, a writer writes each chunk at its time. At the end of the stream the writer
/// passes it on (half-close) once the queue is empty.
async fn forward_direction(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    degradation: Arc<Mutex<Degradation>>,
) -> io::Result<()> {
    let (queue, mut released) = mpsc::channel::<(Instant, Vec<u8>)>(QUEUED_CHUNKS);
    let reading = async move {
        let mut pacing = Pacing::new(StdRng::from_rng(&mut rand::rng()));
        let mut buffer = vec![0; CHUNK_BYTES];
        loop {
            let read = from.read(&mut buffer).await?;
            if read == 0 {
                // Dropping the queue's sender tells the writer the stream ended.
                return Ok(());
            }
            let settings = *degradation.lock().unwrap_or_else(PoisonError::into_inner);
            let release = pacing.release_time(Instant::now(), &settings);
            if queue
                .send((release, buffer[..read].to_vec()))
                .await
                .is_err()
            {
                // The writer failed; its error ends the connection.
                return Ok(());
            }
        }
    };
    let writing = async move {
        while let Some((release, chunk)) = released.recv().await {
            tokio::time::sleep_until(release).await;
            to.write_all(&chunk).await?;
        }
        to.shutdown().await
    };
    tokio::try_join!(reading, writing).map(|_| ())
}

/// When the chunks of one direction are released.
struct Pacing {
    rng: StdRng,
    /// The release time of the last chunk: the next one is never released before it.
    last_release: Option<Instant>,
}

impl Pacing {
    fn new(rng: StdRng) -> Pacing {
        Pacing {
            rng,
            last_release: None,
        }
    }

    /// When a chunk read at `now` is to be written.
    fn release_time(&mut self, now: Instant, degradation: &Degradation) -> Instant {
        let wanted = now + self.hold(degradation);
        let release = self.last_release.map_or(wanted, |last| wanted.max(last));
        self.last_release = Some(release);
        release
    }

    /// How long a chunk is held: the delay ± jitter, plus the retransmission timeouts of its
    /// losses.
    fn hold(&mut self, degradation: &Degradation) -> Duration {
        let jitter_ms = degradation.jitter_ms;
        let delay_ms = if jitter_ms == 0 {
            degradation.delay_ms
        } else {
            let offset_ms = self.rng.random_range(0..=jitter_ms.saturating_mul(2));
            degradation
                .delay_ms
                .saturating_add(offset_ms)
                .saturating_sub(jitter_ms)
        };
        let mut hold = Duration::from_millis(delay_ms);
        let loss_percent = u32::from(degradation.loss_percent.min(100));
        let mut timeout = RETRANSMISSION_TIMEOUT;
        for _ in 0..=MAX_BACKOFF_DOUBLINGS {
            if loss_percent == 0 || !self.rng.random_ratio(loss_percent, 100) {
                break;
            }
            hold += timeout;
            timeout *= 2;
        }
        hold
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use super::*;

    /// The guard against a hung test: generous, since the machine is slow and shared.
    const GUARD: Duration = Duration::from_secs(60);

    async fn guarded<T>(what: &str, future: impl Future<Output = T>) -> T {
        tokio::time::timeout(GUARD, future)
            .await
            .unwrap_or_else(|_| panic!("{what} took more than {GUARD:?}"))
    }

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    /// A server that sends back whatever it receives, until the client's end of the stream.
    async fn start_echo_server() -> SocketAddr {
        let listener = TcpListener::bind(loopback()).await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let (mut read, mut write) = socket.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                    let _ = write.shutdown().await;
                });
            }
        });
        address
    }

    async fn start_proxy_to_echo() -> LinkProxy {
        let echo = start_echo_server().await;
        LinkProxy::start(loopback(), echo).await.unwrap()
    }

    /// Sends `payload` through the proxy to the echo server, ends the stream, and returns
    /// everything that came back.
    async fn echo_through(proxy: &LinkProxy, payload: Vec<u8>) -> Vec<u8> {
        let client = TcpStream::connect(proxy.local_addr()).await.unwrap();
        let (mut read, mut write) = client.into_split();
        // Written while reading: the echo's buffers fill up otherwise and both sides stall.
        let writer = tokio::spawn(async move {
            write.write_all(&payload).await.unwrap();
            write.shutdown().await.unwrap();
        });
        let mut echoed = Vec::new();
        read.read_to_end(&mut echoed).await.unwrap();
        writer.await.unwrap();
        echoed
    }

    fn patterned(len: usize) -> Vec<u8> {
        (0..len).map(|index| (index % 251) as u8).collect()
    }

    /// Sends a short message and waits for its echo; returns how long that took.
    async fn round_trip(client: &mut TcpStream) -> Duration {
        let started = Instant::now();
        client.write_all(b"ping").await.unwrap();
        let mut answer = [0; 4];
        client.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"ping");
        started.elapsed()
    }

    #[tokio::test]
    async fn bytes_cross_intact_and_in_order() {
        guarded("the echo", async {
            let proxy = start_proxy_to_echo().await;
            let payload = patterned(200 * 1024);
            assert!(echo_through(&proxy, payload.clone()).await == payload);
        })
        .await;
    }

    #[tokio::test]
    async fn bytes_cross_intact_and_in_order_with_jitter_and_loss() {
        guarded("the degraded echo", async {
            let proxy = start_proxy_to_echo().await;
            proxy.set(Degradation {
                delay_ms: 20,
                jitter_ms: 20,
                loss_percent: 2,
            });
            let payload = patterned(200 * 1024);
            assert!(echo_through(&proxy, payload.clone()).await == payload);
        })
        .await;
    }

    #[tokio::test]
    async fn a_delay_holds_each_direction() {
        guarded("the delayed round trip", async {
            let proxy = start_proxy_to_echo().await;
            proxy.set(Degradation {
                delay_ms: 150,
                ..Degradation::default()
            });
            let mut client = TcpStream::connect(proxy.local_addr()).await.unwrap();
            let elapsed = round_trip(&mut client).await;
            assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        })
        .await;
    }

    #[tokio::test]
    async fn settings_change_on_open_connections() {
        guarded("the round trips", async {
            let proxy = start_proxy_to_echo().await;
            let mut client = TcpStream::connect(proxy.local_addr()).await.unwrap();
            round_trip(&mut client).await;

            let delayed = Degradation {
                delay_ms: 150,
                ..Degradation::default()
            };
            proxy.set(delayed);
            assert_eq!(proxy.degradation(), delayed);
            let elapsed = round_trip(&mut client).await;
            assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");

            // How fast the next round trip is depends on the machine; that the removed delay
            // is no longer drawn is what Pacing's tests check.
            proxy.clear();
            assert_eq!(proxy.degradation(), Degradation::default());
            round_trip(&mut client).await;
        })
        .await;
    }

    #[tokio::test]
    async fn stop_closes_forwarded_connections_and_the_listener() {
        guarded("the close", async {
            let proxy = start_proxy_to_echo().await;
            let address = proxy.local_addr();
            let mut client = TcpStream::connect(address).await.unwrap();
            round_trip(&mut client).await;

            proxy.stop();
            let mut rest = Vec::new();
            // An end of stream or a reset: either way the connection is gone.
            let _ = client.read_to_end(&mut rest).await;
            assert!(rest.is_empty());
            // The connection's task is gone, so the accept loop that owned it, and its
            // listener, are too.
            assert!(TcpStream::connect(address).await.is_err());
        })
        .await;
    }

    #[tokio::test]
    async fn an_unreachable_upstream_closes_the_connection() {
        guarded("the close", async {
            let gone = TcpListener::bind(loopback()).await.unwrap();
            let upstream = gone.local_addr().unwrap();
            drop(gone);
            let proxy = LinkProxy::start(loopback(), upstream).await.unwrap();
            let mut client = TcpStream::connect(proxy.local_addr()).await.unwrap();
            let mut rest = Vec::new();
            let _ = client.read_to_end(&mut rest).await;
            assert!(rest.is_empty());
        })
        .await;
    }

    fn pacing() -> Pacing {
        Pacing::new(StdRng::seed_from_u64(3))
    }

    #[test]
    fn no_degradation_holds_nothing() {
        let mut pacing = pacing();
        for _ in 0..1_000 {
            assert_eq!(pacing.hold(&Degradation::default()), Duration::ZERO);
        }
    }

    #[test]
    fn jitter_spreads_the_delay_evenly_around_it() {
        let mut pacing = pacing();
        let degradation = Degradation {
            delay_ms: 150,
            jitter_ms: 50,
            loss_percent: 0,
        };
        let holds: Vec<Duration> = (0..1_000).map(|_| pacing.hold(&degradation)).collect();
        let range = Duration::from_millis(100)..=Duration::from_millis(200);
        assert!(holds.iter().all(|hold| range.contains(hold)));
        assert!(holds.iter().any(|hold| *hold < Duration::from_millis(120)));
        assert!(holds.iter().any(|hold| *hold > Duration::from_millis(180)));

        let beyond_zero = Degradation {
            delay_ms: 10,
            jitter_ms: 50,
            loss_percent: 0,
        };
        let holds: Vec<Duration> = (0..1_000).map(|_| pacing.hold(&beyond_zero)).collect();
        assert!(holds.iter().all(|hold| *hold <= Duration::from_millis(60)));
        assert!(holds.contains(&Duration::ZERO));
    }

    #[test]
    fn a_lost_chunk_waits_for_its_retransmissions_with_backoff() {
        let mut pacing = pacing();
        let always_lost = Degradation {
            loss_percent: 100,
            ..Degradation::default()
        };
        // 200 + 400 + 800 + 1600 ms: the first timeout and three doublings.
        assert_eq!(pacing.hold(&always_lost), Duration::from_millis(3_000));

        let sometimes_lost = Degradation {
            delay_ms: 10,
            jitter_ms: 0,
            loss_percent: 20,
        };
        let holds: Vec<Duration> = (0..1_000).map(|_| pacing.hold(&sometimes_lost)).collect();
        let lost = holds
            .iter()
            .filter(|hold| **hold > Duration::from_millis(10))
            .count();
        assert!((100..=300).contains(&lost), "{lost} of 1000 lost");
        let possible = [10, 210, 610, 1_410, 3_010].map(Duration::from_millis);
        assert!(holds.iter().all(|hold| possible.contains(hold)));
    }

    #[test]
    fn chunks_are_never_released_before_the_one_ahead() {
        let mut pacing = pacing();
        let now = Instant::now();
        let slow = Degradation {
            delay_ms: 500,
            ..Degradation::default()
        };
        let held = pacing.release_time(now, &slow);
        // Cleared right after: the next chunk must still wait for the held one.
        let next = pacing.release_time(now + Duration::from_millis(1), &Degradation::default());
        assert_eq!(next, held);
        let jittery = Degradation {
            delay_ms: 100,
            jitter_ms: 100,
            loss_percent: 10,
        };
        let mut last = next;
        for step in 0..1_000 {
            let release = pacing.release_time(now + Duration::from_millis(step), &jittery);
            assert!(release >= last);
            last = release;
        }
    }
}
