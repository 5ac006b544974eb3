//! Presence by polling `GET /<key>/peers`, for servers without raftrtc's presence extension.
//!
//! The stock PeerJS server tells nobody who joined or left; with `--allow_discovery` it lists
//! the connected ids. A task polls that list and turns the differences between two answers
//! into the same events our server pushes: [`ClientEvent::Peers`] after the first answer,
//! then [`ClientEvent::PeerJoined`] and [`ClientEvent::PeerLeft`]. A failed poll changes
//! nothing (a server restarting does not mean every peer left); the WebSocket's own loss is
//! what reports an outage.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::debug;

use super::driver::Command;
use super::http::Endpoint;
use super::namespace::Namespace;
use super::{peers_at, ClientEvent};

/// The difference between two answers of `/peers`, as presence events.
#[derive(Debug, Default)]
pub(crate) struct PeerList {
    /// The last answer; `None` before the first.
    known: Option<BTreeSet<String>>,
}

impl PeerList {
    /// The events that take the last answer to `now` (our own id already removed).
    pub(crate) fn update(&mut self, now: BTreeSet<String>) -> Vec<ClientEvent> {
        let events = match &self.known {
            None => vec![ClientEvent::Peers(now.iter().cloned().collect())],
            Some(before) => {
                let joined = now.difference(before).cloned().map(ClientEvent::PeerJoined);
                let left = before.difference(&now).cloned().map(ClientEvent::PeerLeft);
                joined.chain(left).collect()
            }
        };
        self.known = Some(now);
        events
    }
}

/// What the polling task needs.
pub(crate) struct Poller {
    pub endpoint: Endpoint,
    pub key: String,
    pub namespace: Namespace,
    /// Our plain id, left out of every answer.
    pub me: String,
    pub interval: Duration,
    pub events: mpsc::Sender<ClientEvent>,
    /// The driver's command channel: the task ends with the client.
    pub client: mpsc::WeakSender<Command>,
}

impl Poller {
    /// Polls until the client is closed or dropped, or nobody reads events any more.
    pub(crate) async fn run(self) {
        let mut list = PeerList::default();
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !self.client_alive() {
                return;
            }
            let answer = match peers_at(&self.endpoint, &self.key).await {
                Ok(ids) => ids,
                Err(e) => {
                    debug!(id = %self.me, "polling peers: {e}");
                    continue;
                }
            };
            let mut now: BTreeSet<String> = self.namespace.members(&answer).into_iter().collect();
            now.remove(&self.me);
            for event in list.update(now) {
                if self.events.send(event).await.is_err() {
                    return;
                }
            }
        }
    }

    fn client_alive(&self) -> bool {
        self.client.upgrade().is_some_and(|tx| !tx.is_closed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_first_answer_is_a_snapshot_and_later_ones_are_differences() {
        let mut list = PeerList::default();
        assert_eq!(
            list.update(set(&["n1", "n2"])),
            [ClientEvent::Peers(vec!["n1".into(), "n2".into()])]
        );
        assert_eq!(list.update(set(&["n1", "n2"])), []);
        assert_eq!(
            list.update(set(&["n2", "n3"])),
            [
                ClientEvent::PeerJoined("n3".into()),
                ClientEvent::PeerLeft("n1".into())
            ]
        );
    }

    #[test]
    fn an_empty_first_answer_is_still_a_snapshot() {
        let mut list = PeerList::default();
        assert_eq!(list.update(set(&[])), [ClientEvent::Peers(vec![])]);
        assert_eq!(
            list.update(set(&["n1"])),
            [ClientEvent::PeerJoined("n1".into())]
        );
    }
}
