//! The frame size limit, enforced on the client's raw bytes before the
//! WebSocket codec sees them.
//!
//! tungstenite can refuse a message over its size limit only by failing the
//! connection: it has read the frame header, not the payload, and cannot skip
//! it. Closing a socket that still has unread data makes the kernel reset it,
//! and the client never reads the `ERROR` that says why. So the server reads
//! client frames through [`FrameLimiter`]: every data message within
//! [`Limits::max_frame_bytes`](crate::Limits::max_frame_bytes) reaches the
//! codec with the same content (its fragments joined into one frame); a
//! larger one is discarded as it streams in, never held, and replaced by a
//! small marker frame carrying its size (see [`OversizeMarker`]), which the
//! session answers with an `ERROR` before reading on. Whatever a client
//! sends, the limiter holds at most one message of at most the limit.
//!
//! Framing that RFC 6455 says must fail the connection (reserved bits or
//! opcodes, unmasked client frames, stray continuations, long or fragmented
//! control frames) is refused here as a [`FramingError`]: past such a frame
//! the byte stream cannot be trusted.

use rand::Rng;
use thiserror::Error;

/// Opcodes (RFC 6455 section 5.2).
const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Longest payload of a control frame.
const MAX_CONTROL_PAYLOAD: u64 = 125;

/// Leading byte of a marker payload; not UTF-8, so a marker can never pass
/// for JSON.
const MARKER_TAG: u8 = 0xFF;

/// Why the client's byte stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub(crate) enum FramingError {
    /// RSV1-3 set, but no extension was negotiated.
    #[error("reserved bits set in a frame header")]
    ReservedBits,
    /// Client frames must be masked.
    #[error("unmasked frame from a client")]
    Unmasked,
    /// An opcode RFC 6455 reserves.
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A 64-bit length with its most significant bit set.
    #[error("frame length out of range")]
    BadLength,
    /// A control frame longer than 125 bytes or fragmented.
    #[error("control frame longer than 125 bytes or fragmented")]
    BadControlFrame,
    /// A continuation frame with no message under way.
    #[error("continuation frame without a message to continue")]
    StrayContinuation,
    /// A new message while a fragmented one is unfinished.
    #[error("new message before the previous fragmented one ended")]
    UnfinishedMessage,
}

/// A per-connection secret that tells the session "the limiter replaced an
/// oversized message here", in band, in stream order.
///
/// Why a random nonce: the marker travels as a binary frame, which a client
/// can also send; a client cannot guess the nonce, so it cannot forge one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OversizeMarker {
    nonce: [u8; 16],
}

impl OversizeMarker {
    /// A marker with a fresh random nonce.
    pub(crate) fn random() -> Self {
        OversizeMarker {
            nonce: rand::rng().random(),
        }
    }

    /// The binary payload that stands for a discarded message of `size`
    /// bytes.
    pub(crate) fn encode(&self, size: u64) -> Vec<u8> {
        let mut payload = Vec::with_capacity(1 + 16 + 8);
        payload.push(MARKER_TAG);
        payload.extend_from_slice(&self.nonce);
        payload.extend_from_slice(&size.to_be_bytes());
        payload
    }

    /// The size of the discarded message if `payload` is this marker.
    pub(crate) fn decode(&self, payload: &[u8]) -> Option<u64> {
        let rest = payload.strip_prefix(&[MARKER_TAG])?;
        let size = rest.strip_prefix(&self.nonce[..])?;
        Some(u64::from_be_bytes(size.try_into().ok()?))
    }
}

/// Where the payload bytes of the frame being read go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payload {
    /// Between frames: the next bytes are a header.
    Header,
    /// A control frame: copied through as received (its header already is).
    Copy { remaining: u64 },
    /// A data frame of a message within the limit: unmasked into it.
    Keep {
        remaining: u64,
        mask: [u8; 4],
        offset: usize,
        fin: bool,
    },
    /// A data frame of an oversized message: discarded.
    Drop { remaining: u64, fin: bool },
}

/// The data message being assembled from its fragments.
#[derive(Debug)]
struct Message {
    opcode: u8,
    /// Unmasked payload so far; released once the message is over the limit.
    data: Vec<u8>,
    /// Payload bytes announced by its frames so far.
    size: u64,
    oversized: bool,
}

/// Rewrites the client-to-server byte stream as described in the module
/// documentation.
///
/// Why sans-IO: every framing rule is unit-tested on byte slices, and the
/// socket adapter around it stays a few lines.
#[derive(Debug)]
pub(crate) struct FrameLimiter {
    limit: u64,
    marker: OversizeMarker,
    /// Header of the frame being read, 2 to 14 bytes.
    head: Vec<u8>,
    payload: Payload,
    message: Option<Message>,
}

impl FrameLimiter {
    /// A limiter for messages of at most `limit` payload bytes.
    pub(crate) fn new(limit: usize, marker: OversizeMarker) -> Self {
        FrameLimiter {
            limit: u64::try_from(limit).unwrap_or(u64::MAX),
            marker,
            head: Vec::with_capacity(14),
            payload: Payload::Header,
            message: None,
        }
    }

    /// Consumes `input` (any split of the stream is fine) and appends to
    /// `out` the bytes the codec may read.
    pub(crate) fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), FramingError> {
        loop {
            self.end_frame_if_done(out);
            if input.is_empty() {
                return Ok(());
            }
            let used = match &mut self.payload {
                Payload::Header => {
                    let want = header_len(&self.head) - self.head.len();
                    let n = want.min(input.len());
                    self.head.extend_from_slice(&input[..n]);
                    if self.head.len() == header_len(&self.head) {
                        self.start_frame(out)?;
                    }
                    n
                }
                Payload::Copy { remaining } => {
                    let n = take(remaining, input.len());
                    out.extend_from_slice(&input[..n]);
                    n
                }
                Payload::Keep {
                    remaining,
                    mask,
                    offset,
                    ..
                } => {
                    let n = take(remaining, input.len());
                    if let Some(m) = self.message.as_mut() {
                        m.data.extend(
                            input[..n]
                                .iter()
                                .zip(mask.iter().cycle().skip(*offset % 4))
                                .map(|(b, k)| b ^ k),
                        );
                    }
                    *offset += n;
                    n
                }
                Payload::Drop { remaining, .. } => take(remaining, input.len()),
            };
            input = &input[used..];
        }
    }

    /// Acts on a complete header in `self.head`.
    fn start_frame(&mut self, out: &mut Vec<u8>) -> Result<(), FramingError> {
        let head = std::mem::take(&mut self.head);
        let (b0, b1) = (head[0], head[1]);
        let fin = b0 & 0x80 != 0;
        let opcode = b0 & 0x0F;
        if b0 & 0x70 != 0 {
            return Err(FramingError::ReservedBits);
        }
        if b1 & 0x80 == 0 {
            return Err(FramingError::Unmasked);
        }
        let len = match b1 & 0x7F {
            126 => u64::from(u16::from_be_bytes([head[2], head[3]])),
            127 => {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(&head[2..10]);
                let len = u64::from_be_bytes(bytes);
                if len >> 63 != 0 {
                    return Err(FramingError::BadLength);
                }
                len
            }
            n => u64::from(n),
        };
        let mut mask = [0u8; 4];
        mask.copy_from_slice(&head[head.len() - 4..]);
        match opcode {
            OP_CLOSE | OP_PING | OP_PONG => {
                if !fin || len > MAX_CONTROL_PAYLOAD {
                    return Err(FramingError::BadControlFrame);
                }
                out.extend_from_slice(&head);
                self.payload = Payload::Copy { remaining: len };
            }
            OP_TEXT | OP_BINARY => {
                if self.message.is_some() {
                    return Err(FramingError::UnfinishedMessage);
                }
                self.message = Some(Message {
                    opcode,
                    data: Vec::new(),
                    size: 0,
                    oversized: false,
                });
                self.data_frame(len, mask, fin);
            }
            OP_CONTINUATION => {
                if self.message.is_none() {
                    return Err(FramingError::StrayContinuation);
                }
                self.data_frame(len, mask, fin);
            }
            other => return Err(FramingError::ReservedOpcode(other)),
        }
        self.head = head;
        self.head.clear();
        Ok(())
    }

    /// Decides whether a data frame of `len` bytes is kept or dropped.
    fn data_frame(&mut self, len: u64, mask: [u8; 4], fin: bool) {
        let Some(m) = self.message.as_mut() else {
            return;
        };
        m.size = m.size.saturating_add(len);
        if m.oversized || m.size > self.limit {
            m.oversized = true;
            m.data = Vec::new();
            self.payload = Payload::Drop {
                remaining: len,
                fin,
            };
        } else {
            // Within the limit, so the reservation is bounded too.
            m.data.reserve(usize::try_from(len).unwrap_or(0));
            self.payload = Payload::Keep {
                remaining: len,
                mask,
                offset: 0,
                fin,
            };
        }
    }

    /// Once the current frame's payload is all read: back to headers, and
    /// after the last frame of a message, emits it (or its marker).
    fn end_frame_if_done(&mut self, out: &mut Vec<u8>) {
        let fin = match self.payload {
            Payload::Header => return,
            Payload::Copy { remaining } => {
                if remaining == 0 {
                    self.payload = Payload::Header;
                }
                return;
            }
            Payload::Keep { remaining, fin, .. } | Payload::Drop { remaining, fin } => {
                if remaining != 0 {
                    return;
                }
                fin
            }
        };
        self.payload = Payload::Header;
        if !fin {
            return;
        }
        let Some(m) = self.message.take() else {
            return;
        };
        if m.oversized {
            write_frame(out, OP_BINARY, &self.marker.encode(m.size));
        } else {
            write_frame(out, m.opcode, &m.data);
        }
    }
}

/// Header length implied by the bytes read so far (2 until the length byte
/// is known).
fn header_len(head: &[u8]) -> usize {
    let Some(&b1) = head.get(1) else {
        return 2;
    };
    let extended = match b1 & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if b1 & 0x80 != 0 { 4 } else { 0 };
    2 + extended + mask
}

/// Takes up to `available` bytes off `remaining`; returns how many.
fn take(remaining: &mut u64, available: usize) -> usize {
    let n = usize::try_from(*remaining).map_or(available, |r| r.min(available));
    *remaining -= n as u64;
    n
}

/// Appends one final, masked frame (with the all-zero key, so the payload is
/// written as is), as a client would send it.
fn write_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A client frame: masked with [`MASK`], FIN as given.
    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        let len = payload.len();
        if len < 126 {
            out.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&MASK);
        out.extend(payload.iter().zip(MASK.iter().cycle()).map(|(b, k)| b ^ k));
        out
    }

    /// What the limiter emits for a kept message.
    fn kept(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_frame(&mut out, opcode, payload);
        out
    }

    fn run(limit: usize, marker: OversizeMarker, input: &[u8]) -> Result<Vec<u8>, FramingError> {
        let mut limiter = FrameLimiter::new(limit, marker);
        let mut out = Vec::new();
        limiter.push(input, &mut out)?;
        Ok(out)
    }

    /// Feeds `input` one byte at a time, the worst split there is.
    fn run_bytewise(limit: usize, marker: OversizeMarker, input: &[u8]) -> Vec<u8> {
        let mut limiter = FrameLimiter::new(limit, marker);
        let mut out = Vec::new();
        for b in input {
            assert_eq!(limiter.push(std::slice::from_ref(b), &mut out), Ok(()));
        }
        out
    }

    #[test]
    fn a_message_within_the_limit_passes_with_its_content_unmasked() {
        let marker = OversizeMarker::random();
        let text = br#"{"type":"HEARTBEAT"}"#;
        let input = frame(true, OP_TEXT, text);
        assert_eq!(run(1024, marker, &input), Ok(kept(OP_TEXT, text)));
        assert_eq!(run_bytewise(1024, marker, &input), kept(OP_TEXT, text));
        let exact = vec![b'x'; 1024];
        assert_eq!(
            run(1024, marker, &frame(true, OP_TEXT, &exact)),
            Ok(kept(OP_TEXT, &exact))
        );
    }

    #[test]
    fn fragments_are_joined_into_one_frame_and_control_frames_pass_between() {
        let marker = OversizeMarker::random();
        let mut input = frame(false, OP_TEXT, b"hello ");
        input.extend(frame(true, OP_PING, b"p"));
        input.extend(frame(false, OP_CONTINUATION, b""));
        input.extend(frame(true, OP_CONTINUATION, b"world"));
        let mut expected = frame(true, OP_PING, b"p");
        expected.extend(kept(OP_TEXT, b"hello world"));
        assert_eq!(run(1024, marker, &input), Ok(expected.clone()));
        assert_eq!(run_bytewise(1024, marker, &input), expected);
    }

    #[test]
    fn an_oversized_frame_becomes_a_marker_with_its_size_and_the_stream_goes_on() {
        let marker = OversizeMarker::random();
        let big = vec![b'x'; 70_000];
        let mut input = frame(true, OP_TEXT, &big);
        input.extend(frame(true, OP_TEXT, b"next"));
        let mut expected = kept(OP_BINARY, &marker.encode(70_000));
        expected.extend(kept(OP_TEXT, b"next"));
        assert_eq!(run(1024, marker, &input), Ok(expected.clone()));
        assert_eq!(run_bytewise(1024, marker, &input), expected);
    }

    #[test]
    fn a_message_whose_fragments_add_up_past_the_limit_is_dropped_whole() {
        let marker = OversizeMarker::random();
        let mut input = frame(false, OP_TEXT, &[b'a'; 600]);
        input.extend(frame(false, OP_CONTINUATION, &[b'b'; 600]));
        input.extend(frame(true, OP_CONTINUATION, &[b'c'; 10]));
        input.extend(frame(true, OP_BINARY, b"ok"));
        let mut expected = kept(OP_BINARY, &marker.encode(1210));
        expected.extend(kept(OP_BINARY, b"ok"));
        assert_eq!(run(1024, marker, &input), Ok(expected));
    }

    #[test]
    fn a_huge_announced_length_is_skipped_without_being_held() {
        let marker = OversizeMarker::random();
        let mut limiter = FrameLimiter::new(1024, marker);
        let mut out = Vec::new();
        let mut head = vec![0x80 | OP_TEXT, 0x80 | 127];
        head.extend_from_slice(&(1u64 << 40).to_be_bytes());
        head.extend_from_slice(&MASK);
        assert_eq!(limiter.push(&head, &mut out), Ok(()));
        let chunk = vec![0u8; 64 * 1024];
        for _ in 0..16 {
            assert_eq!(limiter.push(&chunk, &mut out), Ok(()));
        }
        assert!(out.is_empty());
        assert_eq!(limiter.message.as_ref().map(|m| m.data.capacity()), Some(0));
    }

    #[test]
    fn markers_are_recognised_only_with_this_connections_nonce() {
        let marker = OversizeMarker::random();
        let other = OversizeMarker::random();
        assert_eq!(marker.decode(&marker.encode(12345)), Some(12345));
        assert_eq!(marker.decode(&other.encode(12345)), None);
        assert_eq!(marker.decode(b"{\"type\":\"HEARTBEAT\"}"), None);
        assert_eq!(marker.decode(&marker.encode(1)[..20]), None);
    }

    #[test]
    fn framing_that_must_fail_the_connection_is_refused() {
        let marker = OversizeMarker::random();
        let cases: Vec<(Vec<u8>, FramingError)> = vec![
            (
                {
                    let mut f = frame(true, OP_TEXT, b"x");
                    f[0] |= 0x40;
                    f
                },
                FramingError::ReservedBits,
            ),
            (vec![0x81, 0x01, b'x'], FramingError::Unmasked),
            (frame(true, 0x3, b""), FramingError::ReservedOpcode(0x3)),
            (frame(true, 0xB, b""), FramingError::ReservedOpcode(0xB)),
            (
                frame(true, OP_PING, &[0; 126]),
                FramingError::BadControlFrame,
            ),
            (frame(false, OP_PING, b""), FramingError::BadControlFrame),
            (
                frame(true, OP_CONTINUATION, b"x"),
                FramingError::StrayContinuation,
            ),
            (
                {
                    let mut f = frame(false, OP_TEXT, b"a");
                    f.extend(frame(true, OP_TEXT, b"b"));
                    f
                },
                FramingError::UnfinishedMessage,
            ),
            (
                {
                    let mut f = vec![0x81, 0xFF];
                    f.extend_from_slice(&u64::MAX.to_be_bytes());
                    f.extend_from_slice(&MASK);
                    f
                },
                FramingError::BadLength,
            ),
        ];
        for (input, error) in cases {
            assert_eq!(run(1024, marker, &input), Err(error), "{input:02x?}");
        }
    }
}
