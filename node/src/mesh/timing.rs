//! Per-link phase timestamps, for finding where link-open time goes.
//!
//! Every link records, relative to the moment it was started (the offerer: just before
//! `createOffer`; the answerer: when the offer arrived), when each negotiation phase was first
//! reached. The result travels in [`MeshEvent::LinkTiming`](super::MeshEvent::LinkTiming) when
//! the data channel opens, and is logged at debug level.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// When each phase of opening a link was reached, measured from the link's start.
///
/// `None` means the phase was not observed (for example `answer_received` on the answerer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkPhases {
    /// Whether this side offered (the lower id) or answered.
    pub offerer: bool,
    /// Our offer (offerer) or answer (answerer) was emitted.
    pub sdp_sent: Option<Duration>,
    /// The answer arrived (offerer only).
    pub answer_received: Option<Duration>,
    /// First local ICE candidate gathered.
    pub first_local_candidate: Option<Duration>,
    /// First remote ICE candidate received.
    pub first_remote_candidate: Option<Duration>,
    /// ICE connectivity checks started.
    pub ice_checking: Option<Duration>,
    /// ICE connected (a pair was selected).
    pub ice_connected: Option<Duration>,
    /// DTLS handshake done (peer connection `connected`).
    pub connected: Option<Duration>,
    /// SCTP association and data channel open.
    pub channel_open: Option<Duration>,
}

impl LinkPhases {
    fn slot(&mut self, phase: Phase) -> &mut Option<Duration> {
        match phase {
            Phase::SdpSent => &mut self.sdp_sent,
            Phase::AnswerReceived => &mut self.answer_received,
            Phase::FirstLocalCandidate => &mut self.first_local_candidate,
            Phase::FirstRemoteCandidate => &mut self.first_remote_candidate,
            Phase::IceChecking => &mut self.ice_checking,
            Phase::IceConnected => &mut self.ice_connected,
            Phase::Connected => &mut self.connected,
            Phase::ChannelOpen => &mut self.channel_open,
        }
    }
}

impl fmt::Display for LinkPhases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Option<Duration>| match d {
            Some(d) => format!("{:.1}", d.as_secs_f64() * 1000.0),
            None => "-".to_owned(),
        };
        write!(
            f,
            "{} sdp_sent={} answer={} local_cand={} remote_cand={} ice_checking={} ice_connected={} dtls={} open={} (ms)",
            if self.offerer { "offerer" } else { "answerer" },
            ms(self.sdp_sent),
            ms(self.answer_received),
            ms(self.first_local_candidate),
            ms(self.first_remote_candidate),
            ms(self.ice_checking),
            ms(self.ice_connected),
            ms(self.connected),
            ms(self.channel_open),
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
                ..LinkPhases::default()
            }),
        }
    }

    /// Records `phase` unless it was already recorded; returns the elapsed time.
    pub(crate) fn mark(&self, phase: Phase) -> Duration {
        let elapsed = self.start.elapsed();
        if let Ok(mut phases) = self.phases.lock() {
            let slot = phases.slot(phase);
            if slot.is_none() {
                *slot = Some(elapsed);
            }
        }
        elapsed
    }

    /// A copy of what was recorded so far.
    pub(crate) fn snapshot(&self) -> LinkPhases {
        self.phases.lock().map(|p| p.clone()).unwrap_or_default()
    }
}
