//! The network-conditions spec: what `--net` and the control socket's `set_net` take.
//!
//! A spec is rules separated by `;`. A rule is an optional scope and `:`, then conditions
//! separated by `,`. Conditions act on a node's *egress*, per destination peer; every node
//! gets the whole spec and applies, to each of its links, the rules whose scope covers it.
//! Later rules override the fields they name, so a default comes first:
//!
//! ```text
//! delay=40ms,jitter=10ms,loss=1%          every link, both ways
//! delay=5ms;n3:down                       every link 5 ms, and n3 cut off (a partition)
//! n0-n1:loss=100%                         the link n0–n1, both ways
//! n0>n1:delay=200ms                       only what n0 sends to n1
//! n0+n1+n2|n3+n4:down                     every link between the two groups (a split)
//! ```
//!
//! Conditions: `delay=D` (fixed one-way delay), `jitter=D` (added to each datagram, drawn
//! from `dist=uniform|normal|pareto`, default uniform over [0, D]), `loss=P%` (independent
//! random loss), `burst=P%/R%[/H%]` (Gilbert-Elliott bursty loss: P = good→bad, R = bad→good
//! per datagram, H = loss in the bad state, default 100%), `dup=P%` (duplicate), `reorder=P%`
//! (send at once, ahead of the delayed ones), `rate=N[k|m|g]bit` (serialisation limit), and
//! `down` (drop everything: a partition). `none` is the empty spec.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Most rules one spec may hold (a spec travels in a control line and a CSV cell).
const MAX_RULES: usize = 64;

/// Longest delay or jitter accepted: more is a typo, not a network.
const MAX_DELAY: Duration = Duration::from_secs(60);

/// A spec that does not parse; the message names the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("network spec: {part:?}: {reason}")]
pub struct SpecError {
    /// The rule or condition at fault, as written.
    pub part: String,
    /// What is wrong with it.
    pub reason: String,
}

fn bad(part: &str, reason: impl Into<String>) -> SpecError {
    SpecError {
        part: part.to_owned(),
        reason: reason.into(),
    }
}

/// How jitter is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum JitterDist {
    /// Uniform over [0, jitter].
    #[default]
    Uniform,
    /// |N(0, jitter)|: mostly small, sometimes a few times larger.
    Normal,
    /// Pareto with shape 3 and mean `jitter`: a long tail of rare large delays.
    Pareto,
}

/// Gilbert-Elliott bursty loss: a two-state chain stepped once per datagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Burst {
    /// Chance of moving from the good to the bad state.
    pub to_bad: f64,
    /// Chance of moving from the bad back to the good state.
    pub to_good: f64,
    /// Chance of losing a datagram while bad.
    pub loss_bad: f64,
}

/// What happens to the datagrams of one direction of one link. The default is a perfect
/// link: nothing is delayed, lost or limited.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Conditions {
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Largest (uniform) or typical (normal, pareto) extra delay.
    pub jitter: Duration,
    /// How jitter is drawn.
    pub dist: JitterDist,
    /// Independent loss probability, 0 to 1.
    pub loss: f64,
    /// Bursty loss, on top of `loss`.
    pub burst: Option<Burst>,
    /// Probability of sending a datagram twice.
    pub duplicate: f64,
    /// Probability of sending a datagram at once, ahead of delayed ones.
    pub reorder: f64,
    /// Serialisation limit in bits per second.
    pub rate_bps: Option<u64>,
    /// Drop everything.
    pub down: bool,
}

impl Conditions {
    /// Whether these leave every datagram alone (the shaping layer then passes them through).
    pub fn is_perfect(&self) -> bool {
        *self == Conditions::default()
    }
}

/// Which links a rule covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// Every link.
    All,
    /// Every link of this node, both directions.
    Node(String),
    /// The link between these two nodes, both directions.
    Link(String, String),
    /// Only what the first node sends to the second.
    Egress(String, String),
    /// Every link between a node of the first group and a node of the second, both
    /// directions: a split of the cluster, where nodes in neither group see both sides.
    Between(Vec<String>, Vec<String>),
}

impl Scope {
    /// Whether the rule applies to what `from` sends to `to`.
    fn covers(&self, from: &str, to: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Node(n) => n == from || n == to,
            Scope::Link(a, b) => (a == from && b == to) || (a == to && b == from),
            Scope::Egress(a, b) => a == from && b == to,
            Scope::Between(a, b) => {
                let has = |group: &[String], id: &str| group.iter().any(|n| n == id);
                (has(a, from) && has(b, to)) || (has(a, to) && has(b, from))
            }
        }
    }
}

/// One rule: a scope and the condition fields it sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Rule {
    scope: Scope,
    /// The fields as written, in order; applied over the defaults or earlier rules.
    fields: Vec<Field>,
}

/// One `key=value` (or `down`) of a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Field {
    Delay(Duration),
    Jitter(Duration),
    Dist(JitterDist),
    Loss(f64),
    Burst(Burst),
    Duplicate(f64),
    Reorder(f64),
    Rate(u64),
    Down,
}

impl Field {
    fn apply(&self, c: &mut Conditions) {
        match *self {
            Field::Delay(d) => c.delay = d,
            Field::Jitter(d) => c.jitter = d,
            Field::Dist(d) => c.dist = d,
            Field::Loss(p) => c.loss = p,
            Field::Burst(b) => c.burst = Some(b),
            Field::Duplicate(p) => c.duplicate = p,
            Field::Reorder(p) => c.reorder = p,
            Field::Rate(r) => c.rate_bps = Some(r),
            Field::Down => c.down = true,
        }
    }
}

/// A parsed spec; its `Display` is the canonical text (what the CSV's `net` column holds).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NetSpec {
    rules: Vec<Rule>,
    /// The text as normalised (whitespace removed), `none` for the empty spec.
    text: String,
}

impl NetSpec {
    /// The spec that changes nothing.
    pub fn none() -> Self {
        NetSpec {
            rules: Vec::new(),
            text: "none".to_owned(),
        }
    }

    /// Whether no rule sets anything.
    pub fn is_none(&self) -> bool {
        self.rules.is_empty()
    }

    /// The conditions of what `from` sends to `to`.
    pub fn conditions(&self, from: &str, to: &str) -> Conditions {
        let mut c = Conditions::default();
        for rule in self.rules.iter().filter(|r| r.scope.covers(from, to)) {
            for field in &rule.fields {
                field.apply(&mut c);
            }
        }
        c
    }
}

impl fmt::Display for NetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for NetSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, SpecError> {
        let text: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        if text.is_empty() || text == "none" {
            return Ok(NetSpec::none());
        }
        let rules = text
            .split(';')
            .filter(|r| !r.is_empty())
            .map(parse_rule)
            .collect::<Result<Vec<_>, _>>()?;
        if rules.len() > MAX_RULES {
            return Err(bad(s, format!("more than {MAX_RULES} rules")));
        }
        Ok(NetSpec { rules, text })
    }
}

impl Serialize for NetSpecText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

/// A [`NetSpec`] carried as its text (in control requests), parsed on arrival.
#[derive(Debug, Clone, PartialEq)]
pub struct NetSpecText(pub NetSpec);

impl<'de> Deserialize<'de> for NetSpecText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map(NetSpecText)
            .map_err(serde::de::Error::custom)
    }
}

fn parse_rule(rule: &str) -> Result<Rule, SpecError> {
    let (scope, conditions) = match rule.split_once(':') {
        Some((scope, rest)) => (parse_scope(scope).map_err(|r| bad(rule, r))?, rest),
        None => (Scope::All, rule),
    };
    if conditions.is_empty() {
        return Err(bad(rule, "no conditions after the scope"));
    }
    let fields = conditions
        .split(',')
        .map(parse_field)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Rule { scope, fields })
}

fn parse_scope(scope: &str) -> Result<Scope, String> {
    let node = |id: &str| -> Result<String, String> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        ok.then(|| id.to_owned())
            .ok_or_else(|| format!("{id:?} is not a node id"))
    };
    if scope == "*" {
        return Ok(Scope::All);
    }
    if let Some((a, b)) = scope.split_once('|') {
        let group = |g: &str| g.split('+').map(node).collect::<Result<Vec<_>, _>>();
        let (a, b) = (group(a)?, group(b)?);
        if let Some(both) = a.iter().find(|n| b.contains(n)) {
            return Err(format!("{both} is on both sides of the split"));
        }
        return Ok(Scope::Between(a, b));
    }
    if let Some((a, b)) = scope.split_once('>') {
        return Ok(Scope::Egress(node(a)?, node(b)?));
    }
    if let Some((a, b)) = scope.split_once('-') {
        return Ok(Scope::Link(node(a)?, node(b)?));
    }
    Ok(Scope::Node(node(scope)?))
}

fn parse_field(field: &str) -> Result<Field, SpecError> {
    let err = |reason: String| bad(field, reason);
    if field == "down" {
        return Ok(Field::Down);
    }
    let (key, value) = field
        .split_once('=')
        .ok_or_else(|| err("expected key=value or `down`".into()))?;
    Ok(match key {
        "delay" => Field::Delay(parse_delay(value).map_err(err)?),
        "jitter" => Field::Jitter(parse_delay(value).map_err(err)?),
        "dist" => Field::Dist(match value {
            "uniform" => JitterDist::Uniform,
            "normal" => JitterDist::Normal,
            "pareto" => JitterDist::Pareto,
            _ => return Err(err("dist is uniform, normal or pareto".into())),
        }),
        "loss" => Field::Loss(parse_percent(value).map_err(err)?),
        "burst" => Field::Burst(parse_burst(value).map_err(err)?),
        "dup" => Field::Duplicate(parse_percent(value).map_err(err)?),
        "reorder" => Field::Reorder(parse_percent(value).map_err(err)?),
        "rate" => Field::Rate(parse_rate(value).map_err(err)?),
        _ => {
            return Err(err(format!(
                "unknown condition {key:?} (delay, jitter, dist, loss, burst, dup, reorder, rate, down)"
            )))
        }
    })
}

/// `40ms`, `1.5ms`, `2s`, `500us`.
fn parse_delay(value: &str) -> Result<Duration, String> {
    let (number, unit) = split_unit(value);
    let scale = match unit {
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        _ => return Err(format!("{value:?} needs a unit: us, ms or s")),
    };
    let seconds = number
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| n * scale)
        .ok_or_else(|| format!("{value:?} is not a duration"))?;
    let d = Duration::from_secs_f64(seconds);
    if d > MAX_DELAY {
        return Err(format!("{value:?} is over {} s", MAX_DELAY.as_secs()));
    }
    Ok(d)
}

/// `1%`, `0.5%`, `100%`: a probability.
fn parse_percent(value: &str) -> Result<f64, String> {
    let number = value
        .strip_suffix('%')
        .ok_or_else(|| format!("{value:?} needs a % sign"))?;
    number
        .parse::<f64>()
        .ok()
        .filter(|p| (0.0..=100.0).contains(p))
        .map(|p| p / 100.0)
        .ok_or_else(|| format!("{value:?} is not a percentage from 0% to 100%"))
}

/// `1%/30%` or `1%/30%/80%`.
fn parse_burst(value: &str) -> Result<Burst, String> {
    let parts: Vec<&str> = value.split('/').collect();
    let (to_bad, to_good, loss_bad) = match parts.as_slice() {
        [p, r] => (parse_percent(p)?, parse_percent(r)?, 1.0),
        [p, r, h] => (parse_percent(p)?, parse_percent(r)?, parse_percent(h)?),
        _ => return Err(format!("{value:?}: burst is P%/R% or P%/R%/H%")),
    };
    if to_good == 0.0 {
        return Err(format!(
            "{value:?}: R (bad to good) of 0% never leaves a burst"
        ));
    }
    Ok(Burst {
        to_bad,
        to_good,
        loss_bad,
    })
}

/// `1mbit`, `512kbit`, `10gbit`, `8000bit`.
fn parse_rate(value: &str) -> Result<u64, String> {
    let (number, unit) = split_unit(value);
    let scale = match unit {
        "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        _ => return Err(format!("{value:?} needs a unit: bit, kbit, mbit or gbit")),
    };
    number
        .parse::<f64>()
        .ok()
        .map(|n| n * scale)
        .filter(|bps| bps.is_finite() && *bps >= 8.0 && *bps <= 1e12)
        .map(|bps| bps as u64)
        .ok_or_else(|| format!("{value:?} is not a rate from 8 bit to 1000 gbit per second"))
}

/// `40ms` → (`40`, `ms`).
fn split_unit(value: &str) -> (&str, &str) {
    let at = value
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(value.len());
    value.split_at(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> NetSpec {
        s.parse().unwrap()
    }

    #[test]
    fn one_rule_applies_to_every_link_both_ways() {
        let s = spec("delay=40ms, jitter=10ms, loss=1%");
        let c = s.conditions("n0", "n1");
        assert_eq!(c.delay, Duration::from_millis(40));
        assert_eq!(c.jitter, Duration::from_millis(10));
        assert!((c.loss - 0.01).abs() < 1e-12);
        assert_eq!(s.conditions("n1", "n0"), c);
        assert_eq!(s.to_string(), "delay=40ms,jitter=10ms,loss=1%");
    }

    #[test]
    fn scopes_pick_their_links_and_later_rules_override_named_fields() {
        let s = spec("delay=5ms;n3:down;n0-n1:loss=100%;n0>n2:delay=200ms");
        assert!(s.conditions("n3", "n0").down && s.conditions("n0", "n3").down);
        assert!(!s.conditions("n0", "n1").down);
        assert_eq!(s.conditions("n1", "n0").loss, 1.0);
        assert_eq!(s.conditions("n0", "n1").delay, Duration::from_millis(5));
        assert_eq!(s.conditions("n0", "n2").delay, Duration::from_millis(200));
        assert_eq!(s.conditions("n2", "n0").delay, Duration::from_millis(5));
        assert!(s.conditions("n1", "n2") == spec("delay=5ms").conditions("a", "b"));
    }

    #[test]
    fn a_split_cuts_only_the_links_between_its_groups() {
        let s = spec("n0+n1|n3+n4:down");
        assert!(s.conditions("n0", "n3").down && s.conditions("n4", "n1").down);
        assert!(!s.conditions("n0", "n1").down, "inside a group");
        assert!(!s.conditions("n3", "n4").down, "inside a group");
        assert!(
            !s.conditions("n2", "n0").down && !s.conditions("n3", "n2").down,
            "n2, in neither group, bridges both sides"
        );
        let e = "n0+n1|n1+n2:down".parse::<NetSpec>().unwrap_err();
        assert!(e.reason.contains("n1 is on both sides"), "{e}");
        assert!("n0+|n1:down".parse::<NetSpec>().is_err());
    }

    #[test]
    fn every_condition_parses_with_its_units() {
        let c = spec("jitter=1.5ms,dist=pareto,burst=1%/30%,dup=2%,reorder=5%,rate=512kbit")
            .conditions("a", "b");
        assert!(
            (c.jitter.as_secs_f64() - 0.0015).abs() < 1e-9,
            "{:?}",
            c.jitter
        );
        assert_eq!(c.dist, JitterDist::Pareto);
        let b = c.burst.unwrap();
        assert!((b.to_bad - 0.01).abs() < 1e-12 && (b.to_good - 0.3).abs() < 1e-12);
        assert_eq!(b.loss_bad, 1.0);
        assert!((c.duplicate - 0.02).abs() < 1e-12 && (c.reorder - 0.05).abs() < 1e-12);
        assert_eq!(c.rate_bps, Some(512_000));
        assert_eq!(
            spec("burst=1%/30%/80%")
                .conditions("a", "b")
                .burst
                .unwrap()
                .loss_bad,
            0.8
        );
    }

    #[test]
    fn none_and_empty_change_nothing() {
        for s in ["", "none", "  "] {
            let s = spec(s);
            assert!(s.is_none() && s.conditions("a", "b").is_perfect());
            assert_eq!(s.to_string(), "none");
        }
    }

    #[test]
    fn bad_specs_name_the_offending_part() {
        for (s, part) in [
            ("delay=40", "delay=40"),
            ("delay=40ms,lost=1%", "lost=1%"),
            ("loss=101%", "loss=101%"),
            ("loss=1", "loss=1"),
            ("jitter=-3ms", "jitter=-3ms"),
            ("delay=2h", "delay=2h"),
            ("delay=99999s", "delay=99999s"),
            ("dist=lognormal", "dist=lognormal"),
            ("burst=1%", "burst=1%"),
            ("burst=1%/0%", "burst=1%/0%"),
            ("rate=fast", "rate=fast"),
            ("n1:", "n1:"),
            ("n 1>:loss=1%", "n1>:loss=1%"),
            ("a/b:loss=1%", "a/b:loss=1%"),
        ] {
            let e = s.parse::<NetSpec>().unwrap_err();
            assert_eq!(e.part, part, "{s}: {e}");
            assert!(e.to_string().contains(part), "{e}");
        }
    }

    #[test]
    fn a_spec_travels_as_its_text() {
        let text: NetSpecText = serde_json::from_str(r#""n0:down""#).unwrap();
        assert!(text.0.conditions("n0", "n1").down);
        assert_eq!(serde_json::to_string(&text).unwrap(), r#""n0:down""#);
        assert!(serde_json::from_str::<NetSpecText>(r#""loss=7""#).is_err());
    }
}
