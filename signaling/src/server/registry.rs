//! Who is connected where: clusters, their members, and the messages held for
//! members that are not connected yet.
//!
//! The registry is plain data behind one mutex (never held across an
//! `.await`). Every operation is a short critical section that hands frames to
//! the members' bounded outbound queues without waiting, so a slow reader can
//! never block the server: a member whose queue is full (in frames or bytes)
//! is evicted, exactly like an abrupt disconnect.
//!
//! Messages held for absent members are bounded per destination, in total
//! and in bytes; past any bound the sender gets `EXPIRE` at once.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Instant;

use serde_json::Value;

use super::outbound::{Offered, Outbound, OutboundTx};
use crate::limits::Limits;
use crate::protocol::{self, MessageType};

/// Identifies one WebSocket session, so that a late cleanup from a replaced
/// session cannot remove its successor.
pub(crate) type ConnId = u64;

/// The session a relayed message comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin<'a> {
    /// Cluster.
    pub key: &'a str,
    /// Sender id (stamped as `src`).
    pub id: &'a str,
    /// Sender's session.
    pub conn: ConnId,
}

/// Counters for tests, the benchmark and the CLI's status line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Clusters alive (with members or held messages).
    pub clusters: usize,
    /// Peers connected over all clusters.
    pub peers: usize,
    /// Messages held for absent peers.
    pub pending: usize,
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinError {
    IdTaken,
    ClusterFull,
    TooManyClusters,
    TooManyConnections,
}

impl JoinError {
    /// The frame that tells the client why.
    pub(crate) fn frame(self) -> String {
        match self {
            JoinError::IdTaken => protocol::server::id_taken(),
            JoinError::ClusterFull => protocol::server::error(protocol::msg::CLUSTER_FULL),
            JoinError::TooManyClusters => protocol::server::error(protocol::msg::TOO_MANY_CLUSTERS),
            JoinError::TooManyConnections => {
                protocol::server::error(protocol::msg::CONNECTION_LIMIT_EXCEED)
            }
        }
    }
}

/// What a successful join hands the session to write after `OPEN`.
#[derive(Debug)]
pub(crate) struct Joined {
    pub conn: ConnId,
    /// Other members, for presence clients.
    pub snapshot: Option<Vec<String>>,
    /// Messages that waited for this id.
    pub held: Vec<Outbound>,
}

struct Member {
    token: String,
    conn: ConnId,
    tx: OutboundTx,
    presence: bool,
}

struct Held {
    src: String,
    frame: Outbound,
    deadline: Instant,
}

#[derive(Default)]
struct Cluster {
    /// Sorted, so `/peers` and snapshots are deterministic.
    members: BTreeMap<String, Member>,
    held: HashMap<String, VecDeque<Held>>,
}

impl Cluster {
    fn is_empty(&self) -> bool {
        self.members.is_empty() && self.held.is_empty()
    }

    /// Sends `frame` to every presence member except `except`; returns the
    /// ids whose queues were full.
    fn broadcast(&self, except: &str, frame: &Outbound) -> Vec<String> {
        self.members
            .iter()
            .filter(|(id, m)| m.presence && id.as_str() != except)
            .filter(|(_, m)| !offer(m, frame.clone()))
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// Queues `frame` for `m`; false only when its queue is full (too slow).
/// A closed queue counts as taken: that session is ending and removes
/// itself.
fn offer(m: &Member, frame: Outbound) -> bool {
    m.tx.offer(frame) != Offered::Full
}

/// All clusters of one server.
pub(crate) struct Registry {
    limits: Limits,
    clusters: HashMap<String, Cluster>,
    connections: usize,
    pending: usize,
    pending_bytes: usize,
    next_conn: ConnId,
}

impl Registry {
    pub(crate) fn new(limits: Limits) -> Self {
        Registry {
            limits,
            clusters: HashMap::new(),
            connections: 0,
            pending: 0,
            pending_bytes: 0,
            next_conn: 1,
        }
    }

    /// Adds `id` to cluster `key` (creating it), or takes over the existing
    /// session of `id` when the token matches (a client reconnecting before
    /// the server noticed it was gone; the old session's queue is dropped,
    /// which closes it). Announces a genuinely new member to presence members.
    pub(crate) fn join(
        &mut self,
        key: &str,
        id: &str,
        token: &str,
        presence: bool,
        tx: OutboundTx,
    ) -> Result<Joined, JoinError> {
        let conn = self.next_conn;
        let exists = self.clusters.contains_key(key);
        let mut replaced = false;
        if let Some(existing) = self
            .clusters
            .get_mut(key)
            .and_then(|c| c.members.get_mut(id))
        {
            if existing.token != token {
                return Err(JoinError::IdTaken);
            }
            existing.conn = conn;
            existing.tx = tx;
            existing.presence = presence;
            replaced = true;
        } else {
            if self.connections >= self.limits.max_connections {
                return Err(JoinError::TooManyConnections);
            }
            if !exists && self.clusters.len() >= self.limits.max_clusters {
                return Err(JoinError::TooManyClusters);
            }
            let cluster = self.clusters.entry(key.to_string()).or_default();
            if cluster.members.len() >= self.limits.max_peers_per_cluster {
                return Err(JoinError::ClusterFull);
            }
            cluster.members.insert(
                id.to_string(),
                Member {
                    token: token.to_string(),
                    conn,
                    tx,
                    presence,
                },
            );
            self.connections += 1;
        }
        self.next_conn += 1;

        let Some(cluster) = self.clusters.get_mut(key) else {
            // Unreachable: the cluster was found or created above.
            return Err(JoinError::TooManyClusters);
        };
        let held: Vec<Outbound> = cluster
            .held
            .remove(id)
            .map(|q| q.into_iter().map(|h| h.frame).collect())
            .unwrap_or_default();
        self.pending -= held.len();
        self.pending_bytes -= held.iter().map(|f| f.as_str().len()).sum::<usize>();
        let snapshot = presence.then(|| {
            cluster
                .members
                .keys()
                .filter(|m| m.as_str() != id)
                .cloned()
                .collect()
        });
        if !replaced {
            let slow = cluster.broadcast(id, &Outbound::from(protocol::server::peer_joined(id)));
            self.evict(key, slow);
        }
        Ok(Joined {
            conn,
            snapshot,
            held,
        })
    }

    /// Removes `id` from `key` if `conn` is still its session, announces it to
    /// presence members and drops the cluster once empty. Returns whether
    /// anything was removed.
    pub(crate) fn leave(&mut self, key: &str, id: &str, conn: ConnId) -> bool {
        let current = self.is_session(key, id, conn);
        if current {
            self.evict(key, vec![id.to_string()]);
        }
        current
    }

    /// Like [`Registry::leave`] but announces nothing: used when the server
    /// itself shuts down, which is not the peer leaving (nodes keep their
    /// WebRTC links through a signaling outage).
    pub(crate) fn leave_quietly(&mut self, key: &str, id: &str, conn: ConnId) -> bool {
        let current = self.is_session(key, id, conn);
        if current {
            if let Some(cluster) = self.clusters.get_mut(key) {
                if cluster.members.remove(id).is_some() {
                    self.connections -= 1;
                }
            }
            if self.clusters.get(key).is_some_and(Cluster::is_empty) {
                self.clusters.remove(key);
            }
        }
        current
    }

    fn is_session(&self, key: &str, id: &str, conn: ConnId) -> bool {
        self.clusters
            .get(key)
            .and_then(|c| c.members.get(id))
            .is_some_and(|m| m.conn == conn)
    }

    /// Removes members (dropping their queues closes their sockets) and
    /// announces each departure; members too slow to take the announcement
    /// are removed in turn. Ends because every round removes a member.
    fn evict(&mut self, key: &str, mut ids: Vec<String>) {
        while let Some(id) = ids.pop() {
            let Some(cluster) = self.clusters.get_mut(key) else {
                return;
            };
            if cluster.members.remove(&id).is_none() {
                continue;
            }
            self.connections -= 1;
            let frame = Outbound::from(protocol::server::peer_left(&id));
            ids.extend(cluster.broadcast(&id, &frame));
        }
        if self.clusters.get(key).is_some_and(Cluster::is_empty) {
            self.clusters.remove(key);
        }
    }

    /// Relays a message from `src` (session `conn`) to `dst` in cluster `key`.
    ///
    /// Delivered at once if `dst` is connected; otherwise `OFFER`, `ANSWER`
    /// and `CANDIDATE` are held until `dst` joins or they expire, and `LEAVE`
    /// and `EXPIRE` are dropped (as PeerJS does). Returns a frame for the
    /// sender when the message cannot be taken: `EXPIRE` when the hold
    /// limits are reached, `LEAVE` when `dst` had to be evicted as too slow.
    pub(crate) fn relay(
        &mut self,
        from: Origin<'_>,
        kind: MessageType,
        dst: &str,
        payload: Option<&Value>,
        now: Instant,
    ) -> Option<Outbound> {
        let Origin { key, id: src, conn } = from;
        let cluster = self.clusters.get_mut(key)?;
        if cluster.members.get(src).is_none_or(|m| m.conn != conn) {
            // A session that was replaced or evicted no longer speaks.
            return None;
        }
        let frame = Outbound::from(protocol::server::relay(kind, src, dst, payload));
        if let Some(member) = cluster.members.get(dst) {
            if offer(member, frame) {
                return None;
            }
            self.evict(key, vec![dst.to_string()]);
            return Some(Outbound::from(protocol::server::leave(dst, src)));
        }
        if matches!(kind, MessageType::Leave | MessageType::Expire) {
            return None;
        }
        let queue_len = cluster.held.get(dst).map_or(0, VecDeque::len);
        let bytes = frame.as_str().len();
        if queue_len >= self.limits.max_pending_per_peer
            || self.pending >= self.limits.max_pending_total
            || self.pending_bytes + bytes > self.limits.max_pending_bytes
        {
            return Some(Outbound::from(protocol::server::expire(dst, src)));
        }
        cluster
            .held
            .entry(dst.to_string())
            .or_default()
            .push_back(Held {
                src: src.to_string(),
                frame,
                deadline: now + self.limits.expire_timeout,
            });
        self.pending += 1;
        self.pending_bytes += bytes;
        None
    }

    /// Drops the held messages of every destination whose oldest message is
    /// due, and tells each sender still connected with one `EXPIRE` per
    /// (sender, destination) pair.
    pub(crate) fn expire(&mut self, now: Instant) {
        let mut slow: Vec<(String, Vec<String>)> = Vec::new();
        for (key, cluster) in self.clusters.iter_mut() {
            let mut expired: Vec<(String, String)> = Vec::new();
            let mut seen: HashSet<(String, String)> = HashSet::new();
            for (dst, queue) in cluster.held.iter_mut() {
                // Like the official server, the whole queue of a destination
                // goes once its oldest message is due: a burst of candidates
                // behind an offer expires with it, in one EXPIRE per sender.
                if queue.front().is_none_or(|h| h.deadline > now) {
                    continue;
                }
                for h in queue.drain(..) {
                    self.pending -= 1;
                    self.pending_bytes -= h.frame.as_str().len();
                    let pair = (h.src, dst.clone());
                    if seen.insert(pair.clone()) {
                        expired.push(pair);
                    }
                }
            }
            cluster.held.retain(|_, q| !q.is_empty());
            let mut too_slow = Vec::new();
            for (src, dst) in expired {
                if let Some(m) = cluster.members.get(&src) {
                    if !offer(m, Outbound::from(protocol::server::expire(&dst, &src))) {
                        too_slow.push(src);
                    }
                }
            }
            if !too_slow.is_empty() {
                slow.push((key.clone(), too_slow));
            }
        }
        for (key, ids) in slow {
            self.evict(&key, ids);
        }
        self.clusters.retain(|_, c| !c.is_empty());
    }

    /// Connected ids of cluster `key`, sorted; empty for an unknown cluster.
    pub(crate) fn peers(&self, key: &str) -> Vec<String> {
        self.clusters
            .get(key)
            .map(|c| c.members.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether `id` is connected in `key`.
    pub(crate) fn contains(&self, key: &str, id: &str) -> bool {
        self.clusters
            .get(key)
            .is_some_and(|c| c.members.contains_key(id))
    }

    pub(crate) fn stats(&self) -> ServerStats {
        ServerStats {
            clusters: self.clusters.len(),
            peers: self.connections,
            pending: self.pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::server::outbound::{self, OutboundRx};
    use futures_util::FutureExt;

    fn member(cap: usize) -> (OutboundTx, OutboundRx) {
        outbound::channel(cap, 1024 * 1024)
    }

    fn drain(rx: &mut OutboundRx) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(Some(f)) = rx.recv().now_or_never() {
            out.push(f.as_str().to_string());
        }
        out
    }

    #[test]
    fn same_id_with_other_token_is_taken_and_same_token_takes_over() {
        let mut r = Registry::new(Limits::default());
        let (tx1, _rx1) = member(8);
        let (tx2, _rx2) = member(8);
        let (tx3, _rx3) = member(8);
        let first = r.join("k", "a", "t1", false, tx1).map(|j| j.conn);
        assert!(first.is_ok());
        assert_eq!(
            r.join("k", "a", "t2", false, tx2).map(|j| j.conn),
            Err(JoinError::IdTaken)
        );
        let second = r.join("k", "a", "t1", false, tx3).map(|j| j.conn);
        assert!(second.is_ok());
        assert_ne!(first, second);
        // The replaced session's late cleanup does not remove its successor.
        assert!(!r.leave("k", "a", first.unwrap_or_default()));
        assert_eq!(r.peers("k"), vec!["a".to_string()]);
        assert_eq!(r.stats().peers, 1);
    }

    #[test]
    fn cluster_is_dropped_when_its_last_member_leaves() {
        let mut r = Registry::new(Limits::default());
        let (tx, _rx) = member(8);
        let conn = r
            .join("k", "a", "t", false, tx)
            .map(|j| j.conn)
            .unwrap_or_default();
        assert_eq!(r.stats().clusters, 1);
        assert!(r.leave("k", "a", conn));
        assert_eq!(r.stats(), ServerStats::default());
    }

    #[test]
    fn held_messages_are_delivered_on_join_or_expire_once_per_pair() {
        let mut r = Registry::new(Limits::default());
        let (tx, mut rx) = member(8);
        let now = Instant::now();
        let conn = r
            .join("k", "a", "t", false, tx)
            .map(|j| j.conn)
            .unwrap_or_default();
        for _ in 0..3 {
            r.relay(
                Origin {
                    key: "k",
                    id: "a",
                    conn,
                },
                MessageType::Candidate,
                "b",
                Some(&Value::Null),
                now,
            );
        }
        assert_eq!(r.stats().pending, 3);
        r.expire(now + Duration::from_secs(1));
        assert!(drain(&mut rx).is_empty());
        r.expire(now + Duration::from_secs(6));
        assert_eq!(drain(&mut rx), vec![protocol::server::expire("b", "a")]);
        assert_eq!(r.stats().pending, 0);

        r.relay(
            Origin {
                key: "k",
                id: "a",
                conn,
            },
            MessageType::Offer,
            "b",
            Some(&Value::Null),
            now,
        );
        let (txb, _rxb) = member(8);
        let joined = r.join("k", "b", "t", false, txb);
        assert_eq!(joined.map(|j| j.held.len()), Ok(1));
        assert_eq!(r.stats().pending, 0);
    }

    #[test]
    fn hold_limit_answers_expire_immediately() {
        let limits = Limits {
            max_pending_per_peer: 2,
            ..Limits::default()
        };
        let mut r = Registry::new(limits);
        let (tx, _rx) = member(8);
        let now = Instant::now();
        let conn = r
            .join("k", "a", "t", false, tx)
            .map(|j| j.conn)
            .unwrap_or_default();
        assert!(r
            .relay(
                Origin {
                    key: "k",
                    id: "a",
                    conn
                },
                MessageType::Offer,
                "b",
                None,
                now
            )
            .is_none());
        assert!(r
            .relay(
                Origin {
                    key: "k",
                    id: "a",
                    conn
                },
                MessageType::Offer,
                "b",
                None,
                now
            )
            .is_none());
        let reply = r.relay(
            Origin {
                key: "k",
                id: "a",
                conn,
            },
            MessageType::Offer,
            "b",
            None,
            now,
        );
        assert_eq!(
            reply.map(|f| f.as_str().to_string()),
            Some(protocol::server::expire("b", "a"))
        );
    }

    #[test]
    fn slow_member_is_evicted_and_sender_gets_leave() {
        let mut r = Registry::new(Limits::default());
        let (txa, _rxa) = member(8);
        let (txb, _rxb) = member(1);
        let now = Instant::now();
        let conn = r
            .join("k", "a", "t", true, txa)
            .map(|j| j.conn)
            .unwrap_or_default();
        assert!(r.join("k", "b", "t", false, txb).is_ok());
        assert!(r
            .relay(
                Origin {
                    key: "k",
                    id: "a",
                    conn
                },
                MessageType::Offer,
                "b",
                None,
                now
            )
            .is_none());
        let reply = r.relay(
            Origin {
                key: "k",
                id: "a",
                conn,
            },
            MessageType::Offer,
            "b",
            None,
            now,
        );
        assert_eq!(
            reply.map(|f| f.as_str().to_string()),
            Some(protocol::server::leave("b", "a"))
        );
        assert_eq!(r.peers("k"), vec!["a".to_string()]);
    }

    #[test]
    fn presence_members_hear_joins_and_leaves_of_others_only() {
        let mut r = Registry::new(Limits::default());
        let (txa, mut rxa) = member(8);
        let (txb, mut rxb) = member(8);
        assert!(r.join("k", "a", "t", true, txa).is_ok());
        let b = r.join("k", "b", "t", false, txb);
        let conn_b = b.as_ref().map(|j| j.conn).unwrap_or_default();
        assert_eq!(b.map(|j| j.snapshot), Ok(None));
        r.leave("k", "b", conn_b);
        assert_eq!(
            drain(&mut rxa),
            vec![
                protocol::server::peer_joined("b"),
                protocol::server::peer_left("b")
            ]
        );
        assert!(drain(&mut rxb).is_empty());
    }

    #[test]
    fn limits_on_clusters_peers_and_connections_hold() {
        let limits = Limits {
            max_clusters: 1,
            max_peers_per_cluster: 1,
            ..Limits::default()
        };
        let mut r = Registry::new(limits);
        let (tx, _rx) = member(8);
        assert!(r.join("k", "a", "t", false, tx.clone()).is_ok());
        assert_eq!(
            r.join("k", "b", "t", false, tx.clone()).map(|_| ()),
            Err(JoinError::ClusterFull)
        );
        assert_eq!(
            r.join("other", "a", "t", false, tx).map(|_| ()),
            Err(JoinError::TooManyClusters)
        );
    }
}
