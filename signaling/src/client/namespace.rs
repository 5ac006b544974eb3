//! One cluster's ids on a server whose PeerJS key many clusters share.
//!
//! raftrtc's own server gives every cluster its own key, so a node's id on the server is its
//! id. A stock PeerJS server is deployed with one key, so every cluster's nodes meet in one
//! realm: there a cluster's ids are `<namespace>.<id>`, the namespace being unique to the
//! cluster (the bench uses the run's cluster name). The client adds the namespace to every
//! id it sends and takes it off every id it receives, dropping what comes from other
//! namespaces, so the application only ever sees its own cluster's plain ids.

use super::ClientEvent;

/// Separates a namespace from an id: not allowed in a namespace, allowed in PeerJS ids.
const SEPARATOR: char = '.';

/// Where a client's ids live on the server; see the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespace(Option<String>);

impl Namespace {
    /// Ids as they are: the key is this cluster's alone.
    pub fn none() -> Namespace {
        Namespace(None)
    }

    /// Ids under `name`, which must not contain the separator `.`.
    pub fn new(name: impl Into<String>) -> Namespace {
        Namespace(Some(name.into()))
    }

    /// The namespace's name, if any.
    pub fn name(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// Whether the name can prefix ids: 1-64 characters of `[A-Za-z0-9_-]`.
    pub(crate) fn is_valid(&self) -> bool {
        self.0.as_deref().is_none_or(|n| {
            (1..=64).contains(&n.len())
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
    }

    /// `id` as the server knows it.
    pub(crate) fn outer(&self, id: &str) -> String {
        match &self.0 {
            None => id.to_string(),
            Some(name) => format!("{name}{SEPARATOR}{id}"),
        }
    }

    /// The plain id of `outer`, or `None` when it is another namespace's.
    pub(crate) fn inner(&self, outer: &str) -> Option<String> {
        match &self.0 {
            None => Some(outer.to_string()),
            Some(name) => outer
                .strip_prefix(name.as_str())?
                .strip_prefix(SEPARATOR)
                .filter(|id| !id.is_empty())
                .map(str::to_string),
        }
    }

    /// The plain ids of ours among `outer`, in their order.
    pub(crate) fn members(&self, outer: &[String]) -> Vec<String> {
        outer.iter().filter_map(|id| self.inner(id)).collect()
    }

    /// `event` with plain ids, or `None` when it concerns another namespace.
    pub(crate) fn inward(&self, event: ClientEvent) -> Option<ClientEvent> {
        Some(match event {
            ClientEvent::Relayed { kind, src, payload } => ClientEvent::Relayed {
                kind,
                src: self.inner(&src)?,
                payload,
            },
            ClientEvent::Expired { dst } => ClientEvent::Expired {
                dst: self.inner(&dst)?,
            },
            ClientEvent::PeerJoined(id) => ClientEvent::PeerJoined(self.inner(&id)?),
            ClientEvent::PeerLeft(id) => ClientEvent::PeerLeft(self.inner(&id)?),
            ClientEvent::Peers(ids) => ClientEvent::Peers(self.members(&ids)),
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::protocol::Relay;

    #[test]
    fn without_a_namespace_ids_pass_unchanged() {
        let ns = Namespace::none();
        assert_eq!(ns.outer("n0"), "n0");
        assert_eq!(ns.inner("anything.n0"), Some("anything.n0".into()));
        assert!(ns.is_valid());
    }

    #[test]
    fn ids_go_out_prefixed_and_come_back_plain() {
        let ns = Namespace::new("run-7");
        assert_eq!(ns.outer("n0"), "run-7.n0");
        assert_eq!(ns.inner(&ns.outer("n12")), Some("n12".into()));
    }

    #[test]
    fn another_namespace_is_not_ours_even_when_it_starts_like_ours() {
        let ns = Namespace::new("run-7");
        assert_eq!(ns.inner("run-70.n0"), None);
        assert_eq!(ns.inner("run-8.n0"), None);
        assert_eq!(ns.inner("n0"), None);
        assert_eq!(ns.inner("run-7."), None);
        let ids = ["run-7.n0", "run-70.n1", "peerjs-browser", "run-7.n2"].map(String::from);
        assert_eq!(ns.members(&ids), ["n0", "n2"]);
    }

    #[test]
    fn events_from_other_namespaces_are_dropped_and_ours_made_plain() {
        let ns = Namespace::new("a");
        let relayed = |src: &str| ClientEvent::Relayed {
            kind: Relay::Offer,
            src: src.into(),
            payload: Value::Null,
        };
        assert_eq!(ns.inward(relayed("b.n1")), None);
        assert_eq!(ns.inward(relayed("a.n1")), Some(relayed("n1")));
        assert_eq!(ns.inward(ClientEvent::PeerLeft("b.n1".into())), None);
        assert_eq!(
            ns.inward(ClientEvent::Peers(vec!["a.n1".into(), "b.n1".into()])),
            Some(ClientEvent::Peers(vec!["n1".into()]))
        );
        assert_eq!(
            ns.inward(ClientEvent::Disconnected),
            Some(ClientEvent::Disconnected)
        );
    }

    #[test]
    fn names_that_could_not_be_told_apart_are_invalid() {
        assert!(!Namespace::new("a.b").is_valid());
        assert!(!Namespace::new("").is_valid());
        assert!(!Namespace::new("x".repeat(65)).is_valid());
        assert!(Namespace::new("raftrtc-123-0-k2j4").is_valid());
    }
}
