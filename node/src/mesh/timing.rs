//! Per-link phase timestamps, for finding where link-open time goes.
//!
//! Every link records when it was started (the offerer: just before `createOffer`; the
//! answerer: when the offer arrived) and when each negotiation phase was first reached. The
//! result travels in [`MeshEvent::LinkTiming`](super::MeshEvent::LinkTiming) when the data
//! channel opens, is logged at debug level, and is kept in the node's `status`
//! (`link_phases`) for the bench's where-the-time-goes breakdown.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::clock::monotonic_ns;

/// One step of opening a link, in the order they normally happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Our offer or answer was handed to signaling.
    SdpSent,
    /// The offerer received the answer.
    AnswerReceived,
    /// The first local ICE candidate was gathered.
    FirstLocalCandidate,
    /// The first remote ICE candidate arrived.
    FirstRemoteCandidate,
    /// ICE started connectivity checks.
    IceChecking,
    /// ICE selected a pair.
    IceConnected,
    /// ICE and DTLS are both up (peer connection state `connected`).
    Connected,
    /// The SCTP association is up and the data channel is open.
    ChannelOpen,
}

/// When each phase of opening a link was reached, in `CLOCK_MONOTONIC` nanoseconds.
///
/// Absolute stamps rather than durations so the bench can place them on its own clock beside
/// the node's other milestones. `None` means the phase was not observed (for example
/// `answer_received` on the answerer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkPhases {
    /// Whether this side offered (the lower id) or answered.
    pub offerer: bool,
    /// When the link started: the offerer just before `createOffer`, the answerer when the
    /// offer arrived.
    pub started_ns: u64,
    /// Our offer (offerer) or answer (answerer) was emitted.
    pub sdp_sent_ns: Option<u64>,
    /// The answer arrived (offerer only).
    pub answer_received_ns: Option<u64>,
    /// First local ICE candidate gathered.
    pub first_local_candidate_ns: Option<u64>,
    /// First remote ICE candidate received.
    pub first_remote_candidate_ns: Option<u64>,
    /// ICE connectivity checks started.
    pub ice_checking_ns: Option<u64>,
    /// ICE connected (a pair was selected).
    pub ice_connected_ns: Option<u64>,
    /// DTLS handshake done (peer connection `connected`).
    pub connected_ns: Option<u64>,
    /// SCTP association and data channel open.
    pub channel_open_ns: Option<u64>,
}

impl LinkPhases {
    fn slot(&mut self, phase: Phase) -> &mut Option<u64> {
        match phase {
            Phase::SdpSent => &mut self.sdp_sent_ns,
            Phase::AnswerReceived => &mut self.answer_received_ns,
            Phase::FirstLocalCandidate => &mut self.first_local_candidate_ns,
            Phase::FirstRemoteCandidate => &mut self.first_remote_candidate_ns,
            Phase::IceChecking => &mut self.ice_checking_ns,
            Phase::IceConnected => &mut self.ice_connected_ns,
            Phase::Connected => &mut self.connected_ns,
            Phase::ChannelOpen => &mut self.channel_open_ns,
        }
    }
}

impl fmt::Display for LinkPhases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |ns: Option<u64>| match ns {
            Some(ns) => format!("{:.1}", ns.saturating_sub(self.started_ns) as f64 / 1e6),
            None => "-".to_owned(),
        };
        write!(
            f,
            "{} sdp_sent={} answer={} local_cand={} remote_cand={} ice_checking={} ice_connected={} dtls={} open={} (ms)",
            if self.offerer { "offerer" } else { "answerer" },
            ms(self.sdp_sent_ns),
            ms(self.answer_received_ns),
            ms(self.first_local_candidate_ns),
            ms(self.first_remote_candidate_ns),
            ms(self.ice_checking_ns),
            ms(self.ice_connected_ns),
            ms(self.connected_ns),
            ms(self.channel_open_ns),
        )
    }
}

/// Records phases for one link; safe to call from any task.
#[derive(Debug)]
pub(crate) struct PhaseClock {
    start: Instant,
    phases: Mutex<LinkPhases>,
}

impl PhaseClock {
    /// Starts the clock now.
    pub(crate) fn start(offerer: bool) -> Self {
        Self {
            start: Instant::now(),
            phases: Mutex::new(LinkPhases {
                offerer,
                started_ns: monotonic_ns(),
                ..LinkPhases::default()
            }),
        }
    }

    /// Records `phase` unless it was already recorded; returns the elapsed time.
    pub(crate) fn mark(&self, phase: Phase) -> Duration {
        let elapsed = self.start.elapsed();
        let now = monotonic_ns();
        if let Ok(mut phases) = self.phases.lock() {
            let slot = phases.slot(phase);
            if slot.is_none() {
                *slot = Some(now);
            }
        }
        elapsed
    }

    /// A copy of what was recorded so far.
    pub(crate) fn snapshot(&self) -> LinkPhases {
        self.phases.lock().map(|p| p.clone()).unwrap_or_default()
    }
}
