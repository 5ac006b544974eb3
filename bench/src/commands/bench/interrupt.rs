//! Ctrl-C and SIGTERM: kill every node and remove every container and service before the bench
//! exits.
//!
//! Why a registry and a task, not destructors: the process exits from the signal task, and
//! no destructor of the run in progress runs then (see [`crate::launcher::kill_registered`]).

use crate::launcher;

/// Kills every node and exits on Ctrl-C or SIGTERM, printing where the
/// interrupted run's logs are.
pub(crate) fn install_handler() {
    tokio::spawn(async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return,
            };
        // Exit as a shell reports death by that signal: 128 + its number.
        let status = tokio::select! {
            _ = tokio::signal::ctrl_c() => 128 + libc::SIGINT,
            _ = term.recv() => 128 + libc::SIGTERM,
        };
        let dirs = launcher::kill_registered();
        let runs = launcher::registered_docker_runs();
        let swarm_runs = launcher::registered_swarm_runs();
        if !runs.is_empty() || !swarm_runs.is_empty() {
            if let Ok(engine) = crate::docker::connect().await {
                for run in swarm_runs {
                    let _ =
                        crate::docker::swarm::remove_swarm_run(&engine.docker, Some(&run)).await;
                }
                for run in runs {
                    let _ = crate::docker::remove_run(&engine.docker, &run).await;
                }
            }
        }
        eprintln!("\nraftrtc: interrupted; every node was killed");
        for dir in dirs {
            eprintln!("raftrtc: logs of the interrupted run: {}", dir.display());
        }
        std::process::exit(status);
    });
}
