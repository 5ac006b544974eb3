//! Unit tests of the core's rules, one behaviour per test, driven by hand.

use std::collections::BTreeSet;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;

const ET: Duration = Duration::from_millis(100);

fn config(id: &str) -> Config {
    let mut c = Config::new(id);
    c.election_timeout = ET;
    c.pre_vote = false;
    c.check_quorum = false;
    c
}

fn node_with(cfg: Config, storage: MemStorage) -> Raft<MemStorage> {
    Raft::new(
        cfg,
        storage,
        Box::new(ChaCha8Rng::seed_from_u64(7)),
        Duration::ZERO,
    )
    .expect("valid node")
}

fn node(id: &str) -> Raft<MemStorage> {
    node_with(config(id), MemStorage::default())
}

fn entry(term: Term, index: LogIndex) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Noop,
    }
}

fn membership(index: LogIndex, term: Term, members: &[&str]) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Membership(MembershipChange {
            change: Change::Add(members[members.len() - 1].into()),
            members: members.iter().map(|m| m.to_string()).collect(),
            cluster: None,
        }),
    }
}

/// A follower whose log holds a 3-member configuration followed by `terms`.
fn follower_with_log(id: &str, term: Term, terms: &[Term]) -> Raft<MemStorage> {
    let mut entries = vec![membership(1, 1, &["a", "b", "c"])];
    for (i, t) in terms.iter().enumerate() {
        entries.push(entry(*t, i as u64 + 2));
    }
    let storage = MemStorage {
        hard_state: HardState {
            term,
            voted_for: None,
        },
        entries,
        lost_log_end: None,
    };
    node_with(config(id), storage)
}

fn messages_to(out: &Output, to: &str) -> Vec<Message> {
    out.messages
        .iter()
        .filter(|e| e.to == to)
        .map(|e| e.message.clone())
        .collect()
}

fn vote(term: Term, last_log_index: LogIndex, last_log_term: Term) -> Message {
    Message::RequestVote(RequestVote {
        term,
        last_log_index,
        last_log_term,
        pre_vote: false,
    })
}

fn granted(out: &Output, to: &str) -> Option<bool> {
    messages_to(out, to).into_iter().find_map(|m| match m {
        Message::VoteResponse(r) => Some(r.granted),
        _ => None,
    })
}

fn append_reply(out: &Output, to: &str) -> Option<AppendResponse> {
    messages_to(out, to).into_iter().find_map(|m| match m {
        Message::AppendResponse(r) => Some(r),
        _ => None,
    })
}

fn append(term: Term, prev: (LogIndex, Term), entries: Vec<Entry>, commit: LogIndex) -> Message {
    Message::AppendEntries(AppendEntries {
        term,
        prev_log_index: prev.0,
        prev_log_term: prev.1,
        entries,
        leader_commit: commit,
        ack_optional: false,
    })
}

// ---------------------------------------------------------------- elections

#[test]
fn a_node_grants_one_vote_per_term() {
    let mut n = follower_with_log("a", 1, &[]);
    n.step(Duration::ZERO, "b", vote(2, 1, 1)).unwrap();
    assert_eq!(granted(&n.take_output(), "b"), Some(true));
    n.step(Duration::ZERO, "c", vote(2, 1, 1)).unwrap();
    assert_eq!(granted(&n.take_output(), "c"), Some(false));
    // The same candidate asking again (a retransmission) gets the vote again.
    n.step(Duration::ZERO, "b", vote(2, 1, 1)).unwrap();
    assert_eq!(granted(&n.take_output(), "b"), Some(true));
}

#[test]
fn a_vote_is_refused_to_a_candidate_with_an_older_log() {
    let mut n = follower_with_log("a", 3, &[2, 3]);
    // Lower last term, longer log: refused.
    n.step(Duration::ZERO, "b", vote(4, 9, 2)).unwrap();
    assert_eq!(granted(&n.take_output(), "b"), Some(false));
    // Same last term, shorter log: refused.
    n.step(Duration::ZERO, "c", vote(5, 2, 3)).unwrap();
    assert_eq!(granted(&n.take_output(), "c"), Some(false));
    // Same last term, same length: granted.
    n.step(Duration::ZERO, "c", vote(6, 3, 3)).unwrap();
    assert_eq!(granted(&n.take_output(), "c"), Some(true));
}

#[test]
fn a_vote_request_of_an_older_term_is_refused_and_the_term_kept() {
    let mut n = follower_with_log("a", 5, &[]);
    n.step(Duration::ZERO, "b", vote(4, 10, 4)).unwrap();
    assert_eq!(granted(&n.take_output(), "b"), Some(false));
    assert_eq!(n.term(), 5);
}

#[test]
fn a_higher_term_makes_a_leader_step_down() {
    let mut n = node_with(
        Config {
            bootstrap: true,
            ..config("a")
        },
        MemStorage::default(),
    );
    assert_eq!(n.role(), Role::Leader);
    n.add_server("b").unwrap();
    n.step(
        Duration::ZERO,
        "b",
        Message::AppendResponse(AppendResponse {
            term: 9,
            success: false,
            index: 0,
            hint: None,
        }),
    )
    .unwrap();
    assert_eq!(n.role(), Role::Follower);
    assert_eq!(n.term(), 9);
}

#[test]
fn the_vote_is_persisted_before_it_is_sent() {
    let mut n = follower_with_log("a", 1, &[]);
    n.step(Duration::ZERO, "b", vote(2, 1, 1)).unwrap();
    assert_eq!(granted(&n.take_output(), "b"), Some(true));
    assert_eq!(n.storage.hard_state.voted_for.as_deref(), Some("b"));
    assert_eq!(n.storage.hard_state.term, 2);
}

/// Storage whose writes fail: the core must not send what depends on them.
struct BrokenStorage(MemStorage);

impl Storage for BrokenStorage {
    fn load(&mut self) -> Result<(HardState, Vec<Entry>), StorageError> {
        self.0.load()
    }
    fn save_hard_state(&mut self, _: &HardState) -> Result<(), StorageError> {
        Err(StorageError::Io(std::io::Error::other("disk gone")))
    }
    fn append(&mut self, _: &[Entry]) -> Result<(), StorageError> {
        Err(StorageError::Io(std::io::Error::other("disk gone")))
    }
    fn truncate(&mut self, _: LogIndex) -> Result<(), StorageError> {
        Err(StorageError::Io(std::io::Error::other("disk gone")))
    }
}

#[test]
fn no_vote_or_acknowledgement_is_sent_when_storage_fails() {
    let storage = BrokenStorage(MemStorage {
        hard_state: HardState {
            term: 1,
            voted_for: None,
        },
        entries: vec![membership(1, 1, &["a", "b", "c"])],
        lost_log_end: None,
    });
    let rng = Box::new(ChaCha8Rng::seed_from_u64(1));
    let mut n = Raft::new(config("a"), storage, rng, Duration::ZERO).unwrap();
    assert!(n.step(Duration::ZERO, "b", vote(1, 5, 1)).is_err());
    assert!(n.take_output().messages.is_empty());
    // Same term so no hard-state write is needed: the append itself fails.
    let msg = append(1, (1, 1), vec![entry(1, 2)], 0);
    assert!(n.step(Duration::ZERO, "b", msg).is_err());
    assert!(append_reply(&n.take_output(), "b").is_none());
}

/// A member of {a, b, c} whose log holds entries 1..=2 (term 1) but whose
/// storage lost a log that reached (term 1, index 5).
fn follower_that_lost_its_log_tail(id: &str) -> Raft<MemStorage> {
    let storage = MemStorage {
        hard_state: HardState {
            term: 1,
            voted_for: None,
        },
        entries: vec![membership(1, 1, &["a", "b", "c"]), entry(1, 2)],
        lost_log_end: Some((1, 5)),
    };
    node_with(config(id), storage)
}

#[test]
fn a_node_that_lost_its_log_tail_votes_as_if_it_still_had_it() {
    let mut n = follower_that_lost_its_log_tail("a");
    // Ahead of the log it has, behind the one it lost: refused.
    n.step(Duration::ZERO, "b", vote(2, 4, 1)).unwrap();
    assert_eq!(granted(&n.take_output(), "b"), Some(false));
    // As long as the lost log: granted.
    n.step(Duration::ZERO, "c", vote(3, 5, 1)).unwrap();
    assert_eq!(granted(&n.take_output(), "c"), Some(true));
}

#[test]
fn a_node_that_lost_its_log_tail_refuses_pre_votes_for_shorter_logs() {
    let mut cfg = config("a");
    cfg.pre_vote = true;
    let mut n = node_with(
        cfg,
        MemStorage {
            hard_state: HardState {
                term: 1,
                voted_for: None,
            },
            entries: vec![membership(1, 1, &["a", "b", "c"])],
            lost_log_end: Some((1, 5)),
        },
    );
    let pre = |last_log_index| {
        Message::RequestVote(RequestVote {
            term: 2,
            last_log_index,
            last_log_term: 1,
            pre_vote: true,
        })
    };
    n.step(Duration::ZERO, "b", pre(4)).unwrap();
    assert_eq!(granted(&n.take_output(), "b"), Some(false));
    n.step(Duration::ZERO, "b", pre(5)).unwrap();
    assert_eq!(granted(&n.take_output(), "b"), Some(true));
}

#[test]
fn a_node_that_lost_its_log_tail_campaigns_only_once_a_leader_refilled_it() {
    let mut n = follower_that_lost_its_log_tail("a");
    n.tick(3 * ET).unwrap();
    assert_eq!(n.role(), Role::Follower, "no campaign on a short log");
    assert!(n.take_output().messages.is_empty());
    // The leader b sends entries 3..=5: the log is as long as the lost one.
    let refill = append(1, (2, 1), vec![entry(1, 3), entry(1, 4), entry(1, 5)], 0);
    n.step(3 * ET, "b", refill).unwrap();
    assert_eq!(
        append_reply(&n.take_output(), "b").map(|r| r.success),
        Some(true)
    );
    n.tick(6 * ET).unwrap();
    assert_eq!(n.role(), Role::Candidate);
}

#[test]
fn a_first_server_that_lost_its_log_does_not_bootstrap_a_new_cluster() {
    let mut cfg = config("a");
    cfg.bootstrap = true;
    let n = node_with(
        cfg,
        MemStorage {
            lost_log_end: Some((2, 7)),
            ..MemStorage::default()
        },
    );
    assert_eq!(n.role(), Role::Follower);
    assert!(n.log().is_empty());
    assert_eq!(n.next_deadline(), None);
}

#[test]
fn election_timer_is_drawn_from_et_to_twice_et() {
    for seed in 0..50 {
        let rng = Box::new(ChaCha8Rng::seed_from_u64(seed));
        let storage = MemStorage {
            hard_state: HardState {
                term: 1,
                voted_for: None,
            },
            entries: vec![membership(1, 1, &["a", "b", "c"])],
            lost_log_end: None,
        };
        let n = Raft::new(config("a"), storage, rng, Duration::from_secs(1)).unwrap();
        let d = n.next_deadline().unwrap() - Duration::from_secs(1);
        assert!(d >= ET && d < 2 * ET, "deadline {d:?}");
    }
}

#[test]
fn a_timed_out_member_campaigns_in_a_new_term() {
    let mut n = follower_with_log("a", 1, &[]);
    n.tick(2 * ET).unwrap();
    assert_eq!(n.role(), Role::Candidate);
    assert_eq!(n.term(), 2);
    let out = n.take_output();
    assert!(matches!(messages_to(&out, "b")[0], Message::RequestVote(_)));
    assert!(matches!(messages_to(&out, "c")[0], Message::RequestVote(_)));
}

#[test]
fn pre_vote_does_not_bump_the_term_until_a_majority_agrees() {
    let mut n = node_with(
        Config {
            pre_vote: true,
            ..config("a")
        },
        follower_with_log("a", 1, &[]).storage.clone(),
    );
    n.tick(2 * ET).unwrap();
    assert_eq!(n.role(), Role::PreCandidate);
    assert_eq!(n.term(), 1);
    n.take_output();
    n.step(
        2 * ET,
        "b",
        Message::VoteResponse(VoteResponse {
            term: 2,
            granted: true,
            pre_vote: true,
        }),
    )
    .unwrap();
    assert_eq!(n.role(), Role::Candidate);
    assert_eq!(n.term(), 2);
}

/// Follower `id` of term 1 (members a, b, c) that has just heard from its
/// leader `b`.
fn following_b(id: &str) -> Raft<MemStorage> {
    let mut n = follower_with_log(id, 1, &[]);
    n.step(Duration::ZERO, "b", append(1, (1, 1), vec![], 0))
        .unwrap();
    n.take_output();
    n
}

/// A pre-vote request for term 2 from a candidate whose log ends at (1, 1).
fn pre_vote_for_term_2() -> Message {
    Message::RequestVote(RequestVote {
        term: 2,
        last_log_index: 1,
        last_log_term: 1,
        pre_vote: true,
    })
}

#[test]
fn a_follower_hearing_from_its_leader_refuses_pre_votes() {
    let mut n = following_b("a");
    let pre = pre_vote_for_term_2();
    n.step(ET / 2, "c", pre.clone()).unwrap();
    assert_eq!(granted(&n.take_output(), "c"), Some(false));
    // Once the leader has been silent for an ET, the pre-vote is granted,
    // and still changes nothing on the voter.
    n.step(2 * ET, "c", pre).unwrap();
    assert_eq!(granted(&n.take_output(), "c"), Some(true));
    assert_eq!(n.term(), 1);
}

#[test]
fn a_follower_told_its_leader_departed_campaigns_after_its_turn_of_et_over_25() {
    let mut n = following_b("a");
    assert!(n.next_deadline().unwrap() >= ET);
    // a is first in member order among the survivors: its turn is the first.
    n.peer_departed(ET / 10, "b");
    assert_eq!(n.next_deadline(), Some(ET / 10 + ET / 25));
    n.tick(ET / 10 + ET / 25).unwrap();
    assert_eq!(n.role(), Role::Candidate);
    assert!(matches!(
        &messages_to(&n.take_output(), "c")[..],
        [Message::RequestVote(rv)] if rv.term == 2
    ));
}

#[test]
fn survivors_take_turns_in_member_order_and_move_up_as_more_depart() {
    let mut c = following_b("c");
    let slot = ET / 25;
    // a is not reported gone (yet): c waits for a's turn, then takes its own.
    c.peer_departed(ET / 10, "b");
    assert_eq!(c.next_deadline(), Some(ET / 10 + 2 * slot));
    // A non-leader reported before the leader counts as well.
    c.peer_departed(ET / 10 + slot / 2, "a");
    assert_eq!(c.next_deadline(), Some(ET / 10 + slot / 2 + slot));
}

#[test]
fn after_its_leader_departed_a_follower_grants_pre_votes_at_once() {
    let mut n = following_b("a");
    let pre = pre_vote_for_term_2();
    n.peer_departed(ET / 10, "b");
    n.step(ET / 10, "c", pre).unwrap();
    assert_eq!(granted(&n.take_output(), "c"), Some(true));
}

#[test]
fn a_departed_peer_that_is_not_the_leader_changes_no_timer() {
    let mut n = following_b("a");
    let before = n.next_deadline();
    n.peer_departed(ET / 10, "c");
    assert_eq!(n.next_deadline(), before);
    // A leader ignores the news about anyone.
    let mut l = leader_with_log(&[], 2);
    let before = l.next_deadline();
    l.peer_departed(2 * ET, "b");
    assert_eq!(l.next_deadline(), before);
    assert_eq!(l.role(), Role::Leader);
}

#[test]
fn check_quorum_makes_an_isolated_leader_step_down() {
    let mut cfg = config("a");
    cfg.check_quorum = true;
    cfg.bootstrap = true;
    let mut n = node_with(cfg, MemStorage::default());
    n.add_server("b").unwrap();
    assert_eq!(n.role(), Role::Leader);
    // b never answers: after an ET the leader gives up.
    n.tick(ET + Duration::from_millis(1)).unwrap();
    assert_eq!(n.role(), Role::Follower);
}

#[test]
fn with_check_quorum_a_follower_ignores_vote_requests_while_its_leader_is_alive() {
    let mut cfg = config("a");
    cfg.check_quorum = true;
    let mut n = node_with(cfg, follower_with_log("a", 1, &[]).storage.clone());
    n.step(Duration::ZERO, "b", append(1, (1, 1), vec![], 0))
        .unwrap();
    n.take_output();
    n.step(ET / 2, "c", vote(5, 9, 1)).unwrap();
    assert!(n.take_output().messages.is_empty());
    assert_eq!(n.term(), 1);
}

// ---------------------------------------------------------- election backoff

/// Follower `a` of term 1 (members a, b, c) whose ET may double `cap` times.
fn backing_off(cap: u32, check_quorum: bool) -> Raft<MemStorage> {
    let cfg = Config {
        election_backoff: cap,
        check_quorum,
        ..config("a")
    };
    node_with(cfg, follower_with_log("a", 1, &[]).storage.clone())
}

/// Fires `n`'s election timer; returns when, and how far away it re-armed it.
fn time_out(n: &mut Raft<MemStorage>) -> (Duration, Duration) {
    let at = n.next_deadline().expect("an election timer");
    n.tick(at).unwrap();
    n.take_output();
    (at, n.next_deadline().expect("an election timer") - at)
}

fn vote_response(term: Term, granted: bool) -> Message {
    Message::VoteResponse(VoteResponse {
        term,
        granted,
        pre_vote: false,
    })
}

#[test]
fn each_unanswered_campaign_doubles_the_election_timeout_up_to_the_cap() {
    let mut n = backing_off(2, false);
    let timers: Vec<Duration> = (0..5).map(|_| time_out(&mut n).1).collect();
    assert_eq!(n.role(), Role::Candidate);
    // The first campaign starts from Raft's timer; each unanswered one doubles ET.
    let ets = [ET, 2 * ET, 4 * ET, 4 * ET, 4 * ET];
    for (timer, et) in timers.iter().zip(ets) {
        assert!(*timer >= et && *timer < 2 * et, "{timers:?}");
    }
}

#[test]
fn a_split_vote_answered_by_a_majority_keeps_raft_s_timer() {
    let mut n = backing_off(2, false);
    for _ in 0..3 {
        let (at, _) = time_out(&mut n);
        // b voted for another candidate of this term: answered, not granted.
        n.step(at, "b", vote_response(n.term(), false)).unwrap();
    }
    let (_, timer) = time_out(&mut n);
    assert!(timer >= ET && timer < 2 * ET, "{timer:?}");
}

#[test]
fn a_rival_s_newer_term_is_an_answer() {
    let mut n = backing_off(2, false);
    let (at, _) = time_out(&mut n);
    n.step(at, "b", vote_response(n.term() + 3, false)).unwrap();
    assert_eq!(n.role(), Role::Follower);
    let (_, timer) = time_out(&mut n);
    assert!(timer >= ET && timer < 2 * ET, "{timer:?}");
}

#[test]
fn without_backoff_unanswered_campaigns_keep_raft_s_timer() {
    let mut n = backing_off(0, false);
    for _ in 0..4 {
        let (_, timer) = time_out(&mut n);
        assert!(timer >= ET && timer < 2 * ET, "{timer:?}");
    }
}

#[test]
fn a_leader_elected_after_backing_off_keeps_its_stretched_check_quorum_window() {
    let mut n = backing_off(2, true);
    time_out(&mut n);
    let (elected, _) = time_out(&mut n); // unanswered: ET is now 2 ET
    n.step(elected, "b", vote_response(n.term(), true)).unwrap();
    assert_eq!(n.role(), Role::Leader);
    // Neither b nor c answers again: with Raft's ET it would step down after one ET.
    n.tick(elected + ET + Duration::from_millis(1)).unwrap();
    assert_eq!(n.role(), Role::Leader);
    n.tick(elected + 2 * ET + Duration::from_millis(1)).unwrap();
    assert_eq!(n.role(), Role::Follower);
}

#[test]
fn a_backed_off_follower_refuses_pre_votes_for_its_stretched_et_after_hearing_its_leader() {
    let mut n = backing_off(2, false);
    time_out(&mut n);
    let (t, _) = time_out(&mut n); // unanswered: ET is now 2 ET
    n.step(t, "b", append(n.term(), (1, 1), vec![], 0)).unwrap();
    n.take_output();
    let pre = Message::RequestVote(RequestVote {
        term: n.term() + 1,
        last_log_index: 1,
        last_log_term: 1,
        pre_vote: true,
    });
    n.step(t + ET + ET / 2, "c", pre.clone()).unwrap();
    assert_eq!(granted(&n.take_output(), "c"), Some(false));
    n.step(t + 2 * ET, "c", pre).unwrap();
    assert_eq!(granted(&n.take_output(), "c"), Some(true));
}

// -------------------------------------------------------------- replication

#[test]
fn a_follower_rejects_a_missing_prev_entry_with_its_log_end_as_hint() {
    let mut n = follower_with_log("a", 1, &[1]);
    n.step(Duration::ZERO, "b", append(1, (7, 1), vec![], 0))
        .unwrap();
    let r = append_reply(&n.take_output(), "b").unwrap();
    assert!(!r.success);
    assert_eq!(
        r.hint,
        Some(RejectHint {
            conflict_index: 3,
            conflict_term: None
        })
    );
}

#[test]
fn a_follower_rejects_a_term_mismatch_with_the_first_index_of_that_term() {
    let mut n = follower_with_log("a", 3, &[2, 2, 2]);
    n.step(Duration::ZERO, "b", append(3, (4, 3), vec![], 0))
        .unwrap();
    let r = append_reply(&n.take_output(), "b").unwrap();
    assert_eq!(
        r.hint,
        Some(RejectHint {
            conflict_index: 2,
            conflict_term: Some(2)
        })
    );
}

#[test]
fn conflicting_entries_are_truncated_and_replaced() {
    let mut n = follower_with_log("a", 3, &[2, 2, 2]);
    let msg = append(3, (2, 2), vec![entry(3, 3), entry(3, 4)], 0);
    n.step(Duration::ZERO, "b", msg).unwrap();
    let r = append_reply(&n.take_output(), "b").unwrap();
    assert!(r.success);
    assert_eq!(r.index, 4);
    let terms: Vec<Term> = n.log().entries().iter().map(|e| e.term).collect();
    assert_eq!(terms, [1, 2, 3, 3]);
    assert_eq!(n.storage.entries.len(), 4);
    assert_eq!(n.storage.entries[2].term, 3);
}

#[test]
fn matching_entries_are_kept_and_an_old_message_truncates_nothing() {
    let mut n = follower_with_log("a", 2, &[2, 2, 2]);
    // An old AppendEntries covering only index 2 must not drop 3 and 4.
    n.step(Duration::ZERO, "b", append(2, (1, 1), vec![entry(2, 2)], 0))
        .unwrap();
    let r = append_reply(&n.take_output(), "b").unwrap();
    assert!(r.success);
    assert_eq!(r.index, 2);
    assert_eq!(n.log().last_index(), 4);
}

#[test]
fn a_follower_commits_no_further_than_what_it_verified() {
    let mut n = follower_with_log("a", 2, &[1, 1, 1]);
    // Leader's commit is 4 but this message only vouches for index 2.
    n.step(Duration::ZERO, "b", append(2, (2, 1), vec![], 4))
        .unwrap();
    assert_eq!(n.commit_index(), 2);
}

#[test]
fn a_malformed_append_is_dropped_without_changing_the_log() {
    let mut n = follower_with_log("a", 2, &[1]);
    // Entries not contiguous after prev: index 5 after prev 2.
    n.step(Duration::ZERO, "b", append(2, (2, 1), vec![entry(2, 5)], 0))
        .unwrap();
    assert!(append_reply(&n.take_output(), "b").is_none());
    assert_eq!(n.log().last_index(), 2);
}

/// A leader `a` of term `term` over members a, b, c with the given log.
fn leader_with_log(terms: &[Term], term: Term) -> Raft<MemStorage> {
    leader_with(config("a"), terms, term)
}

/// [`leader_with_log`] with `cfg`, elected at `2 ET`.
fn leader_with(cfg: Config, terms: &[Term], term: Term) -> Raft<MemStorage> {
    let mut n = node_with(cfg, follower_with_log("a", term - 1, terms).storage.clone());
    n.tick(2 * ET).unwrap(); // campaigns in `term`
    assert_eq!(n.term(), term);
    let granted = Message::VoteResponse(VoteResponse {
        term,
        granted: true,
        pre_vote: false,
    });
    n.step(2 * ET, "b", granted).unwrap();
    assert_eq!(n.role(), Role::Leader);
    n.take_output();
    n
}

fn ack(term: Term, index: LogIndex) -> Message {
    Message::AppendResponse(AppendResponse {
        term,
        success: true,
        index,
        hint: None,
    })
}

#[test]
fn an_old_term_entry_is_not_committed_by_counting_replicas() {
    // Figure 8: the leader of term 4 holds an entry of term 2 at index 2.
    let mut n = leader_with_log(&[2], 4);
    // Log: [1: config t1, 2: t2, 3: noop t4]. b acknowledges only up to 2.
    n.step(2 * ET, "b", ack(4, 2)).unwrap();
    assert_eq!(n.commit_index(), 0, "index 2 is of term 2: not committable");
    n.step(2 * ET, "b", ack(4, 3)).unwrap();
    assert_eq!(
        n.commit_index(),
        3,
        "the term-4 no-op commits, and 2 with it"
    );
}

#[test]
fn the_leader_skips_back_a_whole_term_on_a_hinted_rejection() {
    let mut n = leader_with_log(&[1, 1, 1, 1], 3);
    // b's log diverges at index 2 with a term-2 run it does not share.
    let reject = Message::AppendResponse(AppendResponse {
        term: 3,
        success: false,
        index: 5,
        hint: Some(RejectHint {
            conflict_index: 2,
            conflict_term: Some(2),
        }),
    });
    n.step(2 * ET, "b", reject).unwrap();
    let out = n.take_output();
    let Message::AppendEntries(ae) = &messages_to(&out, "b")[0] else {
        panic!("expected AppendEntries");
    };
    // The leader has no term 2: resume from the follower's conflict index.
    assert_eq!(ae.prev_log_index, 1);
    assert_eq!(ae.entries.len(), 5);
}

#[test]
fn immediate_replication_sends_new_entries_at_once() {
    let mut n = leader_with_log(&[], 2);
    n.step(2 * ET, "b", ack(2, 2)).unwrap();
    n.take_output();
    n.propose(1, Command::Get { key: "k".into() }).unwrap();
    let out = n.take_output();
    assert!(
        matches!(&messages_to(&out, "b")[0], Message::AppendEntries(ae) if ae.entries.len() == 1)
    );
}

/// A leader of term 2 over a, b, c with Raft.js's pacing, b caught up to 2.
fn heartbeat_paced_leader() -> Raft<MemStorage> {
    let mut n = leader_with_log(&[], 2);
    n.cfg.replication = Replication::Heartbeat;
    n.step(2 * ET, "b", ack(2, 2)).unwrap();
    n.take_output();
    n
}

#[test]
fn heartbeat_pacing_broadcasts_each_append_once_and_restarts_the_heartbeat_timer() {
    let mut n = heartbeat_paced_leader();
    let hb = n.cfg.heartbeat_interval();
    n.tick(2 * ET + hb / 2).unwrap();
    assert!(n.take_output().messages.is_empty());
    n.propose(1, Command::Get { key: "k".into() }).unwrap();
    let out = n.take_output();
    assert!(
        matches!(&messages_to(&out, "b")[..], [Message::AppendEntries(ae)] if ae.entries.len() == 1)
    );
    assert_eq!(
        messages_to(&out, "c").len(),
        1,
        "everyone gets the broadcast"
    );
    // The heartbeat that was due at 2 ET + hb was pushed back by the append.
    n.tick(2 * ET + hb).unwrap();
    assert!(n.take_output().messages.is_empty());
    n.tick(2 * ET + hb / 2 + hb).unwrap();
    assert_eq!(messages_to(&n.take_output(), "b").len(), 1);
}

#[test]
fn heartbeat_pacing_sends_a_new_commit_index_only_with_the_next_heartbeat() {
    let mut n = heartbeat_paced_leader();
    let index = n.propose(1, Command::Get { key: "k".into() }).unwrap();
    n.take_output();
    n.step(2 * ET, "b", ack(2, index)).unwrap();
    assert_eq!(n.commit_index(), index);
    assert!(messages_to(&n.take_output(), "b").is_empty());
    n.tick(2 * ET + n.cfg.heartbeat_interval()).unwrap();
    let out = n.take_output();
    assert!(
        matches!(&messages_to(&out, "b")[..], [Message::AppendEntries(ae)] if ae.leader_commit == index)
    );
}

#[test]
fn heartbeat_pacing_steps_back_one_entry_per_rejection_ignoring_the_hint() {
    // Log [1: config, 2..=5: term 1, 6: no-op of term 3]; b is probed at 5.
    let mut n = leader_with_log(&[1, 1, 1, 1], 3);
    n.cfg.replication = Replication::Heartbeat;
    let reject = Message::AppendResponse(AppendResponse {
        term: 3,
        success: false,
        index: 5,
        hint: Some(RejectHint {
            conflict_index: 1,
            conflict_term: None,
        }),
    });
    n.step(2 * ET, "b", reject).unwrap();
    assert!(
        messages_to(&n.take_output(), "b").is_empty(),
        "retried with the next broadcast"
    );
    n.tick(2 * ET + n.cfg.heartbeat_interval()).unwrap();
    let out = n.take_output();
    let Message::AppendEntries(ae) = &messages_to(&out, "b")[0] else {
        panic!("expected AppendEntries");
    };
    assert_eq!(ae.prev_log_index, 4, "one entry back, not to the hint");
    assert_eq!(ae.entries.len(), 2);
}

// ---------------------------------------------------------- lean heartbeats

/// Leader `a` of term 2 over a, b, c with `cfg`, elected at `2 ET`; its no-op is index 2.
fn leader_of_term_2(cfg: Config) -> Raft<MemStorage> {
    leader_with(cfg, &[], 2)
}

/// [`leader_of_term_2`] with check-quorum (and lean heartbeats, the default).
fn lean_leader() -> Raft<MemStorage> {
    leader_of_term_2(Config {
        check_quorum: true,
        ..config("a")
    })
}

/// The `ack_optional` flag of the AppendEntries to `to` in `out`.
fn ack_optional_to(out: &Output, to: &str) -> Option<bool> {
    messages_to(out, to).into_iter().find_map(|m| match m {
        Message::AppendEntries(a) => Some(a.ack_optional),
        _ => None,
    })
}

#[test]
fn a_matching_follower_heard_in_this_window_is_asked_only_before_the_next_check() {
    let hb = ET / 5;
    let mut n = lean_leader();
    n.step(2 * ET, "b", ack(2, 2)).unwrap();
    n.tick(2 * ET + hb).unwrap();
    let out = n.take_output();
    assert_eq!(ack_optional_to(&out, "b"), Some(true));
    assert_eq!(ack_optional_to(&out, "c"), Some(false), "c was never heard");
    // The last heartbeat before the check at 3 ET is asked: its answer may land after the
    // check and count for the next window.
    n.tick(3 * ET - hb).unwrap();
    assert_eq!(ack_optional_to(&n.take_output(), "b"), Some(false));
    // The check-quorum at 3 ET opens a new window: b must answer again once.
    n.tick(3 * ET).unwrap();
    assert_eq!(n.role(), Role::Leader);
    n.take_output();
    n.tick(3 * ET + hb).unwrap();
    assert_eq!(ack_optional_to(&n.take_output(), "b"), Some(false));
    n.step(3 * ET + hb, "b", ack(2, 2)).unwrap();
    n.tick(3 * ET + 2 * hb).unwrap();
    assert_eq!(ack_optional_to(&n.take_output(), "b"), Some(true));
}

#[test]
fn a_leader_asks_an_answer_while_a_follower_lags_without_lean_heartbeats_or_near_each_check() {
    let hb = ET / 5;
    let mut n = lean_leader();
    n.step(2 * ET, "b", ack(2, 1)).unwrap(); // b has the configuration, not the no-op
    n.tick(2 * ET + hb).unwrap();
    assert_eq!(ack_optional_to(&n.take_output(), "b"), Some(false));
    for cfg in [
        Config {
            check_quorum: true,
            lean_heartbeats: false,
            ..config("a")
        },
        // Without check-quorum nothing would ever ask again.
        Config {
            check_quorum: false,
            ..config("a")
        },
        // Every heartbeat within one interval of a check: each is the last before it.
        Config {
            check_quorum: true,
            heartbeat_ratio: 2,
            ..config("a")
        },
    ] {
        let beat = cfg.heartbeat_interval();
        let mut n = leader_of_term_2(cfg);
        n.step(2 * ET, "b", ack(2, 2)).unwrap();
        n.tick(2 * ET + beat).unwrap();
        assert_eq!(ack_optional_to(&n.take_output(), "b"), Some(false));
    }
}

#[test]
fn a_follower_answers_an_answerless_heartbeat_only_to_reject_it() {
    let answerless = |prev: (LogIndex, Term), entries: Vec<Entry>, commit: LogIndex| {
        let Message::AppendEntries(m) = append(2, prev, entries, commit) else {
            unreachable!()
        };
        Message::AppendEntries(AppendEntries {
            ack_optional: true,
            ..m
        })
    };
    let mut n = follower_with_log("a", 2, &[2]);
    n.step(Duration::ZERO, "b", answerless((2, 2), vec![], 2))
        .unwrap();
    assert!(append_reply(&n.take_output(), "b").is_none());
    // It still counts as the leader's message: the commit index moved, and b is followed.
    assert_eq!(n.commit_index(), 2);
    assert_eq!(n.leader(), Some("b"));
    n.step(ET, "b", answerless((3, 2), vec![], 2)).unwrap();
    let r = append_reply(&n.take_output(), "b").expect("a rejection is answered");
    assert!(!r.success);
    n.step(ET, "b", answerless((2, 2), vec![entry(2, 3)], 2))
        .unwrap();
    let r = append_reply(&n.take_output(), "b").expect("entries are answered");
    assert_eq!((r.success, r.index), (true, 3));
}

// --------------------------------------------------------------- membership

fn bootstrapped(id: &str) -> Raft<MemStorage> {
    node_with(
        Config {
            bootstrap: true,
            ..config(id)
        },
        MemStorage::default(),
    )
}

#[test]
fn the_first_server_bootstraps_and_leads_at_once() {
    let mut n = bootstrapped("a");
    assert_eq!(n.role(), Role::Leader);
    assert_eq!(n.term(), 1);
    assert_eq!(n.applied_members(), &BTreeSet::from(["a".to_string()]));
    let events = n.take_output().events;
    assert!(events.contains(&Event::ConfigurationApplied {
        index: 1,
        members: vec!["a".into()]
    }));
}

#[test]
fn a_non_first_server_stays_idle_until_a_leader_contacts_it() {
    let mut n = node("b");
    assert_eq!(n.next_deadline(), None);
    n.tick(Duration::from_secs(60)).unwrap();
    assert_eq!(n.role(), Role::Follower);
    assert_eq!(n.term(), 0);
    assert!(n.take_output().messages.is_empty());
    n.step(Duration::from_secs(60), "a", append(1, (0, 0), vec![], 0))
        .unwrap();
    assert!(n.next_deadline().is_some(), "contacted: timer armed");
    assert_eq!(n.leader(), Some("a"));
}

#[test]
fn a_contacted_server_that_is_not_a_member_never_campaigns() {
    let mut n = node("z");
    n.step(
        Duration::ZERO,
        "a",
        append(1, (0, 0), vec![membership(1, 1, &["a"])], 1),
    )
    .unwrap();
    n.tick(Duration::from_secs(10)).unwrap();
    assert_eq!(n.role(), Role::Follower);
    assert_eq!(n.term(), 1);
}

#[test]
fn only_one_membership_change_is_pending_at_a_time() {
    let mut n = bootstrapped("a");
    n.add_server("b").unwrap();
    assert!(matches!(
        n.add_server("c"),
        Err(MembershipError::PendingConfigChange)
    ));
    assert_eq!(n.members().len(), 2, "the change took effect when appended");
    let index = n.log().last_index();
    n.step(Duration::ZERO, "b", ack(1, index)).unwrap();
    assert_eq!(n.commit_index(), index);
    n.add_server("c").unwrap();
    assert_eq!(n.members().len(), 3);
}

#[test]
fn a_new_member_counts_for_the_majority_once_its_entry_is_appended() {
    let mut n = bootstrapped("a");
    n.add_server("b").unwrap();
    n.propose(1, Command::Get { key: "k".into() }).unwrap();
    assert_eq!(n.commit_index(), 2, "2 of 2 needed: not committed alone");
}

#[test]
fn membership_requests_are_refused_off_the_leader_and_for_bad_targets() {
    let mut f = follower_with_log("a", 1, &[]);
    assert!(matches!(
        f.add_server("d"),
        Err(MembershipError::NotLeader { .. })
    ));
    let mut n = bootstrapped("a");
    assert!(matches!(
        n.add_server("a"),
        Err(MembershipError::AlreadyMember(_))
    ));
    assert!(matches!(
        n.remove_server("x"),
        Err(MembershipError::NotMember(_))
    ));
    assert!(matches!(
        n.remove_server("a"),
        Err(MembershipError::LastMember)
    ));
}

#[test]
fn a_truncated_membership_entry_reverts_the_configuration() {
    let mut n = follower_with_log("a", 2, &[]);
    let add_d = membership(2, 2, &["a", "b", "c", "d"]);
    n.step(Duration::ZERO, "b", append(2, (1, 1), vec![add_d], 0))
        .unwrap();
    assert_eq!(n.members().len(), 4);
    n.step(Duration::ZERO, "c", append(3, (1, 1), vec![entry(3, 2)], 0))
        .unwrap();
    assert_eq!(n.members().len(), 3);
}

#[test]
fn a_removed_leader_steps_down_once_the_removal_commits() {
    let mut n = bootstrapped("a");
    n.add_server("b").unwrap();
    n.step(Duration::ZERO, "b", ack(1, 3)).unwrap();
    let index = n.remove_server("a").unwrap();
    assert_eq!(n.role(), Role::Leader, "still leading until committed");
    n.step(Duration::ZERO, "b", ack(1, index)).unwrap();
    assert_eq!(n.role(), Role::Follower);
}

// ------------------------------------------------------------------ clients

#[test]
fn a_proposal_is_answered_when_applied() {
    let mut n = bootstrapped("a");
    n.take_output();
    let index = n
        .propose(
            42,
            Command::SeqAppend {
                key: "chat".into(),
                count: 0,
                value: "hi".into(),
            },
        )
        .unwrap();
    let out = n.take_output();
    assert_eq!(
        out.replies,
        vec![ClientReply {
            session: None,
            from: "a".into(),
            request: 42,
            outcome: ClientOutcome::Applied {
                index,
                result: CommandResult::SeqAppended {
                    appended: true,
                    count: 1
                }
            }
        }]
    );
}

#[test]
fn a_non_leader_answers_not_leader_with_its_hint() {
    let mut n = follower_with_log("a", 1, &[]);
    n.step(Duration::ZERO, "b", append(1, (1, 1), vec![], 0))
        .unwrap();
    assert!(matches!(
        n.propose(1, Command::Get { key: "k".into() }),
        Err(ProposeError::NotLeader { leader_hint: Some(ref l) }) if l == "b"
    ));
    n.take_output();
    let req = Message::ClientRequest(ClientRequest {
        session: None,
        request: 3,
        command: Command::Get { key: "k".into() },
        more: false,
    });
    n.step(Duration::ZERO, "c", req).unwrap();
    let out = n.take_output();
    assert_eq!(
        messages_to(&out, "c"),
        vec![Message::ClientResponse(ClientResponse {
            session: None,
            request: 3,
            outcome: ClientOutcome::NotLeader {
                leader_hint: Some("b".into())
            }
        })]
    );
}

#[test]
fn a_retry_of_a_request_still_in_the_log_waits_for_it_instead_of_appending_a_copy() {
    // Leader of a, b, c that hears from nobody: nothing commits.
    let mut n = leader_with_log(&[], 2);
    let set = Command::Set {
        key: "k".into(),
        value: "v".into(),
    };
    let request = |session: &str| {
        Message::ClientRequest(ClientRequest {
            session: Some(session.into()),
            request: 9,
            command: set.clone(),
            more: false,
        })
    };
    n.step(2 * ET, "b", request("s1")).unwrap();
    let index = n.log().last_index();
    for _ in 0..5 {
        n.step(2 * ET, "c", request("s1")).unwrap();
    }
    let local = n.propose_for(Some("s1".into()), 9, set.clone()).unwrap();
    assert_eq!(local, index, "retries wait for the entry already there");
    assert_eq!(n.log().last_index(), index, "no copy was appended");
    // Another session's request of the same number is its own entry.
    n.step(2 * ET, "b", request("s2")).unwrap();
    assert_eq!(n.log().last_index(), index + 1);
    // Once a majority stores it, the latest asker gets the answer.
    n.take_output();
    n.step(2 * ET, "b", ack(2, index + 1)).unwrap();
    let replies = n.take_output().replies;
    assert!(
        matches!(&replies[..], [ClientReply { session: Some(s), request: 9, .. }] if s == "s1"),
        "{replies:?}"
    );
}

#[test]
fn a_forwarded_request_is_answered_to_its_sender_when_applied() {
    let mut n = bootstrapped("a");
    n.take_output();
    let req = Message::ClientRequest(ClientRequest {
        session: None,
        request: 5,
        command: Command::Set {
            key: "k".into(),
            value: "v".into(),
        },
        more: false,
    });
    n.step(Duration::ZERO, "b", req).unwrap();
    let out = n.take_output();
    assert!(matches!(
        &messages_to(&out, "b")[..],
        [Message::ClientResponse(ClientResponse {
            session: None,
            request: 5,
            outcome: ClientOutcome::Applied {
                result: CommandResult::Done,
                ..
            }
        })]
    ));
}

#[test]
fn a_client_session_applies_once_whichever_node_its_retry_comes_through() {
    let mut n = bootstrapped("a");
    n.take_output();
    let set = |request| {
        Message::ClientRequest(ClientRequest {
            session: Some("c7".into()),
            request,
            command: Command::Set {
                key: "k".into(),
                value: format!("v{request}"),
            },
            more: false,
        })
    };
    n.step(Duration::ZERO, "b", set(1)).unwrap();
    let out = n.take_output();
    assert!(matches!(
        &messages_to(&out, "b")[..],
        [Message::ClientResponse(ClientResponse { session: Some(s), request: 1, .. })] if s == "c7"
    ));
    let log_len = n.log().last_index();
    // The same request again, through another node: answered, applied once
    n.step(Duration::ZERO, "c", set(1)).unwrap();
    let out = n.take_output();
    assert!(matches!(
        &messages_to(&out, "c")[..],
        [Message::ClientResponse(ClientResponse {
            request: 1,
            outcome: ClientOutcome::Applied {
                result: CommandResult::Done,
                ..
            },
            ..
        })]
    ));
    assert_eq!(
        n.log().last_index(),
        log_len + 1,
        "appended, but applied once"
    );
    // ...and an older request of the session is stale, whoever sends it.
    n.step(Duration::ZERO, "b", set(2)).unwrap();
    n.step(Duration::ZERO, "c", set(1)).unwrap();
    let out = n.take_output();
    assert!(matches!(
        &messages_to(&out, "c")[..],
        [Message::ClientResponse(ClientResponse {
            outcome: ClientOutcome::Applied {
                result: CommandResult::Stale,
                ..
            },
            ..
        })]
    ));
    // A proposal for the node's own session is another session: "a", not "@c7".
    n.propose(1, Command::Get { key: "k".into() }).unwrap();
    let out = n.take_output();
    assert!(matches!(
        &out.replies[..],
        [ClientReply { session: None, request: 1, outcome: ClientOutcome::Applied {
            result: CommandResult::Value(Some(Value::Text(v))), .. }, .. }] if v == "v2"
    ));
}

#[test]
fn a_restart_keeps_only_what_was_persisted_and_rebuilds_state_by_replay() {
    let mut n = bootstrapped("a");
    n.propose(
        1,
        Command::Set {
            key: "k".into(),
            value: "v".into(),
        },
    )
    .unwrap();
    let storage = n.storage.clone();
    let mut again = node_with(config("a"), storage);
    assert_eq!(again.term(), 1);
    assert_eq!(again.log().last_index(), 3);
    assert_eq!(
        again.commit_index(),
        0,
        "commit is learned again, not stored"
    );
    again.tick(Duration::from_secs(1)).unwrap(); // elects itself (sole member)
    assert_eq!(again.role(), Role::Leader);
    assert_eq!(again.state().get("k"), Some(&Value::Text("v".into())));
}

#[test]
fn a_commit_is_pushed_at_once_unless_the_client_has_more_requests_queued() {
    let mut n = leader_with_log(&[], 2);
    n.step(2 * ET, "b", ack(2, 2)).unwrap();
    n.step(2 * ET, "c", ack(2, 2)).unwrap();
    n.take_output();
    let request = |id, more| {
        Message::ClientRequest(ClientRequest {
            session: None,
            request: id,
            command: Command::Get { key: "k".into() },
            more,
        })
    };
    // More queued behind it: committing it sends no commit-only message to c;
    // the next request's AppendEntries will carry the commit index.
    n.step(2 * ET, "b", request(1, true)).unwrap();
    n.take_output();
    n.step(2 * ET, "b", ack(2, 3)).unwrap();
    assert_eq!(n.commit_index(), 3);
    let out = n.take_output();
    assert!(messages_to(&out, "c").is_empty());
    assert!(matches!(
        &messages_to(&out, "b")[..],
        [Message::ClientResponse(_)]
    ));
    // The last one is pushed to every follower at once.
    n.step(2 * ET, "b", request(2, false)).unwrap();
    let out = n.take_output();
    assert!(
        matches!(&messages_to(&out, "c")[..], [Message::AppendEntries(ae)] if ae.leader_commit == 3)
    );
    n.step(2 * ET, "b", ack(2, 4)).unwrap();
    let out = n.take_output();
    assert!(
        matches!(&messages_to(&out, "c")[..], [Message::AppendEntries(ae)] if ae.leader_commit == 4)
    );
}

#[test]
fn a_bootstrapped_cluster_is_named_by_its_first_entry() {
    let n = node_with(
        Config {
            bootstrap: true,
            bootstrap_cluster_id: 0xfeed,
            ..config("a")
        },
        MemStorage::default(),
    );
    assert_eq!(n.cluster_id(), Some(0xfeed));
    assert!(n.accepts_cluster(Some(0xfeed)));
    assert!(n.accepts_cluster(None), "a new server has no identity yet");
    assert!(
        !n.accepts_cluster(Some(0xbeef)),
        "another cluster is refused"
    );
}

#[test]
fn a_new_server_takes_the_identity_of_the_first_leader_that_reaches_it() {
    let mut leader = node_with(
        Config {
            bootstrap: true,
            bootstrap_cluster_id: 7,
            ..config("a")
        },
        MemStorage::default(),
    );
    let mut fresh = node("b");
    assert_eq!(fresh.cluster_id(), None);
    assert!(fresh.accepts_cluster(Some(8)));
    leader.add_server("b").unwrap();
    // A few round trips: the leader probes, the new server rejects, the leader sends the log.
    for _ in 0..4 {
        for envelope in leader.take_output().messages {
            if envelope.to == "b" {
                fresh.step(Duration::ZERO, "a", envelope.message).unwrap();
            }
        }
        for envelope in fresh.take_output().messages {
            leader.step(Duration::ZERO, "b", envelope.message).unwrap();
        }
    }
    assert_eq!(fresh.cluster_id(), Some(7));
    assert!(!fresh.accepts_cluster(Some(8)));
}
