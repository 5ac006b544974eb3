//! The process launcher: every node is a child process of the bench.
//!
//! Per run, a temporary directory holds the control sockets (`n<i>.sock`) and
//! the nodes' logs (`n<i>.log`, stdout and stderr together). The program is
//! the bench's own binary (`raftrtc node ...`), so the nodes always match the
//! bench's version.
//!
//! No orphans: each child is registered for the interrupt handler, is asked
//! by the kernel to die with the bench (`PR_SET_PDEATHSIG`, set between fork
//! and exec), and is killed and reaped when its [`ProcessCluster`] is stopped
//! or dropped.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use async_trait::async_trait;
use node::clock::{monotonic_ns, Stamp};
use node::control::ControlAddr;
use tokio::process::{Child, Command};

use super::{
    node_args, register_child, unregister_child, Cluster, ClusterSpec, LaunchError, Launcher,
    Member, RunDir,
};

/// Longest Unix socket path Linux accepts (`sun_path` is 108 bytes with NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Starts nodes as child processes of one program.
#[derive(Clone, Debug)]
pub struct ProcessLauncher {
    exe: PathBuf,
}

impl ProcessLauncher {
    /// A launcher running this very binary's `node` subcommand.
    pub fn current_exe() -> std::io::Result<Self> {
        Ok(Self::with_program(std::env::current_exe()?))
    }

    /// A launcher running `exe node ...`.
    pub fn with_program(exe: PathBuf) -> Self {
        Self { exe }
    }

    /// What [`Launcher::launch`] does, keeping the concrete cluster: callers that own the
    /// processes (tests signalling a node, measuring its memory) reach them through
    /// [`ProcessCluster::pid`] and [`ProcessCluster::wait`] without widening [`Cluster`].
    pub async fn launch_processes(
        &self,
        spec: &ClusterSpec,
    ) -> Result<ProcessCluster, LaunchError> {
        let mut cluster = ProcessCluster {
            launcher: self.clone(),
            members: Vec::new(),
            children: Vec::new(),
            dir: RunDir::new()?,
            started_at: Stamp::now(),
        };
        cluster.started_at = Stamp::now();
        for (i, id) in spec.ids().into_iter().enumerate() {
            let control = cluster.dir.path().join(format!("{id}.sock"));
            if control.as_os_str().len() > MAX_SOCKET_PATH {
                return Err(LaunchError::SocketPathTooLong(control));
            }
            let log = cluster.dir.path().join(format!("{id}.log"));
            let args = node_args(spec, i as u32, &id, &control);
            let spawned_ns = monotonic_ns();
            // Dropping `cluster` on an error below kills what already runs.
            let child = self.spawn(&id, &args, &log, false)?;
            // A child just spawned has not been reaped: its id is there.
            let pid = child.id().unwrap_or_default();
            register_child(pid);
            cluster.children.push(Node {
                id: id.clone(),
                pid,
                child,
                state: NodeState::Running,
                args,
            });
            cluster.members.push(Member {
                id,
                control: ControlAddr::Socket(control),
                log,
                spawned_ns: Some(spawned_ns),
            });
        }
        Ok(cluster)
    }
}

impl ProcessLauncher {
    /// Starts `exe node <args>` with stdout and stderr in `log` (appended to on a restart).
    fn spawn(
        &self,
        id: &str,
        args: &[String],
        log: &Path,
        append: bool,
    ) -> Result<Child, LaunchError> {
        let log_error = |source| LaunchError::Log {
            path: log.to_path_buf(),
            source,
        };
        let out = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(log)
            .map_err(log_error)?;
        let err = out.try_clone().map_err(log_error)?;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("node")
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        die_with_parent(&mut cmd);
        cmd.spawn().map_err(|source| LaunchError::Spawn {
            id: id.to_owned(),
            exe: self.exe.clone(),
            source,
        })
    }
}

#[async_trait]
impl Launcher for ProcessLauncher {
    async fn launch(&self, spec: &ClusterSpec) -> Result<Box<dyn Cluster>, LaunchError> {
        Ok(Box::new(self.launch_processes(spec).await?))
    }
}

/// Asks the kernel to SIGKILL the child when the bench dies, however it dies.
///
/// The signal follows the *thread* that forked; the bench forks from the
/// thread that runs its main future, which lives as long as the bench.
fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id();
    // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between
    // fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The bench may have died before the prctl took effect.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// Sends SIGKILL to a process; a process already gone is not an error.
pub(crate) fn sigkill(pid: u32) -> std::io::Result<()> {
    send_signal(pid, libc::SIGKILL)
}

/// Sends `signal` to a process; a process already gone is not an error.
fn send_signal(pid: u32, signal: libc::c_int) -> std::io::Result<()> {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return Ok(());
    };
    // SAFETY: kill(2) with a positive pid of our own child.
    if unsafe { libc::kill(pid, signal) } == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(e)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeState {
    Running,
    /// Killed by us, not reaped yet.
    Killed,
    /// Ended on its own and reported by `exited`.
    Exited,
    /// Waited for.
    Reaped,
}

#[derive(Debug)]
struct Node {
    id: String,
    /// Kept apart from `child`, which forgets its id once reaped.
    pid: u32,
    child: Child,
    state: NodeState,
    /// Its `node` flags, for a restart.
    args: Vec<String>,
}

/// The child processes of one run and their directory.
#[derive(Debug)]
pub struct ProcessCluster {
    /// What started the nodes, to start one again.
    launcher: ProcessLauncher,
    members: Vec<Member>,
    children: Vec<Node>,
    /// `None` once kept.
    dir: RunDir,
    /// Just before the first child was spawned.
    started_at: Stamp,
}

impl ProcessCluster {
    /// The process id of node `id` while it has not been reaped (afterwards the id may
    /// belong to another process); `None` for an unknown or reaped node.
    pub fn pid(&self, id: &str) -> Option<u32> {
        self.children
            .iter()
            .find(|n| n.id == id)
            .filter(|n| matches!(n.state, NodeState::Running | NodeState::Killed))
            .map(|n| n.pid)
    }

    /// Waits until node `id` ends (for instance on a signal the caller sent), reaps it and
    /// returns its exit status. Unbounded: the caller bounds it.
    pub async fn wait(&mut self, id: &str) -> Result<ExitStatus, LaunchError> {
        let node = self.node_mut(id)?;
        // A child already reaped answers with the status it ended with.
        let status = node
            .child
            .wait()
            .await
            .map_err(|source| LaunchError::Wait {
                id: id.to_string(),
                source,
            })?;
        unregister_child(node.pid);
        node.state = NodeState::Reaped;
        Ok(status)
    }

    /// Node `id`'s process; an unknown id is an error.
    fn node_mut(&mut self, id: &str) -> Result<&mut Node, LaunchError> {
        self.children
            .iter_mut()
            .find(|n| n.id == id)
            .ok_or_else(|| LaunchError::UnknownNode(id.to_string()))
    }

    /// Sends `signal` to node `id` if it is still running (a node that ended is left alone).
    fn signal_running(&self, id: &str, signal: libc::c_int) -> Result<(), LaunchError> {
        let node = self
            .children
            .iter()
            .find(|n| n.id == id)
            .ok_or_else(|| LaunchError::UnknownNode(id.to_string()))?;
        if node.state != NodeState::Running {
            return Ok(());
        }
        send_signal(node.pid, signal).map_err(|source| LaunchError::Kill {
            id: id.to_string(),
            source,
        })
    }
}

#[async_trait]
impl Cluster for ProcessCluster {
    fn members(&self) -> &[Member] {
        &self.members
    }

    fn started_at(&self) -> Stamp {
        self.started_at
    }

    async fn kill(&mut self, id: &str) -> Result<(), LaunchError> {
        let node = self.node_mut(id)?;
        if node.state == NodeState::Running {
            sigkill(node.pid).map_err(|source| LaunchError::Kill {
                id: id.to_string(),
                source,
            })?;
            node.state = NodeState::Killed;
        }
        Ok(())
    }

    async fn restart(&mut self, id: &str) -> Result<(), LaunchError> {
        let log = self.dir.path().join(format!("{id}.log"));
        let launcher = self.launcher.clone();
        let node = self.node_mut(id)?;
        if node.state == NodeState::Running {
            return Err(LaunchError::StillRunning(id.to_owned()));
        }
        // The old process must be gone, its sockets closed, before the new one joins
        // signaling under the same id.
        let _ = node.child.wait().await;
        unregister_child(node.pid);
        if !node.args.iter().any(|a| a == "--start") {
            node.args.push("--start".to_owned());
        }
        let child = launcher.spawn(id, &node.args, &log, true)?;
        node.pid = child.id().unwrap_or_default();
        register_child(node.pid);
        node.child = child;
        node.state = NodeState::Running;
        Ok(())
    }

    async fn pause(&mut self, id: &str) -> Result<(), LaunchError> {
        self.signal_running(id, libc::SIGSTOP)
    }

    async fn resume(&mut self, id: &str) -> Result<(), LaunchError> {
        self.signal_running(id, libc::SIGCONT)
    }

    async fn exited(&mut self) -> Vec<(String, String)> {
        let mut gone = Vec::new();
        for node in &mut self.children {
            if node.state != NodeState::Running {
                continue;
            }
            if let Ok(Some(status)) = node.child.try_wait() {
                unregister_child(node.pid);
                node.state = NodeState::Exited;
                gone.push((node.id.clone(), status.to_string()));
            }
        }
        gone
    }

    async fn stop_all(&mut self) {
        for node in &mut self.children {
            if node.state == NodeState::Reaped {
                continue;
            }
            if matches!(node.state, NodeState::Running | NodeState::Killed) {
                // Best effort: an error here means the process is gone.
                let _ = sigkill(node.pid);
            }
            // Bounded: the process was SIGKILLed (or already ended).
            let _ = node.child.wait().await;
            unregister_child(node.pid);
            node.state = NodeState::Reaped;
        }
    }

    fn logs_dir(&self) -> &Path {
        self.dir.path()
    }

    fn keep_logs(&mut self) {
        self.dir.keep();
    }
}

impl Drop for ProcessCluster {
    /// Kills what still runs without waiting: tokio reaps the children in the background.
    fn drop(&mut self) {
        for node in &self.children {
            if matches!(node.state, NodeState::Running | NodeState::Killed) {
                let _ = sigkill(node.pid);
            }
            unregister_child(node.pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use node::settings::Settings;

    use super::*;

    fn spec(nodes: u32) -> ClusterSpec {
        ClusterSpec {
            nodes,
            cluster: "c1".into(),
            signaling_url: "http://127.0.0.1:1/".into(),
            settings: Settings::default(),
            log_level: "info".into(),
            seed: 41,
            start_at_launch: false,
            data_dirs: false,
            shared_key: None,
        }
    }

    /// A script that stands in for `raftrtc`: it logs its arguments and sleeps.
    fn fake_node(dir: &Path) -> PathBuf {
        let script = dir.join("fake-node");
        std::fs::write(&script, "#!/bin/sh\necho started \"$@\"\nexec sleep 30\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        script
    }

    #[tokio::test]
    async fn children_are_killed_and_reaped_and_logs_kept_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let launcher = ProcessLauncher::with_program(fake_node(dir.path()));
        let mut cluster = launcher.launch(&spec(3)).await.unwrap();
        assert_eq!(cluster.members().len(), 3);
        assert!(matches!(
            &cluster.members()[1].control,
            ControlAddr::Socket(path) if path.ends_with("n1.sock")
        ));
        let log_of_n0 = cluster.members()[0].log.clone();
        for _ in 0..500 {
            if std::fs::metadata(&log_of_n0).is_ok_and(|m| m.len() > 0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cluster.kill("n1").await.unwrap();
        assert!(cluster.kill("n9").await.is_err());
        assert!(
            cluster.exited().await.is_empty(),
            "a killed node is not a crash"
        );
        cluster.keep_logs();
        let kept = cluster.logs_dir().to_path_buf();
        cluster.stop_all().await;
        drop(cluster);
        assert!(kept.join("n0.log").exists());
        let log = std::fs::read_to_string(kept.join("n0.log")).unwrap();
        assert!(log.starts_with("started node --election-timeout"), "{log}");
        assert!(log.contains("--id n0"), "{log}");
        std::fs::remove_dir_all(kept).unwrap();
    }

    #[tokio::test]
    async fn a_node_signalled_by_the_caller_is_waited_for_and_then_has_no_pid() {
        use std::os::unix::process::ExitStatusExt;
        let dir = tempfile::tempdir().unwrap();
        let launcher = ProcessLauncher::with_program(fake_node(dir.path()));
        let mut cluster = launcher.launch_processes(&spec(1)).await.unwrap();
        let pid = cluster.pid("n0").expect("a running node has a pid");
        assert_eq!(cluster.pid("n9"), None);
        // SAFETY: kill(2) with the pid of our own, unreaped child.
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) }, 0);
        let status = cluster.wait("n0").await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        assert_eq!(cluster.pid("n0"), None, "a reaped node's pid may be reused");
        assert!(matches!(
            cluster.wait("n9").await,
            Err(LaunchError::UnknownNode(_))
        ));
    }

    #[tokio::test]
    async fn a_node_that_ends_on_its_own_is_reported_once() {
        let launcher = ProcessLauncher::with_program(PathBuf::from("/bin/false"));
        let mut cluster = launcher.launch(&spec(1)).await.unwrap();
        let dir = cluster.logs_dir().to_path_buf();
        let mut gone = Vec::new();
        for _ in 0..200 {
            gone.extend(cluster.exited().await);
            if !gone.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].0, "n0");
        assert!(cluster.exited().await.is_empty());
        drop(cluster);
        assert!(!dir.exists(), "the run directory goes unless kept");
    }
}
