//! The row schema: one run, one CSV row, its columns defined once by
//! [`Row`]'s fields.
//!
//! The header is what the `csv` crate derives from those fields (see
//! [`columns`]); which columns a file may lack is what serde says: those
//! with `#[serde(default)]` and the `Option` counts, which read as unknown
//! (see [`required_columns`]). So adding a column is adding a field: a
//! column added after files were written gets `#[serde(default)]` and those
//! files still read.
//!
//! Text values are fixed by the enums' serde names, and times are written
//! with exactly three decimals (µs), as every committed CSV has them.

use std::fmt;
use std::sync::OnceLock;

use csv::StringRecord;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::matrix::TestKind;

/// Which launcher ran the nodes.
///
/// Variants are in alphabetical order, like every column enum here:
/// summaries, report sections and plot series are ordered by them, and were
/// ordered by these names when they were strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Launcher {
    /// One Docker container per node.
    Docker,
    /// One child process of the bench per node.
    Process,
    /// One swarm service per node.
    Swarm,
}

/// How the leader paced replication (the nodes' `--replication`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Replication {
    /// Raft.js's pacing: entries and commits go out on heartbeats.
    Heartbeat,
    /// Entries are sent as soon as they are appended.
    Immediate,
}

/// The settings preset the bench ran with (`--profile`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// This implementation's settings.
    #[default]
    Default,
    /// The Dec 2015 papers' settings.
    Paper,
}

/// How the cluster came up (`--start`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    /// Timed from the first node's launch; nodes ran Raft from launch.
    Cold,
    /// Mesh formed first, timed from Raft's start on all nodes. Files written
    /// before the column existed were all warm, so a missing value reads so.
    #[default]
    Warm,
}

/// Which signaling server the nodes met through (`--signaling-url`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Signaling {
    /// The server the bench started inside itself, a key per run, presence pushed. Files
    /// written before the column existed all used it, so a missing value reads so.
    #[default]
    Embedded,
    /// A stock PeerJS server (the official `peer`) at the URL: one shared key, presence
    /// polled.
    Peerjs,
    /// A `raftrtc signaling` server at the URL, used as a stock one would be.
    Raftrtc,
}

/// How a run ended: the one outcome type, from the experiment to the CSV.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The run could not be carried out (launch failure, crash, ...); the
    /// `error` column says why.
    #[default]
    Error,
    /// The test's condition was reached and the safety check passed.
    Ok,
    /// The per-run timeout expired first.
    Timeout,
    /// The safety check found a violated property.
    Unsafe,
}

impl Outcome {
    /// Whether the run succeeded.
    pub fn is_ok(self) -> bool {
        self == Outcome::Ok
    }
}

/// Displays a column enum as the CSV spells it: its serde name, so each
/// spelling is written once, in the `rename_all` above.
macro_rules! display_as_in_csv {
    ($($ty:ty),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match serde_json::to_value(self) {
                    Ok(serde_json::Value::String(name)) => f.write_str(&name),
                    _ => Err(fmt::Error),
                }
            }
        }
    )*};
}

display_as_in_csv!(Launcher, Replication, Profile, Start, Signaling, Outcome);

/// One run: one CSV row. The fields are the columns, in the order written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The experiment, named as [`TestKind::name`] names it.
    #[serde(with = "test_column")]
    pub test: TestKind,
    /// What ran the nodes.
    pub launcher: Launcher,
    /// Cluster size.
    pub nodes: usize,
    /// Election timeout (timers drawn from [ET, 2ET)).
    pub election_timeout_ms: u64,
    /// Heartbeat interval.
    pub heartbeat_ms: u64,
    /// The leader's pacing.
    pub replication: Replication,
    /// Repetition number within its matrix cell.
    pub run: u32,
    /// The seed the run's randomness came from.
    pub seed: u64,
    /// How many nodes were killed.
    pub killed: usize,
    /// How many messages were submitted.
    pub messages: u32,
    /// How the run ended.
    pub outcome: Outcome,
    /// The time the test measures, in ms (µs precision); `None` if unknown.
    #[serde(with = "millis")]
    pub duration_ms: Option<f64>,
    /// The cluster's up time in this run, in ms; `None` if it never came up.
    #[serde(with = "millis")]
    pub up_ms: Option<f64>,
    /// From the up's t0 until every node ran with its control socket
    /// answering (cold starts; empty when that preceded t0).
    #[serde(default, with = "millis")]
    pub launched_ms: Option<f64>,
    /// From t0 until every node was connected to signaling.
    #[serde(default, with = "millis")]
    pub signaling_ms: Option<f64>,
    /// From t0 until all N(N-1)/2 links were open, if before the cluster was up.
    #[serde(default, with = "millis")]
    pub mesh_ms: Option<f64>,
    /// From t0 until the cluster was up (the up time).
    #[serde(default, with = "millis")]
    pub raft_ms: Option<f64>,
    /// `pause_leader`, `isolate_leader`: from lifting the fault until the whole cluster,
    /// the old leader included, followed the new leader with every acknowledged line.
    #[serde(default, with = "millis")]
    pub rejoin_ms: Option<f64>,
    /// Elections seen during the run.
    pub elections: Option<u64>,
    /// The term at the end of the run.
    pub final_term: Option<u64>,
    /// The safety check's verdict (which properties held or failed).
    pub properties: String,
    /// The raftrtc version that ran it.
    pub version: String,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// The settings preset.
    #[serde(default, deserialize_with = "empty_as_default")]
    pub profile: Profile,
    /// How the cluster came up (missing: `warm`).
    #[serde(default, deserialize_with = "empty_as_default")]
    pub start: Start,
    /// The network conditions (`--net`, as the node's canonical text); `none` for the
    /// machine's own network, which is also what a file from before the column holds.
    #[serde(default = "no_net", deserialize_with = "net_text")]
    pub net: String,
    /// The signaling server the nodes met through.
    #[serde(default, deserialize_with = "empty_as_default")]
    pub signaling: Signaling,
    /// What went wrong, if anything.
    #[serde(default)]
    pub error: String,
    /// Where the run's node logs were kept, if they were.
    #[serde(default)]
    pub logs: String,
}

impl Default for Row {
    /// A row that never ran: test `up`, outcome `error`, zeros and empty
    /// text elsewhere.
    fn default() -> Self {
        Row {
            test: TestKind::Up,
            launcher: Launcher::Process,
            nodes: 0,
            election_timeout_ms: 0,
            heartbeat_ms: 0,
            replication: Replication::Immediate,
            run: 0,
            seed: 0,
            killed: 0,
            messages: 0,
            outcome: Outcome::default(),
            duration_ms: None,
            up_ms: None,
            launched_ms: None,
            signaling_ms: None,
            mesh_ms: None,
            raft_ms: None,
            rejoin_ms: None,
            elections: None,
            final_term: None,
            properties: String::new(),
            version: String::new(),
            started_at: String::new(),
            profile: Profile::default(),
            start: Start::default(),
            net: no_net(),
            signaling: Signaling::default(),
            error: String::new(),
            logs: String::new(),
        }
    }
}

/// The header: every column in the order written, as the `csv` crate names
/// [`Row`]'s fields.
pub fn columns() -> &'static StringRecord {
    &default_record().0
}

/// [`Row::default`] as the `csv` crate writes it: header and values.
pub(super) fn default_record() -> &'static (StringRecord, StringRecord) {
    static RECORD: OnceLock<(StringRecord, StringRecord)> = OnceLock::new();
    RECORD.get_or_init(record_of::<Row>)
}

/// The header and values the `csv` crate writes for `R::default()`: a row type's columns,
/// defined by its fields.
pub fn record_of<R: Serialize + Default>() -> (StringRecord, StringRecord) {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing a plain struct into memory has no way to fail.
    writer
        .serialize(R::default())
        .expect("a row serializes to CSV");
    let bytes = writer.into_inner().expect("writing to memory cannot fail");
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let mut values = StringRecord::new();
    reader
        .read_record(&mut values)
        .expect("the row csv just wrote reads back");
    let header = reader.headers().expect("the header csv just wrote").clone();
    (header, values)
}

impl super::writer::CsvRecord for Row {
    fn columns() -> &'static StringRecord {
        columns()
    }
}

/// The columns a file must have to be read: those serde cannot do without
/// (no `#[serde(default)]`, not an `Option`). Found by leaving each column
/// out of a valid row in turn and seeing whether it still reads.
pub fn required_columns() -> &'static [String] {
    static REQUIRED: OnceLock<Vec<String>> = OnceLock::new();
    REQUIRED.get_or_init(|| {
        let (header, values) = default_record();
        let without = |record: &StringRecord, skip: usize| -> StringRecord {
            record
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != skip)
                .map(|(_, v)| v)
                .collect()
        };
        (0..header.len())
            .filter(|&i| {
                let (h, v) = (without(header, i), without(values, i));
                v.deserialize::<Row>(Some(&h)).is_err()
            })
            .map(|i| header[i].to_string())
            .collect()
    })
}

/// A column added after files were written: missing or empty reads as the
/// default.
/// The `net` of a row that names none.
fn no_net() -> String {
    "none".to_owned()
}

/// An empty `net` cell is the machine's own network, as a missing column is.
fn net_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
    Ok(if text.is_empty() { no_net() } else { text })
}

fn empty_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// The `test` column: a [`TestKind`] by its name.
pub(crate) mod test_column {
    use super::*;

    /// Writes the test's name.
    pub fn serialize<S: Serializer>(test: &TestKind, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(test)
    }

    /// Reads a test's name back.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<TestKind, D::Error> {
        let name = <&str>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// A time column: milliseconds with three decimals, empty when unknown.
mod millis {
    use super::*;

    pub fn serialize<S: Serializer>(ms: &Option<f64>, serializer: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(v) if v.is_finite() => serializer.collect_str(&format_args!("{v:.3}")),
            _ => serializer.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<f64>, D::Error> {
        let text = <&str>::deserialize(deserializer)?;
        if text.is_empty() {
            return Ok(None);
        }
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
            _ => Err(serde::de::Error::custom(format!(
                "\"{text}\" is not a number of milliseconds"
            ))),
        }
    }
}

/// One run's row, for the unit tests of the modules that read rows: `test`
/// at `nodes` x `et`, with `ms` as both the measured and the up time.
#[cfg(test)]
pub fn test_row(test: &str, nodes: usize, et: u64, outcome: Outcome, ms: Option<f64>) -> Row {
    Row {
        test: test.parse().expect("a test name"),
        launcher: Launcher::Process,
        nodes,
        election_timeout_ms: et,
        heartbeat_ms: et / 5,
        replication: Replication::Immediate,
        outcome,
        duration_ms: ms,
        up_ms: ms,
        profile: Profile::Default,
        version: "0.1.0".to_string(),
        started_at: "2026-01-01T00:00:00Z".to_string(),
        ..Row::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_every_committed_csv_s_plus_the_start_its_phases_the_net_rejoin_and_signaling()
    {
        let header: Vec<&str> = columns().iter().collect();
        assert_eq!(
            header.join(","),
            "test,launcher,nodes,election_timeout_ms,heartbeat_ms,replication,run,seed,\
             killed,messages,outcome,duration_ms,up_ms,launched_ms,signaling_ms,mesh_ms,\
             raft_ms,rejoin_ms,elections,final_term,properties,version,started_at,profile,\
             start,net,signaling,error,logs"
        );
    }

    #[test]
    fn only_columns_added_later_or_unknown_counts_may_be_missing() {
        let required = required_columns();
        let optional = [
            "launched_ms",
            "signaling_ms",
            "mesh_ms",
            "raft_ms",
            "rejoin_ms",
            "elections",
            "final_term",
            "profile",
            "start",
            "net",
            "signaling",
            "error",
            "logs",
        ];
        assert_eq!(required.len(), columns().len() - optional.len());
        for optional in optional {
            assert!(!required.iter().any(|c| c == optional), "{optional}");
        }
        assert!(required.iter().any(|c| c == "test"));
        assert!(required.iter().any(|c| c == "started_at"));
    }

    #[test]
    fn enum_values_spell_as_in_the_csv() {
        for (value, name) in [
            (Outcome::Ok, "ok"),
            (Outcome::Timeout, "timeout"),
            (Outcome::Error, "error"),
            (Outcome::Unsafe, "unsafe"),
        ] {
            assert_eq!(value.to_string(), name);
            let back: Outcome =
                serde_json::from_value(serde_json::Value::String(name.into())).unwrap();
            assert_eq!(back, value);
        }
        assert_eq!(Launcher::Docker.to_string(), "docker");
        assert_eq!(Replication::Heartbeat.to_string(), "heartbeat");
        assert_eq!(Profile::Paper.to_string(), "paper");
        assert_eq!(Start::Cold.to_string(), "cold");
        assert!(Outcome::Ok.is_ok());
        assert!(!Outcome::Unsafe.is_ok());
    }

    #[test]
    fn setups_order_by_name_as_they_did_as_text() {
        assert!(Launcher::Docker < Launcher::Process);
        assert!(Replication::Heartbeat < Replication::Immediate);
        assert!(Profile::Default < Profile::Paper);
        assert!(Start::Cold < Start::Warm);
    }
}
