//! Arbitrary text against the signaling frame parsers, client and server side: neither
//! panics, whatever arrives (property tests on stable Rust, proptest).

use proptest::prelude::*;
use signaling::protocol::{parse_client_frame, parse_server_frame};

/// Text that is often a JSON object with the protocol's field names.
fn frames() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,400}",
        r#"\{"type":"(OFFER|ANSWER|CANDIDATE|LEAVE|HEARTBEAT|OPEN|ERROR|EXPIRE|PEERS|PEER-JOINED|PEER-LEFT|[A-Z]{0,8})"(,"(dst|src|payload|peers|id)":("[^"]{0,12}"|[0-9]{1,6}|\[("[a-z0-9]{0,6}",?){0,4}\]|\{\}|null))*\}"#,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_client_frame_parser_takes_any_text(text in frames(), max in 0usize..1024) {
        let _ = parse_client_frame(&text, max);
    }

    #[test]
    fn the_server_frame_parser_takes_any_text(text in frames()) {
        let _ = parse_server_frame(&text);
    }
}
