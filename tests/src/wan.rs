//! A WAN emulator: a TCP proxy in front of a server (the target region's
//! S3 endpoint in the WAN benchmark) adding a one-way delay, jitter, a
//! per-connection bandwidth cap and a cap shared by all connections (one
//! link) to each direction. The kernel here has no netem, so the proxy is
//! the way.
//!
//! Per connection and direction, a reader paces the bytes it reads with a
//! token bucket (the link's serialisation at the cap) and stamps each chunk
//! with the time it may leave (now + delay + jitter, never before the chunk
//! ahead of it: jitter does not reorder bytes); a writer forwards each chunk
//! at its time. Chunks are in flight together, so a stream sees the delay
//! once, not once per chunk: a long fat pipe. What is in flight is bounded
//! by a byte budget of about cap × delay plus a margin.
//!
//! The settings can change while connections are open (the benchmark runs
//! several RTTs on one stack and the clients keep their connections in a
//! pool); each chunk is stamped with the settings of the moment.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Largest read, so pacing and delay work on small steps.
const CHUNK: usize = 64 * 1024;
/// Bytes in flight beyond cap × delay (and all of it without a cap).
const MARGIN: usize = 1024 * 1024;
/// A sender this little behind the link's schedule is still sending back
/// to back (timer lateness); further behind, the link was idle.
const SLACK: Duration = Duration::from_millis(5);
/// The rate assumed to size the pipe of an uncapped delayed link.
const UNCAPPED_RATE: u64 = 256 * 1000 * 1000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WanSettings {
    /// Added to every byte in each direction (RTT / 2).
    pub one_way_delay: Duration,
    /// Up to this much more, uniformly at random, per chunk.
    pub jitter: Duration,
    /// Per connection and direction; `None`: uncapped.
    pub per_connection_bytes_per_sec: Option<u64>,
    /// Per direction, shared by every connection: their bytes take turns
    /// on one link, as a FULL's parts and a log do on a real one; `None`:
    /// no shared link.
    pub shared_bytes_per_sec: Option<u64>,
}

impl WanSettings {
    /// A link of this round-trip time (one-way = rtt / 2) and cap.
    pub fn rtt(rtt: Duration, bytes_per_sec: Option<u64>) -> Self {
        Self {
            one_way_delay: rtt / 2,
            jitter: Duration::ZERO,
            per_connection_bytes_per_sec: bytes_per_sec.filter(|r| *r > 0),
            shared_bytes_per_sec: None,
        }
    }

    /// Bytes one direction may hold in flight: cap × (delay + jitter) + margin.
    fn pipe_bytes(&self) -> usize {
        let rate = self.per_connection_bytes_per_sec.unwrap_or(UNCAPPED_RATE);
        let secs = (self.one_way_delay + self.jitter).as_secs_f64();
        ((rate as f64 * secs) as usize).saturating_add(MARGIN)
    }
}

/// The proxy; listens on 127.0.0.1 on a random port. Dropping it stops the
/// listener and every connection through it.
pub struct WanProxy {
    addr: SocketAddr,
    settings: watch::Sender<WanSettings>,
    shared: Arc<SharedLink>,
    task: tokio::task::JoinHandle<()>,
}

impl WanProxy {
    pub async fn start(upstream: SocketAddr, settings: WanSettings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = watch::channel(settings);
        let shared = Arc::new(SharedLink::default());
        let task = tokio::spawn(accept(listener, upstream, rx, shared.clone()));
        Ok(Self {
            addr,
            settings: tx,
            shared,
            task,
        })
    }

    /// Bytes sent on to the server so far, on every connection.
    pub fn bytes_upstream(&self) -> u64 {
        self.shared.bytes_up.load(Ordering::Relaxed)
    }

    /// Drops every open connection at once, as a link that fails does;
    /// connections made afterwards work.
    pub fn cut(&self) {
        if let Ok(mut cut) = self.shared.cut.lock() {
            std::mem::take(&mut *cut).cancel();
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, for an S3 endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Applies to every chunk read from now on, on open connections too.
    pub fn set(&self, settings: WanSettings) {
        self.settings.send_replace(settings);
    }

    pub fn settings(&self) -> WanSettings {
        *self.settings.borrow()
    }
}

impl Drop for WanProxy {
    fn drop(&mut self) {
        // The accept task owns the connections' JoinSet: aborting it
        // aborts them all.
        self.task.abort();
    }
}

/// What the connections share: when the shared link is next free, in
/// each direction; what they sent on; what cuts them.
#[derive(Debug, Default)]
struct SharedLink {
    up: Mutex<Option<Instant>>,
    down: Mutex<Option<Instant>>,
    bytes_up: AtomicU64,
    /// Cancelled (and replaced) by [`WanProxy::cut`].
    cut: Mutex<CancellationToken>,
}

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    settings: watch::Receiver<WanSettings>,
    shared: Arc<SharedLink>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((client, _)) = accepted {
                    let cut = shared.cut.lock().map(|c| c.clone()).unwrap_or_default();
                    let pumps = connection(client, upstream, settings.clone(), shared.clone());
                    connections.spawn(async move {
                        tokio::select! {
                            _ = cut.cancelled() => {}
                            _ = pumps => {}
                        }
                    });
                }
            }
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// One client connection: connects upstream and pumps both directions until
/// both have ended (a failed upstream connect closes the client).
async fn connection(
    client: TcpStream,
    upstream: SocketAddr,
    settings: watch::Receiver<WanSettings>,
    shared: Arc<SharedLink>,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    // The proxy adds the delay it is told to, not Nagle's.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        pump(
            client_read,
            server_write,
            settings.clone(),
            &shared.up,
            Some(&shared.bytes_up)
        ),
        pump(server_read, client_write, settings, &shared.down, None),
    );
}

/// A chunk and when it may leave; `None` data: the sender's end (FIN).
struct InFlight {
    release_at: Instant,
    data: Option<Vec<u8>>,
}

/// One direction: the reader paces and stamps, the writer delays and sends.
async fn pump(
    from: OwnedReadHalf,
    to: OwnedWriteHalf,
    settings: watch::Receiver<WanSettings>,
    shared: &Mutex<Option<Instant>>,
    sent: Option<&AtomicU64>,
) {
    let budget = Arc::new(Semaphore::new(0));
    // Unbounded in messages, bounded in bytes by the budget.
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::join!(
        read_side(from, tx, budget.clone(), settings, shared),
        write_side(to, rx, budget, sent),
    );
}

/// Puts `bytes` on a link of `rate` free from `free_at` on; returns when
/// they are all on the wire. A wake-up late by the timer's granularity is
/// no idle link: within SLACK the next bytes follow on at once, or each
/// sleep's lateness would add up and pace a stream below the cap.
fn on_link(free_at: &mut Option<Instant>, bytes: usize, rate: u64) -> Instant {
    let now = Instant::now();
    let start = match *free_at {
        Some(free) if now <= free + SLACK => free,
        _ => now,
    };
    let done = start + Duration::from_secs_f64(bytes as f64 / rate as f64);
    *free_at = Some(done);
    done
}

async fn read_side(
    mut from: OwnedReadHalf,
    tx: mpsc::UnboundedSender<InFlight>,
    budget: Arc<Semaphore>,
    settings: watch::Receiver<WanSettings>,
    shared: &Mutex<Option<Instant>>,
) {
    let mut granted = 0usize;
    let mut last_release = Instant::now();
    let mut own_link: Option<Instant> = None;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => 0,
            Ok(n) => n,
        };
        // The settings of the moment the bytes arrived.
        let s = *settings.borrow();
        // The budget only grows: a lower setting later leaves it larger.
        let want = s.pipe_bytes();
        if want > granted {
            budget.add_permits(want - granted);
            granted = want;
        }
        if n > 0 {
            // At most CHUNK, far below u32::MAX.
            let Ok(permit) = budget.acquire_many(n as u32).await else {
                return;
            };
            // The writer gives the bytes back once sent.
            permit.forget();
            // The bytes leave one after another at the connection's cap,
            // and take their turn on the shared link: whichever is later.
            let own = s
                .per_connection_bytes_per_sec
                .map(|rate| on_link(&mut own_link, n, rate));
            let shared = s.shared_bytes_per_sec.and_then(|rate| {
                let mut free_at = shared.lock().ok()?;
                Some(on_link(&mut free_at, n, rate))
            });
            if let Some(sent) = own.max(shared) {
                tokio::time::sleep_until(sent).await;
            }
        }
        let jitter = match s.jitter.is_zero() {
            true => Duration::ZERO,
            false => rand::thread_rng().gen_range(Duration::ZERO..=s.jitter),
        };
        // Never before the chunk ahead of it: no reordering.
        let release_at = (Instant::now() + s.one_way_delay + jitter).max(last_release);
        last_release = release_at;
        let data = (n > 0).then(|| buf[..n].to_vec());
        let end = data.is_none();
        if tx.send(InFlight { release_at, data }).is_err() || end {
            return;
        }
    }
}

async fn write_side(
    mut to: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<InFlight>,
    budget: Arc<Semaphore>,
    sent: Option<&AtomicU64>,
) {
    write_chunks(&mut to, &mut rx, &budget, sent).await;
    // Wakes a reader waiting for budget the writer will never give back.
    budget.close();
}

async fn write_chunks(
    to: &mut OwnedWriteHalf,
    rx: &mut mpsc::UnboundedReceiver<InFlight>,
    budget: &Semaphore,
    sent: Option<&AtomicU64>,
) {
    while let Some(chunk) = rx.recv().await {
        tokio::time::sleep_until(chunk.release_at).await;
        let Some(data) = chunk.data else {
            // Half-close: the far end sees the FIN, delayed like the data.
            let _ = to.shutdown().await;
            return;
        };
        let failed = to.write_all(&data).await.is_err();
        budget.add_permits(data.len());
        if let Some(sent) = sent.filter(|_| !failed) {
            sent.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        if failed {
            // The receiver is gone: dropping `rx` stops the reader.
            return;
        }
    }
}

pub mod plan;
#[cfg(test)]
mod tests;
