//! How Raft messages travel on a data channel.
//!
//! Encoding, version 2: one byte `0x02`, then a [`Frame`] as JSON. A frame is
//! a Raft message tagged with the sender's cluster identity, or one of the two
//! identity frames that keep two clusters on one signaling key apart (see
//! `runtime/identity.rs`). Version 1 (a bare [`Message`]) is no longer spoken. The data channel carries whole messages
//! (SCTP preserves boundaries), so no length prefix is needed, and every
//! message is bounded by the channel's maximum message size. JSON keeps the
//! traffic readable in a capture; the version byte lets a later binary
//! encoding coexist. The sender is never part of the bytes: the receiver
//! takes it from the data channel the message arrived on.

use raftrtc_raft::{ClusterId, Message};
use serde::{Deserialize, Serialize};

/// The current encoding version.
pub const VERSION: u8 = 2;

/// One data-channel message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// Sent once when a link opens: the sender's cluster identity (`None`: its log is empty).
    Hello {
        /// The sender's cluster, if it has one.
        cluster: Option<ClusterId>,
    },
    /// A Raft message from a server of `cluster` (`None`: its log is empty).
    Raft {
        /// The sender's cluster, if it has one.
        cluster: Option<ClusterId>,
        /// The message.
        message: Message,
    },
    /// "I belong to `cluster` and dropped your message": the receiver stops taking the sender
    /// for a member.
    Refused {
        /// The refusing server's cluster.
        cluster: ClusterId,
    },
}

/// Why an inbound message was dropped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// Nothing at all.
    #[error("empty message")]
    Empty,
    /// A version this node does not speak.
    #[error("unknown encoding version {0}")]
    UnknownVersion(u8),
    /// Larger than allowed.
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    Oversized {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a valid message.
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Encodes `frame` for the data channel.
pub fn encode(frame: &Frame) -> Vec<u8> {
    let mut out = vec![VERSION];
    // Serializing these plain data types cannot fail.
    if serde_json::to_writer(&mut out, frame).is_err() {
        out.truncate(1);
    }
    out
}

/// Decodes bytes from the data channel, refusing anything over `limit`.
pub fn decode(bytes: &[u8], limit: usize) -> Result<Frame, WireError> {
    if bytes.len() > limit {
        return Err(WireError::Oversized {
            size: bytes.len(),
            limit,
        });
    }
    let (&version, body) = bytes.split_first().ok_or(WireError::Empty)?;
    if version != VERSION {
        return Err(WireError::UnknownVersion(version));
    }
    serde_json::from_slice(body).map_err(|e| WireError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftrtc_raft::{AppendEntries, Entry, EntryKind, RequestVote};

    #[test]
    fn frames_round_trip() {
        let messages = [
            Message::RequestVote(RequestVote {
                term: 3,
                last_log_index: 9,
                last_log_term: 2,
                pre_vote: true,
            }),
            Message::AppendEntries(AppendEntries {
                term: 3,
                prev_log_index: 1,
                prev_log_term: 1,
                entries: vec![Entry {
                    term: 3,
                    index: 2,
                    kind: EntryKind::Noop,
                }],
                leader_commit: 1,
                ack_optional: false,
            }),
        ];
        for (i, message) in messages.into_iter().enumerate() {
            let frame = Frame::Raft {
                cluster: (i > 0).then_some(7),
                message,
            };
            assert_eq!(decode(&encode(&frame), 1 << 20), Ok(frame));
        }
        for frame in [
            Frame::Hello { cluster: None },
            Frame::Hello {
                cluster: Some(u64::MAX),
            },
            Frame::Refused { cluster: 3 },
        ] {
            assert_eq!(decode(&encode(&frame), 1 << 20), Ok(frame));
        }
    }

    #[test]
    fn bad_bytes_are_errors_not_panics() {
        assert_eq!(decode(&[], 100), Err(WireError::Empty));
        assert_eq!(decode(&[9, b'{'], 100), Err(WireError::UnknownVersion(9)));
        assert!(matches!(
            decode(&[VERSION, b'{'], 100),
            Err(WireError::Malformed(_))
        ));
        assert_eq!(decode(&[1, b'{'], 100), Err(WireError::UnknownVersion(1)));
        assert!(matches!(
            decode(&[1; 200], 100),
            Err(WireError::Oversized { .. })
        ));
        assert!(matches!(
            decode(
                b"\x02{\"Raft\":{\"cluster\":null,\"message\":{\"RequestVote\":{\"term\":\"x\"}}}}",
                100
            ),
            Err(WireError::Malformed(_))
        ));
    }

    #[test]
    fn the_first_byte_is_the_version() {
        let m = Message::RequestVote(RequestVote {
            term: 1,
            last_log_index: 0,
            last_log_term: 0,
            pre_vote: false,
        });
        assert_eq!(
            encode(&Frame::Raft {
                cluster: None,
                message: m
            })[0],
            VERSION
        );
    }
}
