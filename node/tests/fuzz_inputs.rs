//! Arbitrary bytes against every input a node parses from outside: the data channel's wire
//! decoder, the control socket's request parser, and the storage loader reading a data
//! directory. None may panic, and none may allocate out of proportion to its input (a
//! length field on disk or in a frame is never an allocation by itself).
//!
//! Property tests on stable Rust (proptest); the allocation bound is measured by a counting
//! allocator, per thread, around the call under test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use node::control::protocol::parse_request;
use node::storage::FileStorage;
use node::wire;
use proptest::prelude::*;
use raftrtc_raft::Storage;

/// Counts this thread's live heap bytes and their peak.
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; the counters are plain thread-locals without
// destructors, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.with(|l| {
            l.set(l.get() + layout.size());
            l.get()
        });
        PEAK.with(|p| p.set(p.get().max(live)));
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.with(|l| l.set(l.get().saturating_sub(layout.size())));
        // SAFETY: allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most heap `f` held at once, above what was live when it began.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    (out, PEAK.with(Cell::get).saturating_sub(base))
}

/// What a parser of `len` input bytes may hold: a small multiple of its input, plus 1 MiB.
fn bound(len: usize) -> usize {
    (1 << 20) + 16 * len
}

/// Bytes that look like frames often enough to reach past the first check.
fn framed() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        "\\PC{0,256}".prop_map(|s| {
            let mut b = vec![wire::VERSION];
            b.extend(s.into_bytes());
            b
        }),
        r#"\{"Raft":\{"cluster":null,"message":\{"[A-Za-z]{1,16}":[\[\]{}0-9,":a-z]{0,64}\}\}\}"#
            .prop_map(|s| {
                let mut b = vec![wire::VERSION];
                b.extend(s.into_bytes());
                b
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_wire_decoder_takes_any_bytes(bytes in framed()) {
        let (_, peak) = peak_during(|| wire::decode(&bytes, 64 * 1024));
        prop_assert!(peak <= bound(bytes.len()), "{peak} bytes for {} input bytes", bytes.len());
    }

    #[test]
    fn the_control_parser_takes_any_line(
        line in prop_oneof![
            "\\PC{0,300}",
            r#"\{"cmd":"(status|start|submit|op|chat|set_net|subscribe|shutdown)"(,"[a-z_]{1,8}":("[^"]{0,12}"|[0-9]{1,3}|\[\]|\{\}|null))*\}"#,
        ]
    ) {
        let (_, peak) = peak_during(|| parse_request(&line));
        prop_assert!(peak <= bound(line.len()));
    }

    #[test]
    fn the_storage_loader_takes_any_files(
        log in proptest::collection::vec(any::<u8>(), 0..2048),
        log_header in any::<bool>(),
        hard in proptest::collection::vec(any::<u8>(), 0..128),
        hard_header in any::<bool>(),
        synced in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let with = |header: &[u8], tail: &[u8], on: bool| -> Vec<u8> {
            if on { header.iter().chain(tail).copied().collect() } else { tail.to_vec() }
        };
        std::fs::write(dir.path().join("raft.log"), with(b"RRTCLOG\x01", &log, log_header)).unwrap();
        std::fs::write(dir.path().join("hardstate"), with(b"RRTCHST\x01", &hard, hard_header)).unwrap();
        std::fs::write(dir.path().join("synced"), &synced).unwrap();
        let input = log.len() + hard.len() + synced.len() + 16;
        let (opened, peak) = peak_during(|| {
            FileStorage::open(dir.path()).and_then(|mut s| s.load().map(drop))
        });
        // Damage is an error naming the file, never a panic or a huge allocation.
        if let Err(e) = opened {
            prop_assert!(!e.to_string().is_empty());
        }
        prop_assert!(peak <= bound(input), "{peak} bytes for {input} input bytes");
    }
}
