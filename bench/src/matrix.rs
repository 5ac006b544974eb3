//! List flags (`--nodes 3,5,9..21:4`, `--election-timeout 100,250`,
//! `--messages 1,100`, `--kill leader`) and the run matrix they make.
//!
//! The papers measured every cluster size at every election timeout, seven
//! runs each; a benchmark that reproduces them needs the same matrix from one
//! short flag. The parsers here are plain functions returning `String`
//! errors so clap can use them as `value_parser`s and print the message as a
//! usage error (exit status 2). Lists keep the order the user gave and drop
//! repeats, so `--nodes 5,3,5` runs 5 then 3.
//!
//! With clap derive, a parser returning a `Vec` needs the field type spelled
//! `std::vec::Vec<usize>` (clap otherwise treats `Vec` as "flag given many
//! times"), and `allow_hyphen_values = true` so `--election-timeout -5`
//! reaches the parser and gets its plain message instead of clap's
//! "unexpected argument". The test `the_parsers_work_as_clap_value_parsers`
//! pins both.

use std::fmt;
use std::str::FromStr;

/// Largest cluster size accepted by `--nodes`.
pub const MAX_NODES: usize = 256;

/// Largest election timeout accepted by `--election-timeout`, in ms (10 min).
pub const MAX_ELECTION_TIMEOUT_MS: u64 = 600_000;

/// Most messages one propagate test may submit.
pub const MAX_MESSAGES: u32 = 100_000;

/// Most entries one list may expand to (guards `1..600000` against running
/// the machine out of memory before the matrix even starts).
pub const MAX_LIST_LEN: usize = 1024;

/// What one list flag holds: how to name one item in messages, and its bounds.
struct ListKind {
    /// One item with its article, e.g. "a cluster size".
    a_what: &'static str,
    /// The plural used in range messages, e.g. "cluster sizes".
    plural: &'static str,
    /// The unit shown after numbers in bound messages ("" or " ms").
    unit: &'static str,
    min: u64,
    max: u64,
}

const SIZES: ListKind = ListKind {
    a_what: "a cluster size",
    plural: "cluster sizes",
    unit: "",
    min: 1,
    max: MAX_NODES as u64,
};

const TIMEOUTS: ListKind = ListKind {
    a_what: "an election timeout in milliseconds",
    plural: "election timeouts",
    unit: " ms",
    min: 1,
    max: MAX_ELECTION_TIMEOUT_MS,
};

const MESSAGES: ListKind = ListKind {
    a_what: "a message count",
    plural: "message counts",
    unit: "",
    min: 1,
    max: MAX_MESSAGES as u64,
};

/// Parses `--nodes`: `3,5,7`, `3..21` (inclusive, step 1), `3..21:2` (step
/// 2) or any comma-separated mix such as `3,5,9..21:4`.
///
/// Sizes are 1 to [`MAX_NODES`]; repeats are dropped, the first occurrence
/// keeps its place. A range whose step overshoots its end stops before it
/// (`3..10:4` is 3, 7).
pub fn parse_sizes(s: &str) -> Result<Vec<usize>, String> {
    // Bounded by MAX_NODES, so the narrowing is lossless on every target.
    Ok(parse_list(s, &SIZES)?
        .into_iter()
        .map(|n| n as usize)
        .collect())
}

/// Parses `--election-timeout`: milliseconds, as a list or ranges like
/// [`parse_sizes`] (`100,250,1000` or `100..1000:100`).
pub fn parse_timeouts_ms(s: &str) -> Result<Vec<u64>, String> {
    parse_list(s, &TIMEOUTS)
}

/// Parses `--messages`: how many entries each propagate run submits
/// (`1,100`), 1 to [`MAX_MESSAGES`].
pub fn parse_messages(s: &str) -> Result<Vec<u32>, String> {
    // Bounded by MAX_MESSAGES, so the narrowing is lossless.
    Ok(parse_list(s, &MESSAGES)?
        .into_iter()
        .map(|n| n as u32)
        .collect())
}

/// Parses `--kill`: `leader`, `half`, how many nodes to kill (the leader first, then
/// others), e.g. `2`, or a fault other than a kill: `pause-leader`, `isolate-leader`,
/// `restart-all`.
pub fn parse_kill(s: &str) -> Result<TestKind, String> {
    match s.trim() {
        "leader" => Ok(TestKind::KillLeader),
        "half" => Ok(TestKind::KillHalf),
        "pause-leader" => Ok(TestKind::PauseLeader),
        "isolate-leader" => Ok(TestKind::IsolateLeader),
        "restart-all" => Ok(TestKind::RestartAll),
        other => match parse_number(other, "a number of nodes to kill", "kill counts")? {
            0 => Err(
                "--kill 0 kills nothing: give leader, half, a count of at least 1, \
                      pause-leader, isolate-leader or restart-all"
                    .into(),
            ),
            n => u32::try_from(n)
                .map(TestKind::KillCount)
                .map_err(|_| format!("`{other}` is too many nodes to kill")),
        },
    }
}

/// Parses a comma-separated list of numbers and ranges, checks every value
/// against `kind`'s bounds, and drops repeats keeping first occurrences.
fn parse_list(s: &str, kind: &ListKind) -> Result<Vec<u64>, String> {
    if s.trim().is_empty() {
        return Err(format!(
            "the list is empty: give one or more {}",
            kind.plural
        ));
    }
    let mut out: Vec<u64> = Vec::new();
    for item in s.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(format!(
                "`{s}` has an empty item: separate values with single commas"
            ));
        }
        for value in parse_item(item, kind)? {
            if !out.contains(&value) {
                if out.len() == MAX_LIST_LEN {
                    return Err(format!(
                        "`{s}` has more than {MAX_LIST_LEN} values; use a larger range step"
                    ));
                }
                out.push(value);
            }
        }
    }
    Ok(out)
}

/// Parses one list item: `N`, `A..B` or `A..B:STEP`.
fn parse_item(item: &str, kind: &ListKind) -> Result<Vec<u64>, String> {
    let Some((start, rest)) = item.split_once("..") else {
        return Ok(vec![check_bounds(
            parse_number(item, kind.a_what, kind.plural)?,
            kind,
        )?]);
    };
    let (end, step) = match rest.split_once(':') {
        Some((end, step)) => (end, Some(step)),
        None => (rest, None),
    };
    let start = check_bounds(parse_number(start.trim(), kind.a_what, kind.plural)?, kind)?;
    let end = check_bounds(parse_number(end.trim(), kind.a_what, kind.plural)?, kind)?;
    let step = match step {
        Some(step) => parse_number(step.trim(), "a range step", "range steps")?,
        None => 1,
    };
    if step == 0 {
        return Err(format!("`{item}`: the range step must be at least 1"));
    }
    if end < start {
        return Err(format!(
            "`{item}`: the range ends ({end}) before it starts ({start}); write it low..high"
        ));
    }
    let count = (end - start) / step + 1;
    if count > MAX_LIST_LEN as u64 {
        return Err(format!(
            "`{item}` expands to {count} values, more than {MAX_LIST_LEN}; use a larger step"
        ));
    }
    Ok((0..count).map(|i| start + i * step).collect())
}

/// Parses a whole number made of ASCII digits only, with messages for the
/// usual mistakes (negative, fractional, not a number at all, too large).
/// `a_what` names one value with its article ("a cluster size"), `plural`
/// several ("cluster sizes").
fn parse_number(s: &str, a_what: &str, plural: &str) -> Result<u64, String> {
    if s.is_empty() {
        return Err(format!("{a_what} is missing (empty value)"));
    }
    if let Some(rest) = s.strip_prefix('-') {
        if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(format!("`{s}` is negative: {plural} must be positive"));
        }
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') && s.contains('.') {
            return Err(format!("`{s}` is not {a_what}: give a whole number"));
        }
        return Err(format!("`{s}` is not {a_what}"));
    }
    s.parse::<u64>()
        .map_err(|_| format!("`{s}` is too large for {a_what}"))
}

fn check_bounds(value: u64, kind: &ListKind) -> Result<u64, String> {
    if value < kind.min {
        return Err(format!(
            "`{value}`: {} must be at least {}{}",
            kind.plural, kind.min, kind.unit
        ));
    }
    if value > kind.max {
        return Err(format!(
            "`{value}`: {} must be at most {}{}",
            kind.plural, kind.max, kind.unit
        ));
    }
    Ok(value)
}

/// One experiment of the papers, as named in the CSV's `test` column.
///
/// The derived order (up, kill leader, kill half, kill N, propagate M) is
/// the order summaries and reports list tests in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TestKind {
    /// Start N paused nodes, start Raft on all; time to one leader and full
    /// membership everywhere.
    Up,
    /// Kill the leader; time to a new leader with the survivors' membership.
    KillLeader,
    /// Kill the leader and others, floor((N-1)/2) nodes in all.
    KillHalf,
    /// Kill this many nodes, the leader first.
    KillCount(u32),
    /// Pause the leader (SIGSTOP, `docker pause`); time until the others follow a new
    /// leader; then resume it, and time until it follows too, with every line the cluster
    /// acknowledged before the pause.
    PauseLeader,
    /// Cut the leader off every link (a partition through the link conditions); timed as
    /// [`TestKind::PauseLeader`], the heal in place of the resume.
    IsolateLeader,
    /// SIGKILL every node, restart all from their data directories; time from the first
    /// restart until the cluster is up again with every acknowledged line.
    RestartAll,
    /// Submit this many entries at a follower; time until applied everywhere.
    Propagate(u32),
}

impl TestKind {
    /// The name in the CSV's `test` column: `up`, `kill_leader`,
    /// `kill_half`, `kill_<n>`, `propagate_<m>`.
    pub fn name(&self) -> String {
        match self {
            TestKind::Up => "up".to_string(),
            TestKind::KillLeader => "kill_leader".to_string(),
            TestKind::KillHalf => "kill_half".to_string(),
            TestKind::KillCount(n) => format!("kill_{n}"),
            TestKind::PauseLeader => "pause_leader".to_string(),
            TestKind::IsolateLeader => "isolate_leader".to_string(),
            TestKind::RestartAll => "restart_all".to_string(),
            TestKind::Propagate(m) => format!("propagate_{m}"),
        }
    }

    /// Whether this is one of `kill`'s tests (`--kill`), which need a majority to survive
    /// the fault.
    pub fn is_fault(&self) -> bool {
        !matches!(self, TestKind::Up | TestKind::Propagate(_))
    }

    /// Whether the nodes need data directories (they are restarted).
    pub fn restarts(&self) -> bool {
        *self == TestKind::RestartAll
    }

    /// How many nodes this test kills in a cluster of `nodes` (the CSV's
    /// `killed` column); 0 for tests that kill nothing.
    pub fn killed(&self, nodes: usize) -> usize {
        match self {
            TestKind::Up
            | TestKind::Propagate(_)
            | TestKind::PauseLeader
            | TestKind::IsolateLeader => 0,
            TestKind::KillLeader => 1,
            TestKind::RestartAll => nodes,
            TestKind::KillHalf => nodes.saturating_sub(1) / 2,
            TestKind::KillCount(n) => *n as usize,
        }
    }

    /// How many messages this test submits (the CSV's `messages` column).
    pub fn messages(&self) -> u32 {
        match self {
            TestKind::Propagate(m) => *m,
            _ => 0,
        }
    }
}

impl fmt::Display for TestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for TestKind {
    type Err = String;

    /// Parses a CSV test name back; the inverse of [`TestKind::name`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let count = |digits: &str| -> Option<u32> {
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                digits.parse().ok()
            } else {
                None
            }
        };
        match s {
            "up" => return Ok(TestKind::Up),
            "kill_leader" => return Ok(TestKind::KillLeader),
            "kill_half" => return Ok(TestKind::KillHalf),
            "pause_leader" => return Ok(TestKind::PauseLeader),
            "isolate_leader" => return Ok(TestKind::IsolateLeader),
            "restart_all" => return Ok(TestKind::RestartAll),
            _ => {}
        }
        if let Some(n) = s.strip_prefix("kill_").and_then(count) {
            return Ok(TestKind::KillCount(n));
        }
        if let Some(m) = s.strip_prefix("propagate_").and_then(count) {
            return Ok(TestKind::Propagate(m));
        }
        Err(format!(
            "`{s}` is not a test (expected up, kill_leader, kill_half, kill_<n>, pause_leader, \
             isolate_leader, restart_all or propagate_<m>)"
        ))
    }
}

/// One run of the matrix: which test, on how many nodes, with which election
/// timeout, and which repetition (1-based: run 1 of `runs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSpec {
    /// The experiment.
    pub test: TestKind,
    /// Cluster size.
    pub nodes: usize,
    /// Election timeout; timers are drawn from [ET, 2ET).
    pub election_timeout_ms: u64,
    /// Repetition number, 1 to `runs`.
    pub run: u32,
}

/// The whole matrix a command asked for: every test x size x timeout x run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Tests, in the order they run.
    pub tests: Vec<TestKind>,
    /// Cluster sizes, in the order they run.
    pub sizes: Vec<usize>,
    /// Election timeouts in ms, in the order they run.
    pub timeouts_ms: Vec<u64>,
    /// Repetitions of each combination.
    pub runs: u32,
}

impl Plan {
    /// How many runs the plan holds, without building them (saturates
    /// rather than overflowing).
    pub fn len(&self) -> usize {
        [
            self.tests.len(),
            self.sizes.len(),
            self.timeouts_ms.len(),
            self.runs as usize,
        ]
        .iter()
        .fold(1usize, |acc, n| acc.saturating_mul(*n))
    }

    /// Whether the plan has no run at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every run, test-major: all of the first test's sizes (each size at
    /// every timeout, `runs` times) before the second test starts.
    pub fn specs(&self) -> Vec<RunSpec> {
        self.tests
            .iter()
            .flat_map(|&test| {
                plan(&self.sizes, &self.timeouts_ms, self.runs)
                    .into_iter()
                    .map(move |spec| RunSpec { test, ..spec })
            })
            .collect()
    }
}

impl Plan {
    /// The same runs in rounds: run 1 of every cell, then run 2 of every cell, and so on.
    /// A slow minute on a shared machine then lands on every cell a little instead of on one
    /// cell whole, which is what a comparison with a baseline needs.
    pub fn rounds(&self) -> Vec<RunSpec> {
        let mut specs = self.specs();
        specs.sort_by_key(|s| s.run); // stable: cells keep their order within a round
        specs
    }
}

/// Every size x timeout x run of one test, size-major, then timeout, then
/// run (1-based); `test` is [`TestKind::Up`] for the caller to replace.
pub fn plan(sizes: &[usize], timeouts_ms: &[u64], runs: u32) -> Vec<RunSpec> {
    let mut specs = Vec::new();
    for &nodes in sizes {
        for &election_timeout_ms in timeouts_ms {
            for run in 1..=runs {
                specs.push(RunSpec {
                    test: TestKind::Up,
                    nodes,
                    election_timeout_ms,
                    run,
                });
            }
        }
    }
    specs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_lists_ranges_and_mixes() {
        assert_eq!(parse_sizes("3,5,7"), Ok(vec![3, 5, 7]));
        assert_eq!(parse_sizes("3..9"), Ok(vec![3, 4, 5, 6, 7, 8, 9]));
        assert_eq!(
            parse_sizes("3..21:2"),
            Ok(vec![3, 5, 7, 9, 11, 13, 15, 17, 19, 21])
        );
        assert_eq!(parse_sizes("3,5,9..21:4"), Ok(vec![3, 5, 9, 13, 17, 21]));
        assert_eq!(parse_sizes(" 3 , 5 "), Ok(vec![3, 5]));
        assert_eq!(parse_sizes("7"), Ok(vec![7]));
        assert_eq!(parse_sizes("5..5"), Ok(vec![5]));
    }

    #[test]
    fn a_range_whose_step_overshoots_stops_before_its_end() {
        assert_eq!(parse_sizes("3..10:4"), Ok(vec![3, 7]));
    }

    #[test]
    fn repeats_are_dropped_keeping_first_positions() {
        assert_eq!(parse_sizes("5,3,5,3..7:2"), Ok(vec![5, 3, 7]));
        assert_eq!(parse_timeouts_ms("250,100,250"), Ok(vec![250, 100]));
    }

    #[test]
    fn size_zero_is_refused_plainly() {
        let e = parse_sizes("0").unwrap_err();
        assert!(e.contains("at least 1"), "{e}");
        assert!(parse_sizes("0..5").unwrap_err().contains("at least 1"));
    }

    #[test]
    fn non_numbers_are_refused_naming_the_value() {
        assert_eq!(
            parse_sizes("abc").unwrap_err(),
            "`abc` is not a cluster size"
        );
        assert!(parse_sizes("3,x").unwrap_err().contains("`x`"));
        assert!(parse_sizes("+3").is_err());
        assert!(parse_sizes("3.5")
            .unwrap_err()
            .contains("give a whole number"));
        assert!(parse_sizes("3..").is_err());
        assert!(parse_sizes("..5").is_err());
        assert!(parse_sizes("3..9:").is_err());
        assert!(parse_sizes("3..9:x").is_err());
        assert!(parse_sizes("3...9").is_err());
    }

    #[test]
    fn negative_numbers_are_refused_plainly() {
        assert_eq!(
            parse_timeouts_ms("-5").unwrap_err(),
            "`-5` is negative: election timeouts must be positive"
        );
        assert!(parse_sizes("-3").unwrap_err().contains("negative"));
        assert!(parse_sizes("3..-5").unwrap_err().contains("negative"));
    }

    #[test]
    fn empty_lists_and_items_are_refused() {
        assert!(parse_sizes("").unwrap_err().contains("empty"));
        assert!(parse_sizes("  ").unwrap_err().contains("empty"));
        assert!(parse_sizes("3,,5").unwrap_err().contains("empty item"));
        assert!(parse_sizes("3,").unwrap_err().contains("empty item"));
        assert!(parse_messages("").unwrap_err().contains("empty"));
    }

    #[test]
    fn step_zero_is_refused() {
        assert!(parse_sizes("3..9:0").unwrap_err().contains("step"));
    }

    #[test]
    fn a_range_ending_before_it_starts_is_refused() {
        let e = parse_sizes("21..3").unwrap_err();
        assert!(e.contains("before it starts"), "{e}");
    }

    #[test]
    fn sizes_above_the_maximum_are_refused() {
        assert_eq!(parse_sizes("256"), Ok(vec![256]));
        assert!(parse_sizes("257").unwrap_err().contains("at most 256"));
        assert!(parse_sizes("3..1000").unwrap_err().contains("at most 256"));
        assert!(parse_sizes("99999999999999999999999")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn huge_expansions_are_refused_before_allocating() {
        let e = parse_timeouts_ms("1..600000").unwrap_err();
        assert!(e.contains("more than 1024"), "{e}");
        assert_eq!(
            parse_timeouts_ms("100..1000:300"),
            Ok(vec![100, 400, 700, 1000])
        );
    }

    #[test]
    fn timeouts_and_messages_parse_with_their_own_bounds() {
        assert_eq!(parse_timeouts_ms("100,250,1000"), Ok(vec![100, 250, 1000]));
        assert!(parse_timeouts_ms("0")
            .unwrap_err()
            .contains("at least 1 ms"));
        assert!(parse_timeouts_ms("600001").is_err());
        assert_eq!(parse_messages("1,100"), Ok(vec![1, 100]));
        assert!(parse_messages("0").is_err());
        assert!(parse_messages("100001").is_err());
    }

    #[test]
    fn kill_accepts_leader_half_or_a_count() {
        assert_eq!(parse_kill("leader"), Ok(TestKind::KillLeader));
        assert_eq!(parse_kill("half"), Ok(TestKind::KillHalf));
        assert_eq!(parse_kill("2"), Ok(TestKind::KillCount(2)));
        assert_eq!(parse_kill("pause-leader"), Ok(TestKind::PauseLeader));
        assert_eq!(parse_kill("isolate-leader"), Ok(TestKind::IsolateLeader));
        assert_eq!(parse_kill("restart-all"), Ok(TestKind::RestartAll));
        assert!(parse_kill("0").is_err());
        assert!(parse_kill("all").is_err());
        assert!(parse_kill("-1").unwrap_err().contains("negative"));
    }

    #[test]
    fn test_names_match_the_csv_and_parse_back() {
        let kinds = [
            (TestKind::Up, "up"),
            (TestKind::KillLeader, "kill_leader"),
            (TestKind::KillHalf, "kill_half"),
            (TestKind::KillCount(3), "kill_3"),
            (TestKind::PauseLeader, "pause_leader"),
            (TestKind::IsolateLeader, "isolate_leader"),
            (TestKind::RestartAll, "restart_all"),
            (TestKind::Propagate(1), "propagate_1"),
            (TestKind::Propagate(100), "propagate_100"),
        ];
        for (kind, name) in kinds {
            assert_eq!(kind.name(), name);
            assert_eq!(kind.to_string(), name);
            assert_eq!(name.parse::<TestKind>(), Ok(kind));
        }
        assert!("kill_".parse::<TestKind>().is_err());
        assert!("propagate_x".parse::<TestKind>().is_err());
        assert!("down".parse::<TestKind>().is_err());
    }

    #[test]
    fn killed_and_messages_follow_the_papers() {
        assert_eq!(TestKind::KillHalf.killed(21), 10);
        assert_eq!(TestKind::KillHalf.killed(4), 1);
        assert_eq!(TestKind::KillHalf.killed(1), 0);
        assert_eq!(TestKind::KillLeader.killed(5), 1);
        assert_eq!(TestKind::KillCount(2).killed(5), 2);
        assert_eq!(TestKind::Up.killed(5), 0);
        assert_eq!(TestKind::PauseLeader.killed(5), 0, "paused, not killed");
        assert_eq!(TestKind::RestartAll.killed(5), 5);
        assert_eq!(TestKind::Propagate(100).messages(), 100);
        assert_eq!(TestKind::Up.messages(), 0);
    }

    #[test]
    fn plan_covers_every_size_timeout_and_run_in_order() {
        let specs = plan(&[3, 5], &[100, 250], 2);
        let got: Vec<_> = specs
            .iter()
            .map(|s| (s.nodes, s.election_timeout_ms, s.run))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, 100, 1),
                (3, 100, 2),
                (3, 250, 1),
                (3, 250, 2),
                (5, 100, 1),
                (5, 100, 2),
                (5, 250, 1),
                (5, 250, 2),
            ]
        );
        assert!(specs.iter().all(|s| s.test == TestKind::Up));
        assert!(plan(&[3], &[100], 0).is_empty());
    }

    #[test]
    fn a_plan_runs_each_test_over_the_whole_matrix() {
        let p = Plan {
            tests: vec![TestKind::Up, TestKind::Propagate(100)],
            sizes: vec![3, 5],
            timeouts_ms: vec![250],
            runs: 3,
        };
        let specs = p.specs();
        assert_eq!(specs.len(), 12);
        assert_eq!(p.len(), 12);
        assert!(!p.is_empty());
        assert!(specs[..6].iter().all(|s| s.test == TestKind::Up));
        assert!(specs[6..]
            .iter()
            .all(|s| s.test == TestKind::Propagate(100)));
        assert_eq!(specs[6].nodes, 3);
        assert_eq!(specs[6].run, 1);
    }

    #[test]
    fn rounds_hold_the_same_runs_with_every_cell_once_per_round() {
        let p = Plan {
            tests: vec![TestKind::Up, TestKind::KillLeader],
            sizes: vec![3, 5],
            timeouts_ms: vec![250],
            runs: 3,
        };
        let rounds = p.rounds();
        let mut sorted_rounds = rounds.clone();
        let mut specs = p.specs();
        let key = |s: &RunSpec| (s.test.to_string(), s.nodes, s.run);
        sorted_rounds.sort_by_key(key);
        specs.sort_by_key(key);
        assert_eq!(sorted_rounds, specs);
        for (r, round) in rounds.chunks(4).enumerate() {
            assert!(round.iter().all(|s| s.run == r as u32 + 1), "{round:?}");
            let cells: Vec<_> = round.iter().map(|s| (s.test, s.nodes)).collect();
            assert_eq!(
                cells,
                [
                    (TestKind::Up, 3),
                    (TestKind::Up, 5),
                    (TestKind::KillLeader, 3),
                    (TestKind::KillLeader, 5)
                ]
            );
        }
    }

    #[test]
    fn the_parsers_work_as_clap_value_parsers() {
        use clap::Parser;

        #[derive(Debug, Parser)]
        struct Args {
            #[arg(long, value_parser = parse_sizes, allow_hyphen_values = true)]
            nodes: std::vec::Vec<usize>,
            #[arg(long, value_parser = parse_timeouts_ms, allow_hyphen_values = true)]
            election_timeout: std::vec::Vec<u64>,
        }

        let args =
            Args::try_parse_from(["x", "--nodes", "3..7:2", "--election-timeout", "250"]).unwrap();
        assert_eq!(args.nodes, vec![3, 5, 7]);
        assert_eq!(args.election_timeout, vec![250]);

        let e =
            Args::try_parse_from(["x", "--nodes", "3", "--election-timeout", "-5"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("`-5` is negative"), "{e}");
    }
}
