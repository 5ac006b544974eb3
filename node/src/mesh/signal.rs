//! Signaling payloads exchanged while a link is negotiated.
//!
//! The mesh does not talk to the signaling server itself: it emits [`OutgoingSignal`]s and the
//! node forwards them as PeerJS `OFFER` / `ANSWER` / `CANDIDATE` / `LEAVE` frames, then feeds
//! the frames it receives back through [`Mesh::handle_signal`](super::Mesh::handle_signal).
//! The payloads are shaped like the ones PeerJS's `DataConnection` sends, so a PeerJS browser
//! peer could take part:
//!
//! ```json
//! OFFER     { "sdp": {"type":"offer","sdp":"v=0..."}, "type":"data", "connectionId":"dc_...",
//!             "label":"raft", "reliable":true, "serialization":"binary" }
//! ANSWER    { "sdp": {"type":"answer","sdp":"v=0..."}, "type":"data", "connectionId":"dc_..." }
//! CANDIDATE { "candidate": {"candidate":"candidate:...","sdpMid":"0","sdpMLineIndex":0},
//!             "type":"data", "connectionId":"dc_..." }
//! LEAVE     null
//! ```
//!
//! Everything that arrives here came from the network, so parsing is strict about shape and
//! size and reports [`MeshError::BadSignal`] instead of panicking.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use webrtc::peer_connection::{RTCIceCandidateInit, RTCSdpType, RTCSessionDescription};

use super::error::MeshError;

/// Largest SDP accepted from a peer. A data-only SDP is about 600 bytes; this leaves room for
/// many candidates while bounding what a hostile peer can make us parse.
const MAX_SDP_BYTES: usize = 64 * 1024;
/// Largest `candidate:` line accepted from a peer.
const MAX_CANDIDATE_BYTES: usize = 1024;
/// Longest `connectionId` accepted from a peer (PeerJS ids are `dc_` plus ~10 characters).
const MAX_CONNECTION_ID_BYTES: usize = 128;

/// Which of the PeerJS negotiation messages a signal is.
///
/// The node maps these one to one onto the PeerJS frame types `OFFER`, `ANSWER`, `CANDIDATE`
/// and `LEAVE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalKind {
    /// Session offer from the peer that initiates a link (the lower id).
    Offer,
    /// Session answer from the peer that accepted an offer.
    Answer,
    /// One trickled ICE candidate.
    Candidate,
    /// The sender is tearing the link down on purpose.
    Leave,
}

/// An outgoing signaling message the mesh wants delivered to `dst`.
///
/// The node forwards it through the PeerJS signaling client as `OFFER` / `ANSWER` /
/// `CANDIDATE` / `LEAVE` with `payload` as the frame's JSON payload.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingSignal {
    /// Peer id the frame is addressed to.
    pub dst: String,
    /// Frame type.
    pub kind: SignalKind,
    /// Frame payload, already in PeerJS shape.
    pub payload: Value,
}

/// The `sdp` object inside OFFER and ANSWER payloads (the browser's `RTCSessionDescriptionInit`).
#[derive(Debug, Serialize, Deserialize)]
struct SdpInit {
    #[serde(rename = "type")]
    kind: String,
    sdp: String,
}

/// PeerJS OFFER payload.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OfferPayload {
    sdp: SdpInit,
    #[serde(rename = "type")]
    connection_type: String,
    connection_id: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    reliable: Option<bool>,
    #[serde(default)]
    serialization: Option<String>,
}

/// PeerJS ANSWER payload.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnswerPayload {
    sdp: SdpInit,
    #[serde(rename = "type")]
    connection_type: String,
    connection_id: String,
}

/// The `candidate` object inside CANDIDATE payloads (the browser's `RTCIceCandidateInit`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CandidateInit {
    candidate: String,
    #[serde(default)]
    sdp_mid: Option<String>,
    #[serde(default, rename = "sdpMLineIndex")]
    sdp_mline_index: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username_fragment: Option<String>,
}

/// PeerJS CANDIDATE payload.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CandidatePayload {
    candidate: CandidateInit,
    #[serde(rename = "type")]
    connection_type: String,
    connection_id: String,
}

/// A parsed, size-checked OFFER.
#[derive(Debug)]
pub(crate) struct Offer {
    /// The session description to apply as remote description.
    pub sdp: RTCSessionDescription,
    /// PeerJS connection id, echoed in our ANSWER and CANDIDATEs.
    pub connection_id: String,
}

/// A parsed, size-checked ANSWER.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The session description to apply as remote description.
    pub sdp: RTCSessionDescription,
    /// PeerJS connection id; must match the offer we sent.
    pub connection_id: String,
}

/// A parsed, size-checked CANDIDATE. `init` is `None` for an end-of-candidates marker.
#[derive(Debug)]
pub(crate) struct Candidate {
    /// The candidate to add, or `None` for the empty end-of-candidates marker.
    pub init: Option<RTCIceCandidateInit>,
    /// PeerJS connection id the candidate belongs to.
    pub connection_id: String,
}

fn bad(kind: SignalKind, reason: impl Into<String>) -> MeshError {
    MeshError::BadSignal {
        kind,
        reason: reason.into(),
    }
}

fn check_connection(kind: SignalKind, connection_type: &str, id: &str) -> Result<(), MeshError> {
    if connection_type != "data" {
        return Err(bad(
            kind,
            format!("connection type {connection_type:?} is not \"data\""),
        ));
    }
    if id.is_empty() || id.len() > MAX_CONNECTION_ID_BYTES {
        return Err(bad(kind, "connectionId is empty or too long"));
    }
    Ok(())
}

fn session(
    kind: SignalKind,
    init: SdpInit,
    expected: &str,
) -> Result<RTCSessionDescription, MeshError> {
    if init.kind != expected {
        return Err(bad(
            kind,
            format!("sdp.type is {:?}, expected {expected:?}", init.kind),
        ));
    }
    if init.sdp.is_empty() || init.sdp.len() > MAX_SDP_BYTES {
        return Err(bad(
            kind,
            format!("sdp is empty or larger than {MAX_SDP_BYTES} bytes"),
        ));
    }
    let parsed = match kind {
        SignalKind::Answer => RTCSessionDescription::answer(init.sdp),
        _ => RTCSessionDescription::offer(init.sdp),
    };
    parsed.map_err(|err| bad(kind, format!("unparsable sdp: {err}")))
}

/// Parses an incoming OFFER payload.
pub(crate) fn parse_offer(payload: Value) -> Result<Offer, MeshError> {
    let kind = SignalKind::Offer;
    let p: OfferPayload =
        serde_json::from_value(payload).map_err(|err| bad(kind, err.to_string()))?;
    check_connection(kind, &p.connection_type, &p.connection_id)?;
    Ok(Offer {
        sdp: session(kind, p.sdp, "offer")?,
        connection_id: p.connection_id,
    })
}

/// Parses an incoming ANSWER payload.
pub(crate) fn parse_answer(payload: Value) -> Result<Answer, MeshError> {
    let kind = SignalKind::Answer;
    let p: AnswerPayload =
        serde_json::from_value(payload).map_err(|err| bad(kind, err.to_string()))?;
    check_connection(kind, &p.connection_type, &p.connection_id)?;
    Ok(Answer {
        sdp: session(kind, p.sdp, "answer")?,
        connection_id: p.connection_id,
    })
}

/// Parses an incoming CANDIDATE payload.
pub(crate) fn parse_candidate(payload: Value) -> Result<Candidate, MeshError> {
    let kind = SignalKind::Candidate;
    let p: CandidatePayload =
        serde_json::from_value(payload).map_err(|err| bad(kind, err.to_string()))?;
    check_connection(kind, &p.connection_type, &p.connection_id)?;
    let c = p.candidate;
    if c.candidate.len() > MAX_CANDIDATE_BYTES {
        return Err(bad(
            kind,
            format!("candidate longer than {MAX_CANDIDATE_BYTES} bytes"),
        ));
    }
    let init = if c.candidate.is_empty() {
        None
    } else {
        Some(RTCIceCandidateInit {
            candidate: c.candidate,
            sdp_mid: c.sdp_mid,
            sdp_mline_index: c.sdp_mline_index,
            username_fragment: c.username_fragment,
            url: None,
        })
    };
    Ok(Candidate {
        init,
        connection_id: p.connection_id,
    })
}

fn sdp_init(desc: &RTCSessionDescription) -> SdpInit {
    let kind = match desc.sdp_type {
        RTCSdpType::Answer => "answer",
        RTCSdpType::Pranswer => "pranswer",
        RTCSdpType::Rollback => "rollback",
        _ => "offer",
    };
    SdpInit {
        kind: kind.to_owned(),
        sdp: desc.sdp.clone(),
    }
}

fn to_value<T: Serialize>(payload: &T) -> Value {
    // Serializing these plain string/bool structs cannot fail; `Null` is an unreachable fallback.
    serde_json::to_value(payload).unwrap_or(Value::Null)
}

/// Builds our OFFER payload.
pub(crate) fn offer_payload(
    desc: &RTCSessionDescription,
    connection_id: &str,
    label: &str,
    reliable: bool,
) -> Value {
    to_value(&OfferPayload {
        sdp: sdp_init(desc),
        connection_type: "data".to_owned(),
        connection_id: connection_id.to_owned(),
        label: Some(label.to_owned()),
        reliable: Some(reliable),
        serialization: Some("binary".to_owned()),
    })
}

/// Builds our ANSWER payload.
pub(crate) fn answer_payload(desc: &RTCSessionDescription, connection_id: &str) -> Value {
    to_value(&AnswerPayload {
        sdp: sdp_init(desc),
        connection_type: "data".to_owned(),
        connection_id: connection_id.to_owned(),
    })
}

/// Builds our CANDIDATE payload.
pub(crate) fn candidate_payload(init: RTCIceCandidateInit, connection_id: &str) -> Value {
    to_value(&CandidatePayload {
        candidate: CandidateInit {
            candidate: init.candidate,
            sdp_mid: init.sdp_mid,
            sdp_mline_index: init.sdp_mline_index,
            username_fragment: init.username_fragment,
        },
        connection_type: "data".to_owned(),
        connection_id: connection_id.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rejects_garbage_without_panicking() {
        for payload in [
            Value::Null,
            json!(42),
            json!({"sdp": 1}),
            json!({"sdp": {"type": "offer", "sdp": "not sdp"}, "type": "data", "connectionId": "x"}),
            json!({"sdp": {"type": "answer", "sdp": "v=0"}, "type": "data", "connectionId": "x"}),
            json!({"sdp": {"type": "offer", "sdp": "v=0"}, "type": "media", "connectionId": "x"}),
            json!({"sdp": {"type": "offer", "sdp": "v=0"}, "type": "data", "connectionId": ""}),
        ] {
            assert!(parse_offer(payload.clone()).is_err(), "{payload}");
            assert!(parse_answer(payload.clone()).is_err(), "{payload}");
            assert!(parse_candidate(payload).is_err());
        }
    }

    #[test]
    fn candidate_round_trip_and_end_marker() {
        let init = RTCIceCandidateInit {
            candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host".to_owned(),
            sdp_mid: Some("0".to_owned()),
            sdp_mline_index: Some(0),
            ..Default::default()
        };
        let value = candidate_payload(init.clone(), "dc_1");
        assert_eq!(value["candidate"]["sdpMLineIndex"], json!(0));
        let parsed = parse_candidate(value).expect("own payload parses");
        assert_eq!(parsed.connection_id, "dc_1");
        assert_eq!(parsed.init.map(|i| i.candidate), Some(init.candidate));

        let end = json!({"candidate": {"candidate": ""}, "type": "data", "connectionId": "dc_1"});
        assert!(parse_candidate(end)
            .expect("end marker parses")
            .init
            .is_none());
    }
}
