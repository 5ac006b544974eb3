//! The shaping layer: a WebRTC runtime whose UDP sockets apply a link's conditions on send.
//!
//! Each link's peer connection is built with its own [`ShapedRuntime`], which knows the link's
//! peer and hands the WebRTC stack a [`ShapedSocket`] around the real one. On every datagram
//! the socket asks its [`Shaper`] what to do: send now through the real socket (a perfect link
//! costs one check), drop it (reporting it sent, as a lossy network would), or queue it for a
//! sender task that sends it when due. ICE, DTLS and SCTP above see only the effects: late,
//! missing, repeated or reordered datagrams, and they react as they would on a real network.
//! Its timers are served on the node's grids (`timer_grid.rs`), so that a node's links wake it
//! together: the coarse one while the socket has seen the link quiet (`activity.rs`).
//! Everything else the runtime does is the library's own tokio runtime.

use std::collections::BinaryHeap;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, RecvMeta, Runtime,
    Transmit,
};

use super::activity::LinkActivity;
use super::shaper::{Plan, Shaper};
use super::timer_grid::{self, GRID};
use super::NetConditions;

/// Most bytes one link direction may hold in its delay queue; past that datagrams are dropped,
/// as a router's full queue would.
const MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;

/// The runtime of one link: the library's runtime, with shaped UDP sockets.
#[derive(Debug)]
pub struct ShapedRuntime {
    inner: Arc<dyn Runtime>,
    net: Arc<NetConditions>,
    peer: String,
    /// What the link's socket saw, which picks the grid its timers are served on.
    activity: Arc<LinkActivity>,
    /// The grid step while the link is quiet; `None`: always [`GRID`].
    quiet_step: Option<Duration>,
}

impl ShapedRuntime {
    /// A runtime for the link to `peer`, shaped by `net`, whose long timers are served on
    /// `quiet_step` while the link is quiet ([`timer_grid::quiet_step_for`]); `None` if the
    /// library was built without a runtime (it is built with tokio here).
    pub fn new(net: Arc<NetConditions>, peer: &str, quiet_step: Option<Duration>) -> Option<Self> {
        Some(Self {
            inner: webrtc::runtime::default_runtime()?,
            net,
            peer: peer.to_owned(),
            activity: Arc::new(LinkActivity::new()),
            quiet_step,
        })
    }
}

/// Turns UDP receive offload off on `fd`, which the library's socket turned on.
///
/// Why: with GRO on, the library sizes two receive buffers per link for 64 coalesced
/// datagrams (about 188 KiB per link, a cost that grows with the mesh's N(N-1)/2 links); a
/// link's datagrams are few and small, and one per read serves them as well.
fn gro_off(fd: std::os::fd::RawFd) -> io::Result<()> {
    let off: libc::c_int = 0;
    // SAFETY: setsockopt on a socket we hold, with a pointer to a c_int and its size.
    let result = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_UDP,
            libc::UDP_GRO,
            std::ptr::addr_of!(off).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

impl Runtime for ShapedRuntime {
    fn spawn(&self, future: BoxFuture<'static, ()>) -> Box<dyn JoinHandle> {
        self.inner.spawn(future)
    }

    fn spawn_reactor(&self, size: usize, future: BoxFuture<'static, ()>) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        use std::os::fd::AsRawFd;
        let fd = socket.as_raw_fd();
        let inner = self.inner.wrap_udp_socket(socket)?;
        let gro_segments = match gro_off(fd) {
            Ok(()) => 1,
            Err(_) => inner.max_gro_segments(),
        };
        Ok(Arc::new(ShapedSocket::new(
            inner,
            self.net.clone(),
            &self.peer,
            gro_segments,
            self.activity.clone(),
        )?))
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote: SocketAddr,
    ) -> BoxFuture<'a, io::Result<Arc<dyn AsyncTcpStream>>> {
        self.inner.connect_tcp(remote)
    }

    fn resolve_host<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        self.inner.resolve_host(host)
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let step = match self.quiet_step {
            Some(step) if self.activity.is_quiet(tokio::time::Instant::now()) => step,
            _ => GRID,
        };
        Box::pin(timer_grid::sleep(duration, step))
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn std::future::Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }

    fn yield_now(&self) -> BoxFuture<'static, ()> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        "raftrtc-shaped"
    }
}

/// A datagram waiting for its time.
#[derive(Debug, PartialEq, Eq)]
struct Delayed {
    due: Instant,
    /// Tie-break: equal times leave in the order they came.
    seq: u64,
    bytes: Vec<u8>,
    to: SocketAddr,
}

impl Ord for Delayed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // A max-heap: the earliest is the greatest.
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

impl PartialOrd for Delayed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// One link's UDP socket, shaped on send; receiving is the real socket's.
#[derive(Debug)]
pub struct ShapedSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    net: Arc<NetConditions>,
    peer: String,
    shaper: Mutex<(u64, Shaper)>,
    queue: mpsc::UnboundedSender<Delayed>,
    /// Bytes in the delay queue; while any, even a perfect link queues to keep order.
    queued: Arc<AtomicUsize>,
    seq: AtomicU64,
    /// Datagrams one receive may coalesce: 1 once GRO is off ([`gro_off`]).
    gro_segments: usize,
    /// Told of every datagram's first byte, both ways.
    activity: Arc<LinkActivity>,
}

impl ShapedSocket {
    fn new(
        inner: Arc<dyn AsyncUdpSocket>,
        net: Arc<NetConditions>,
        peer: &str,
        gro_segments: usize,
        activity: Arc<LinkActivity>,
    ) -> io::Result<Self> {
        let handle = tokio::runtime::Handle::try_current().map_err(|e| {
            io::Error::other(format!("no tokio runtime for the shaped socket: {e}"))
        })?;
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        handle.spawn(send_when_due(inner.clone(), rx, queued.clone()));
        let (version, conditions) = net.for_peer(peer);
        activity.set_shaped(!conditions.is_perfect());
        Ok(Self {
            shaper: Mutex::new((version, Shaper::new(conditions, net.seed_for(peer)))),
            inner,
            net,
            peer: peer.to_owned(),
            queue: tx,
            queued,
            seq: AtomicU64::new(0),
            gro_segments,
            activity,
        })
    }

    /// Shapes every datagram of `transmit` (one, or several with GSO), unless the link is
    /// perfect and nothing is queued: then `false`, and the caller sends it as it is.
    fn shape(&self, transmit: &Transmit<'_>) -> bool {
        let Ok(mut guard) = self.shaper.lock() else {
            return false;
        };
        let (version, shaper) = &mut *guard;
        if *version != self.net.version() {
            let (v, conditions) = self.net.for_peer(&self.peer);
            *version = v;
            self.activity.set_shaped(!conditions.is_perfect());
            shaper.set_conditions(conditions);
        }
        if shaper.conditions().is_perfect() && self.queued.load(Ordering::Acquire) == 0 {
            return false;
        }
        let contents = transmit.contents;
        let segment = transmit.segment_size.unwrap_or(contents.len()).max(1);
        let now = Instant::now();
        for datagram in contents.chunks(segment) {
            match shaper.plan(now, datagram.len()) {
                Plan::Drop => {}
                Plan::At(due) => self.enqueue(due, datagram, transmit.destination),
                Plan::Twice(first, second) => {
                    self.enqueue(first, datagram, transmit.destination);
                    self.enqueue(second, datagram, transmit.destination);
                }
            }
        }
        true
    }

    fn enqueue(&self, due: Instant, datagram: &[u8], to: SocketAddr) {
        let len = datagram.len();
        if self.queued.fetch_add(len, Ordering::AcqRel) + len > MAX_QUEUED_BYTES {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            return;
        }
        let delayed = Delayed {
            due,
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            bytes: datagram.to_vec(),
            to,
        };
        if self.queue.send(delayed).is_err() {
            self.queued.fetch_sub(len, Ordering::AcqRel);
        }
    }
}

impl AsyncUdpSocket for ShapedSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        // A batch (GSO) is of one kind: the library batches only its SCTP output.
        if let Some(&first) = transmit.contents.first() {
            self.activity.saw(first, tokio::time::Instant::now());
        }
        if self.shape(transmit) {
            // Taken: lost, or queued to leave when due (as far as the sender knows, sent).
            Poll::Ready(Ok(transmit.contents.len()))
        } else {
            self.inner.poll_send(cx, transmit)
        }
    }

    fn max_gso_segments(&self) -> usize {
        // Batches are split back into datagrams when shaped, so the real socket's batching
        // stays available to a perfect link (measured: without it, a 21-node propagate of
        // 100 lines took about 15% longer).
        self.inner.max_gso_segments()
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let polled = self.inner.poll_recv(cx, bufs, meta);
        if let Poll::Ready(Ok(count)) = &polled {
            let now = tokio::time::Instant::now();
            for (buf, meta) in bufs.iter().zip(meta.iter()).take(*count) {
                if let Some(&first) = buf.get(..meta.len).and_then(<[u8]>::first) {
                    self.activity.saw(first, now);
                }
            }
        }
        polled
    }

    fn max_gro_segments(&self) -> usize {
        self.gro_segments
    }
}

/// Sends queued datagrams when due, until the socket is dropped.
async fn send_when_due(
    socket: Arc<dyn AsyncUdpSocket>,
    mut rx: mpsc::UnboundedReceiver<Delayed>,
    queued: Arc<AtomicUsize>,
) {
    let mut heap: BinaryHeap<Delayed> = BinaryHeap::new();
    loop {
        let next = heap.peek().map(|d| d.due);
        tokio::select! {
            received = rx.recv() => match received {
                Some(d) => heap.push(d),
                None => return,
            },
            () = sleep_until(next), if next.is_some() => {
                let now = Instant::now();
                while heap.peek().is_some_and(|d| d.due <= now) {
                    let Some(d) = heap.pop() else { break };
                    // A send error is a lost datagram, as on the real network.
                    let _ = socket.send_to(&d.bytes, d.to).await;
                    queued.fetch_sub(d.bytes.len(), Ordering::AcqRel);
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::super::activity::QUIET_AFTER;
    use super::super::timer_grid::{epoch, QUIET_GRID};
    use super::super::NetSpec;
    use super::*;

    const DTLS_APPLICATION_DATA: u8 = 23;

    fn runtime(quiet_step: Option<Duration>) -> ShapedRuntime {
        let net = Arc::new(NetConditions::new("a", NetSpec::none(), 1));
        ShapedRuntime::new(net, "b", quiet_step).expect("webrtc is built with tokio")
    }

    /// How long a library sleep of 200 ms (ICE's tick) takes when it starts 10 ms after a
    /// quiet step: at most 250 ms on the fine grid, 990 ms on the quiet one.
    async fn tick(runtime: &ShapedRuntime) -> Duration {
        let since = (tokio::time::Instant::now() - epoch()).as_nanos();
        let step = QUIET_GRID.as_nanos();
        let next = u64::try_from(since.div_ceil(step) * step).expect("a near instant");
        let start = epoch() + Duration::from_nanos(next) + Duration::from_millis(10);
        tokio::time::sleep_until(start).await;
        runtime.sleep(Duration::from_millis(200)).await;
        tokio::time::Instant::now() - start
    }

    #[tokio::test(start_paused = true)]
    async fn a_links_long_timers_move_to_the_quiet_grid_once_it_carries_no_dtls() {
        let runtime = runtime(Some(QUIET_GRID));
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
        let socket = runtime.wrap_udp_socket(std_socket).expect("wrapped");
        let me = socket.local_addr().expect("bound");
        let fine = Duration::from_millis(250);
        // Opening (no DTLS yet): the fine grid, however long it lasts.
        tokio::time::sleep(QUIET_AFTER).await;
        assert!(tick(&runtime).await <= fine, "opening");
        socket
            .send_to(&[DTLS_APPLICATION_DATA, 0xfe, 0xfd], me)
            .await
            .expect("sent");
        assert!(tick(&runtime).await <= fine, "just after DTLS went out");
        // Quiet: the tick waits for the next whole step (tokio's wheel has 1 ms resolution).
        tokio::time::sleep(QUIET_AFTER).await;
        let slept = tick(&runtime).await;
        let quiet = Duration::from_millis(990);
        assert!(
            slept >= quiet && slept <= quiet + Duration::from_millis(1),
            "quiet: {slept:?}"
        );
        // A DTLS datagram received makes it busy again.
        let mut buf = [0u8; 16];
        socket.recv_from(&mut buf).await.expect("received");
        assert!(tick(&runtime).await <= fine, "just after DTLS came in");
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_quiet_step_a_quiet_link_stays_on_the_fine_grid() {
        let runtime = runtime(None);
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
        let socket = runtime.wrap_udp_socket(std_socket).expect("wrapped");
        let me = socket.local_addr().expect("bound");
        socket
            .send_to(&[DTLS_APPLICATION_DATA], me)
            .await
            .expect("sent");
        tokio::time::sleep(QUIET_AFTER * 2).await;
        assert!(tick(&runtime).await <= Duration::from_millis(250));
    }
}
