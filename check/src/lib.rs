//! Checkers for the histories of raftrtc's chaos runs.
//!
//! A chaos run records, for every operation its clients issued, when it was invoked and
//! when and how it completed, on the bench's clock ([`history`]). The checkers here decide,
//! from that history and the nodes' final states alone, whether the cluster behaved as one
//! correct copy of the state machine would have:
//!
//! - [`lin`]: each register's operations are linearizable (Wing and Gong's search with
//!   Lowe's just-in-time linearization and memoisation, split per key as Porcupine does);
//! - [`chat`]: every acknowledged line present once, in one order on every node, that order
//!   consistent with real time, no stranger; the lines lost are the durability figure;
//! - [`availability`]: the share of operations that succeeded, the longest time without
//!   one, and how long each fault took to recover from once lifted.
//!
//! Nothing here does I/O beyond parsing the history's JSON lines: the checkers run the same
//! on a live run's history and on a file from an old one.

pub mod availability;
pub mod chat;
pub mod history;
pub mod lin;

pub use availability::{availability, Availability, FaultWindow};
pub use chat::{check_chat, ChatVerdict};
pub use history::{Completion, History, HistoryError, Op, OpKind, Record};
pub use lin::{check_registers, LinVerdict, Violation};
