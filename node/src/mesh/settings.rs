//! Translation of a [`MeshConfig`] into the WebRTC library's settings.
//!
//! Built once per mesh and cloned for every link, which also lets all links share one crypto
//! provider and one DTLS certificate (as a browser does per origin) instead of generating a
//! fresh ECDSA key for every peer connection.
//!
//! What is set, and why (webrtc/rtc 0.21):
//! - mDNS off and `Udp4` only: no multicast queries, no IPv6 or TCP candidates to pair.
//! - Sockets bound to `bind_ip:0`. A wildcard address would skip loopback, so the default binds
//!   `127.0.0.1` and turns on `include_loopback_candidate`, which the library otherwise filters.
//! - ICE check pacing (`ice_check_interval`, library default 200 ms): checks, nomination and
//!   the flush of the DTLS ClientHello queued on "pair selected" all wait for this tick, so at
//!   200 ms it costs one to two ticks per link.
//! - Host and peer-reflexive candidates accepted at once (`host_/prflx_acceptance_min_wait`
//!   zero). When a peer's first connectivity check arrives before its trickled host
//!   candidate, ICE learns the address as peer-reflexive, and the library's 1 s prflx wait
//!   then delayed nomination: the occasional 1 s link seen in profiles.
//! - The `raft` data channel is pre-negotiated (stream 0) on both sides: no DCEP handshake.
//! - ICE disconnected/failed/keepalive timers from the config, so a dead peer is noticed in
//!   hundreds of milliseconds instead of the library's 5 s + 25 s.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rtc::crypto::{self, RTCCryptoProvider, SignatureScheme};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::ice::network_type::NetworkType;
use rtc::peer_connection::certificate::{CertificateParams, RTCCertificate};
use rtc::peer_connection::configuration::setting_engine::SctpMaxMessageSize;
use webrtc::data_channel::RTCDataChannelInit;
use webrtc::peer_connection::{
    RTCConfiguration, RTCConfigurationBuilder, RTCIceServer, SettingEngine, SettingEngineBuilder,
};

use super::config::MeshConfig;
use super::error::MeshError;

/// SCTP stream of the `raft` channel, which both sides create out of band.
///
/// A pre-negotiated channel opens the moment the SCTP association is up, saving the in-band
/// DCEP OPEN/ACK round trip (and, in webrtc 0.21, a stalled driver iteration before the OPEN
/// is sent). Both ends are raftrtc meshes with the same options, so nothing needs announcing.
const RAFT_STREAM_ID: u16 = 0;

/// Smallest SCTP `max-message-size` advertised. Not RFC 8841's 64 KiB default: the library
/// zero-fills a per-link buffer of the negotiated size, which at 100 links is 6.4 MiB per node.
const SCTP_MIN_ADVERTISED: usize = 16 * 1024;

/// Everything needed to build one link's peer connection, shared by all links of a mesh.
#[derive(Clone)]
pub(crate) struct LinkSettings {
    /// Library tuning (ICE timers, candidate filters, crypto provider) of a link we offered,
    /// with no keepalives ([`offerer_keepalive`]).
    pub setting_engine: SettingEngine,
    /// The same for a link we offered under `--net` conditions, which keeps alive every
    /// 2.9 s ([`offerer_keepalive`]).
    pub shaped_setting_engine: SettingEngine,
    /// The same for a link we answered.
    pub answer_setting_engine: SettingEngine,
    /// W3C configuration (ICE servers, the shared certificate).
    pub configuration: RTCConfiguration,
    /// Where each link's UDP socket binds.
    pub bind_addr: SocketAddr,
    /// Options of the `raft` data channel the offerer creates.
    pub channel_init: RTCDataChannelInit,
    /// The timer grid step of a quiet link (`netem/timer_grid.rs`), if its ICE timeouts allow one.
    pub quiet_step: Option<Duration>,
}

impl LinkSettings {
    /// Builds the settings for `cfg` (already validated).
    pub(crate) fn new(cfg: &MeshConfig) -> Result<Self, MeshError> {
        let provider: Arc<dyn RTCCryptoProvider> = crypto::default_provider()
            .map_err(|err| MeshError::Config(format!("no crypto provider: {err}")))?;
        let params = CertificateParams::new(vec![cfg.local_id.clone()])
            .map_err(|err| MeshError::Config(format!("certificate parameters: {err}")))?;
        let certificate =
            RTCCertificate::generate(provider.crypto(), SignatureScheme::EcdsaP256Sha256, params)?;

        // Advertise at least `SCTP_MIN_ADVERTISED` so a peer's oversized message reaches the
        // application-level check (dropped and counted there) instead of failing at its sender;
        // well-behaved mesh peers never send one because `Mesh::send` enforces the same limit.
        let sctp_limit =
            u32::try_from(cfg.max_message_bytes.max(SCTP_MIN_ADVERTISED)).unwrap_or(u32::MAX);
        let engine = |keepalive: Duration| {
            SettingEngineBuilder::new()
                .with_crypto_provider(provider.clone())
                .with_multicast_dns_mode(MulticastDnsMode::Disabled)
                .with_network_types(vec![NetworkType::Udp4])
                .with_include_loopback_candidate(cfg.bind_ip.is_loopback())
                .with_ice_timeouts(
                    Some(cfg.disconnect_timeout),
                    Some(cfg.failed_timeout),
                    Some(keepalive),
                )
                .with_ice_connection_attempts(
                    Some(cfg.ice_check_interval),
                    Some(max_binding_requests(cfg)),
                )
                .with_host_acceptance_min_wait(Some(Duration::ZERO))
                .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
                .with_sctp_max_message_size(SctpMaxMessageSize::Bounded(sctp_limit))
                .build()
        };
        let setting_engine = engine(offerer_keepalive(cfg.keepalive_interval, false));
        let shaped_setting_engine = engine(offerer_keepalive(cfg.keepalive_interval, true));
        let answer_setting_engine = engine(cfg.keepalive_interval);

        let mut builder = RTCConfigurationBuilder::new().with_certificates(vec![certificate]);
        if !cfg.ice_servers.is_empty() {
            builder = builder.with_ice_servers(vec![RTCIceServer {
                urls: cfg.ice_servers.clone(),
                ..Default::default()
            }]);
        }

        Ok(Self {
            setting_engine,
            shaped_setting_engine,
            answer_setting_engine,
            configuration: builder.build(),
            bind_addr: SocketAddr::new(cfg.bind_ip, 0),
            channel_init: RTCDataChannelInit {
                ordered: cfg.ordered,
                max_retransmits: cfg.max_retransmits,
                negotiated: Some(RAFT_STREAM_ID),
                ..Default::default()
            },
            quiet_step: crate::netem::quiet_step_for(cfg.disconnect_timeout),
        })
    }
}

/// The offering end's keepalive interval, given the answering end's: none (zero disables them
/// in rtc-ice 0.21) on a link made under no `--net` conditions; under conditions, three times
/// the answerer's and 200 ms more (2.9 s by default, one within each disconnect timeout).
///
/// Why none: the offerer is ICE's controlling agent, and the controlled agent (rtc-ice 0.21,
/// RFC 8445's triggered checks) answers every binding request without USE-CANDIDATE with a
/// request of its own, so an offerer keepalive costs four datagrams and an answerer's two. And
/// on a link that loses nothing it tells neither end anything the answerer's do not: each end
/// hears the other once per answerer keepalive (the offerer its request, the answerer the
/// answer), so the disconnect timeout means the same. Idle links then cost two datagrams a
/// second instead of 3.3.
///
/// Why some under conditions: with loss, the offerer's exchange is a second chance for both
/// ends to hear each other before the disconnect timeout. Measured with 10 % loss on 11 idle
/// nodes for 60 s (`results/scale/sixth/loss-flaps.log`): the nodes logged 72 and 100 "peer
/// down" lines without it, 13 to 33 with it. The choice is made when a link is made: a link
/// made before `set_net` put conditions in force keeps a silent offerer until it is remade.
fn offerer_keepalive(answerer: Duration, shaped: bool) -> Duration {
    if shaped {
        answerer * 3 + Duration::from_millis(200)
    } else {
        Duration::ZERO
    }
}

/// Binding requests per candidate pair before ICE marks it failed.
///
/// The library default (7) is sized for its 200 ms pacing; at a 2 ms pacing it would give up
/// on a pair after 14 ms, which a loaded machine easily exceeds. Keep checking for as long as ICE
/// itself would before declaring the whole connection failed.
fn max_binding_requests(cfg: &MeshConfig) -> u16 {
    let budget = cfg.disconnect_timeout + cfg.failed_timeout;
    let n = budget.as_millis() / cfg.ice_check_interval.as_millis().max(1);
    u16::try_from(n).unwrap_or(u16::MAX).max(7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netem::quiet_step_for;

    #[test]
    fn on_a_quiet_link_the_answerer_keeps_alive_every_step_and_the_offerer_not_at_all() {
        let cfg = MeshConfig::new("n");
        let step = quiet_step_for(cfg.disconnect_timeout).expect("the defaults allow quiet steps");
        // A keepalive goes out on the first step at which it is due; a few ms of lateness of
        // the step that sent the last one must not push it a step further.
        let slack = Duration::from_millis(50);
        assert!(cfg.keepalive_interval + slack <= step);
        assert!(offerer_keepalive(cfg.keepalive_interval, false).is_zero());
    }

    #[test]
    fn under_conditions_the_offerer_keeps_alive_within_each_disconnect_timeout() {
        let cfg = MeshConfig::new("n");
        let offerer = offerer_keepalive(cfg.keepalive_interval, true);
        assert!(offerer > cfg.keepalive_interval * 2);
        assert!(offerer <= cfg.disconnect_timeout);
    }
}
