//! User-facing configuration of the mesh and its validation.
//!
//! The defaults target the benchmark's normal setting — every node on one machine, talking over
//! 127.0.0.1 — and are tuned so that a link opens in tens of milliseconds and a dead peer is
//! noticed well inside the election timeouts users pick (100–1000 ms).

use crate::netem::NetSpec;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::error::MeshError;

/// Longest peer id accepted, local or remote (PeerJS ids are short tokens).
pub(crate) const MAX_PEER_ID_BYTES: usize = 128;
/// Upper bound for `max_message_bytes`: webrtc 0.21 caps SCTP messages at 256 KiB
/// (`SctpMaxMessageSize::MAX_MESSAGE_SIZE`) whatever is advertised.
pub(crate) const MAX_MESSAGE_BYTES_LIMIT: usize = 256 * 1024;
/// Default `max_message_bytes`. Each link's SCTP transport zero-fills a working buffer of the
/// negotiated maximum, so at 100 links per node 256 KiB cost 26 MiB of RSS and 24 KiB cost
/// 2.4 MiB (results/scale). The Raft layer bounds AppendEntries to fit (`runtime::config`).
pub(crate) const DEFAULT_MAX_MESSAGE_BYTES: usize = 24 * 1024;

/// How the mesh sets up its peer connections.
///
/// Build it with [`MeshConfig::new`] and override fields as needed; [`Mesh::new`](super::Mesh::new)
/// validates it.
#[derive(Debug, Clone)]
pub struct MeshConfig {
    /// This node's id; it decides who offers (the lower id) and is never sent in messages.
    pub local_id: String,
    /// Address the per-link UDP sockets bind to (port is always ephemeral). Default
    /// `127.0.0.1`. An unspecified address (`0.0.0.0`) means "every non-loopback interface".
    pub bind_ip: IpAddr,
    /// STUN/TURN URLs (`stun:host:port`, `turn:host:port`) for real networks. Default none.
    pub ice_servers: Vec<String>,
    /// Only host candidates on a loopback `bind_ip`, no STUN/TURN, no mDNS (the default):
    /// what a one-machine benchmark wants, and checked so a misconfiguration fails loudly.
    pub loopback_only: bool,
    /// Silence on a connected link after which ICE reports it disconnected and the mesh reports
    /// [`PeerDown`](super::MeshEvent::PeerDown). Default 3 s, three keepalive periods, so a
    /// process starved by a busy machine is not declared dead. A killed raftrtc node is
    /// noticed sooner: its signaling socket closes and the server's PEER-LEFT arrives at once.
    pub disconnect_timeout: Duration,
    /// Further silence after `disconnect_timeout` before ICE declares failure; also bounds how
    /// long connectivity checks may run on a link that never connects. Default 5 s.
    pub failed_timeout: Duration,
    /// Interval of ICE consent/keepalive checks on an open link, sent by the answering end
    /// (the offering end sends none on a link without `--net` conditions, `settings.rs`); at most half of
    /// `disconnect_timeout`, or idle links would flap. Keepalives are most of an idle
    /// mesh's CPU cost, and it grows with N² links: at 200 ms a 51-node cluster on 2 cores
    /// took 4–11 s to come up, with repeated elections; at 1 s it took 0.8 s. Default 900 ms:
    /// just under the 1 s step on which a quiet link's ICE ticks (`netem/timer_grid.rs`), so
    /// that one goes out on every step; at 1 s, one step in two would find it 1 s minus a few
    /// microseconds old and skip it.
    pub keepalive_interval: Duration,
    /// Pacing of ICE connectivity checks while connecting, and the tick that flushes the DTLS
    /// ClientHello once a pair is selected. The library default (200 ms) alone costs 200–400 ms
    /// per link; default here 2 ms, which suits loopback. On real networks use 20–50 ms
    /// (RFC 8445's pacing is 50 ms).
    pub ice_check_interval: Duration,
    /// A link that has not opened its data channel this long after it was started is torn
    /// down and reported as [`LinkFailed`](super::MeshEvent::LinkFailed). Default 10 s.
    pub open_timeout: Duration,
    /// Largest message accepted in either direction. Bigger inbound messages are dropped and
    /// counted; bigger outbound ones are refused. Default 24 KiB
    /// ([`DEFAULT_MAX_MESSAGE_BYTES`]), at most 256 KiB (the library's SCTP limit); the Raft
    /// layer must batch entries below it.
    pub max_message_bytes: usize,
    /// Bytes a link may hold for a peer that is not taking them: the outbox the Raft loop
    /// fills, and again the library's send buffer behind it (bytes the peer has not
    /// acknowledged). A full outbox drops further messages (Raft resends). Default 1 MiB,
    /// four messages of the largest size.
    pub send_buffer_bytes: usize,
    /// Deliver messages in order (default `true`). Raft tolerates reordering, but in-order
    /// delivery keeps the replication pipeline simple.
    pub ordered: bool,
    /// `None` (default) for a reliable channel; `Some(n)` gives up on a message after `n`
    /// retransmissions (Raft retries on its own, so an unreliable channel is an option).
    pub max_retransmits: Option<u16>,
    /// Network conditions applied to this node's datagrams (`node::netem`), changeable live
    /// through [`Mesh::set_net`](super::Mesh::set_net). Default: none.
    pub net: NetSpec,
    /// Seed of the conditions' random draws.
    pub net_seed: u64,
}

impl MeshConfig {
    /// The defaults (loopback, fast ICE, reliable+ordered) for a node called `local_id`.
    pub fn new(local_id: impl Into<String>) -> Self {
        Self {
            local_id: local_id.into(),
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ice_servers: Vec::new(),
            loopback_only: true,
            disconnect_timeout: Duration::from_secs(3),
            failed_timeout: Duration::from_secs(5),
            keepalive_interval: Duration::from_millis(900),
            ice_check_interval: Duration::from_millis(2),
            open_timeout: Duration::from_secs(10),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            send_buffer_bytes: 4 * MAX_MESSAGE_BYTES_LIMIT,
            ordered: true,
            max_retransmits: None,
            net: NetSpec::none(),
            net_seed: 0,
        }
    }

    /// Whether the data channel retransmits until delivery (PeerJS's `reliable` flag).
    pub fn reliable(&self) -> bool {
        self.max_retransmits.is_none()
    }

    /// Checks the fields against each other; called by [`Mesh::new`](super::Mesh::new).
    pub(crate) fn validate(&self) -> Result<(), MeshError> {
        let fail = |msg: String| Err(MeshError::Config(msg));
        if self.local_id.is_empty() || self.local_id.len() > MAX_PEER_ID_BYTES {
            return fail(format!(
                "local_id must be 1..={MAX_PEER_ID_BYTES} bytes, got {:?}",
                self.local_id
            ));
        }
        if self.loopback_only {
            if !self.bind_ip.is_loopback() {
                return fail(format!(
                    "loopback_only requires a loopback bind_ip, got {}",
                    self.bind_ip
                ));
            }
            if !self.ice_servers.is_empty() {
                return fail("loopback_only forbids ice_servers".to_owned());
            }
        }
        for url in &self.ice_servers {
            if !["stun:", "turn:", "turns:"]
                .iter()
                .any(|s| url.starts_with(s))
            {
                return fail(format!(
                    "ice server {url:?} is not a stun:/turn:/turns: URL"
                ));
            }
        }
        for (name, value) in [
            ("disconnect_timeout", self.disconnect_timeout),
            ("failed_timeout", self.failed_timeout),
            ("keepalive_interval", self.keepalive_interval),
            ("ice_check_interval", self.ice_check_interval),
            ("open_timeout", self.open_timeout),
        ] {
            if value.is_zero() {
                return fail(format!("{name} must be positive"));
            }
        }
        if self.keepalive_interval * 2 > self.disconnect_timeout {
            return fail(format!(
                "keepalive_interval ({:?}) must be at most half of disconnect_timeout ({:?})",
                self.keepalive_interval, self.disconnect_timeout
            ));
        }
        if self.max_message_bytes == 0 || self.max_message_bytes > MAX_MESSAGE_BYTES_LIMIT {
            return fail(format!(
                "max_message_bytes must be 1..={MAX_MESSAGE_BYTES_LIMIT}, got {}",
                self.max_message_bytes
            ));
        }
        if self.send_buffer_bytes == 0 {
            return fail("send_buffer_bytes must be positive".to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_rejected() {
        assert!(MeshConfig::new("a").validate().is_ok());
        assert!(MeshConfig::new("").validate().is_err());
        let mut cfg = MeshConfig::new("a");
        cfg.bind_ip = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        assert!(cfg.validate().is_err());
        cfg.loopback_only = false;
        assert!(cfg.validate().is_ok());
        cfg.ice_servers = vec!["http://x".to_owned()];
        assert!(cfg.validate().is_err());
        let mut cfg = MeshConfig::new("a");
        cfg.keepalive_interval = cfg.disconnect_timeout;
        assert!(cfg.validate().is_err());
        cfg = MeshConfig::new("a");
        cfg.max_message_bytes = 0;
        assert!(cfg.validate().is_err());
        cfg = MeshConfig::new("a");
        cfg.send_buffer_bytes = 0;
        assert!(cfg.validate().is_err());
    }
}
