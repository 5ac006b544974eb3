//! The papers' steady-state properties, checked on every live node after a
//! run: one leader; the same term, commit index and log length; the same
//! membership; identical log and state-machine hashes.
//!
//! Why "steady state" needs a short settle: when the experiment's condition
//! becomes true, followers may not have heard the latest commit index yet
//! (it rides on the next heartbeat). The session polls until the properties
//! hold or a bound passes; only then is a violation a violation.

use std::collections::BTreeSet;

use raftrtc_raft::Role;

use node::control::protocol::Status;

/// What the check found, plus the counters the CSV records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The properties that failed; empty when all hold.
    pub failed: Vec<String>,
    /// Sum of `elections` over the nodes checked.
    pub elections: u64,
    /// The highest term seen.
    pub final_term: u64,
    /// Raft messages sent, summed over the nodes checked.
    pub rpc_sent: u64,
}

impl Verdict {
    /// Whether every property held.
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
    }

    /// The CSV's `properties`: `ok`, or the failed properties joined by `;`.
    pub fn properties(&self) -> String {
        if self.ok() {
            "ok".to_string()
        } else {
            self.failed.join(";")
        }
    }
}

/// Checks the properties over the statuses of every live node.
pub fn check(statuses: &[Status]) -> Verdict {
    let mut failed = Vec::new();
    let leaders = statuses
        .iter()
        .filter(|s| s.role == Some(Role::Leader))
        .count();
    if leaders != 1 {
        failed.push(format!("leaders={leaders}"));
    }
    let mut differs = |name: &str, values: BTreeSet<String>| {
        if values.len() > 1 {
            failed.push(format!("{name} differs"));
        }
    };
    differs(
        "term",
        statuses.iter().map(|s| s.term.to_string()).collect(),
    );
    differs(
        "commit_index",
        statuses
            .iter()
            .map(|s| s.commit_index.to_string())
            .collect(),
    );
    differs(
        "log_len",
        statuses.iter().map(|s| s.log_len.to_string()).collect(),
    );
    differs(
        "members",
        statuses
            .iter()
            .map(|s| {
                let mut m = s.members.clone();
                m.sort();
                m.join(",")
            })
            .collect(),
    );
    differs(
        "log_hash",
        statuses.iter().map(|s| s.log_hash.clone()).collect(),
    );
    differs(
        "state_hash",
        statuses.iter().map(|s| s.state_hash.clone()).collect(),
    );
    Verdict {
        failed,
        elections: statuses.iter().map(|s| s.elections).sum(),
        final_term: statuses.iter().map(|s| s.term).max().unwrap_or(0),
        rpc_sent: statuses
            .iter()
            .flat_map(|s| s.rpc_sent.values())
            .copied()
            .sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: &str, role: Role) -> Status {
        Status {
            id: id.into(),
            started: true,
            role: Some(role),
            term: 2,
            leader: Some("n0".into()),
            members: vec!["n0".into(), "n1".into(), "n2".into()],
            commit_index: 4,
            log_len: 4,
            log_hash: "aa".into(),
            state_hash: "bb".into(),
            elections: 1,
            rpc_sent: [("append_entries".to_string(), 10)].into_iter().collect(),
            ..Status::default()
        }
    }

    fn healthy() -> Vec<Status> {
        vec![
            status("n0", Role::Leader),
            status("n1", Role::Follower),
            status("n2", Role::Follower),
        ]
    }

    #[test]
    fn a_healthy_cluster_passes_and_counts() {
        let v = check(&healthy());
        assert!(v.ok());
        assert_eq!(v.properties(), "ok");
        assert_eq!(v.elections, 3);
        assert_eq!(v.final_term, 2);
        assert_eq!(v.rpc_sent, 30);
    }

    #[test]
    fn membership_order_does_not_matter() {
        let mut s = healthy();
        s[2].members.reverse();
        assert!(check(&s).ok());
    }

    #[test]
    fn each_property_is_named_when_it_fails() {
        let mut s = healthy();
        s[1].role = Some(Role::Leader);
        s[1].term = 3;
        s[2].commit_index = 3;
        s[2].log_len = 5;
        s[2].members.pop();
        s[1].log_hash = "zz".into();
        s[0].state_hash = "yy".into();
        let v = check(&s);
        assert_eq!(
            v.properties(),
            "leaders=2;term differs;commit_index differs;log_len differs;members differs;log_hash differs;state_hash differs"
        );
        assert_eq!(v.final_term, 3);
    }

    #[test]
    fn no_leader_fails() {
        let mut s = healthy();
        s[0].role = Some(Role::Candidate);
        assert_eq!(check(&s).properties(), "leaders=0");
    }
}
