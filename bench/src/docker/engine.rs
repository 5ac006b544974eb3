//! Connecting to the Docker engine.
//!
//! Why a separate step with its own error: "no engine" is the commonest failure of the docker
//! launcher (daemon not started, wrong `DOCKER_HOST`), and the CLI must turn it into one plain
//! sentence and exit status 2 before it creates anything. bollard connects lazily, so a
//! connection is only proven by a request: we negotiate the API version (the engine here may
//! be older than bollard's default) and ping, both bounded by [`CONNECT_TIMEOUT`].

use std::time::Duration;

use bollard::Docker;

use super::DockerError;

/// The engine address used when `DOCKER_HOST` is unset (Docker's own default).
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Longest wait for the engine to answer the version negotiation and the ping.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A reachable engine.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The client, with the negotiated API version.
    pub docker: Docker,
    /// Where it was reached (`DOCKER_HOST` or the default socket).
    pub host: String,
    /// The engine's version, e.g. `20.10.24+dfsg1`.
    pub server_version: String,
    /// The API version in use after negotiation, e.g. `1.41`.
    pub api_version: String,
}

/// The engine address that [`connect`] uses: `DOCKER_HOST`, or the default Unix socket.
pub fn docker_host() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.trim().is_empty() => host,
        _ => DEFAULT_HOST.to_owned(),
    }
}

/// Connects to the engine named by `DOCKER_HOST` (default `unix:///var/run/docker.sock`),
/// negotiates the API version and pings it.
pub async fn connect() -> Result<Engine, DockerError> {
    connect_to(&docker_host()).await
}

/// Connects to the engine at `host` (`unix://…`, `tcp://…` or `http://…`), negotiates the API
/// version and pings it. Fails with [`DockerError::EngineUnavailable`] when nothing answers.
pub async fn connect_to(host: &str) -> Result<Engine, DockerError> {
    let unavailable = |reason: String| DockerError::EngineUnavailable {
        host: host.to_owned(),
        reason,
    };
    let docker = Docker::connect_with_host(host).map_err(|e| unavailable(error_chain(&e)))?;
    let docker = bounded(docker.negotiate_version())
        .await
        .map_err(&unavailable)?;
    bounded(docker.ping()).await.map_err(&unavailable)?;
    let version = bounded(docker.version()).await.map_err(&unavailable)?;
    let api_version = docker.client_version().to_string();
    Ok(Engine {
        docker,
        host: host.to_owned(),
        server_version: version.version.unwrap_or_else(|| "unknown".to_owned()),
        api_version,
    })
}

/// Runs one engine request within [`CONNECT_TIMEOUT`], flattening its error to a sentence.
async fn bounded<T>(
    request: impl std::future::Future<Output = Result<T, bollard::errors::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, request).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(error_chain(&e)),
        Err(_) => Err(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())),
    }
}

/// An error and its sources on one line (hyper's top-level message alone says little).
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_socket_is_engine_unavailable() {
        let err = connect_to("unix:///nonexistent/raftrtc-test/docker.sock")
            .await
            .expect_err("no engine there");
        match err {
            DockerError::EngineUnavailable { host, reason } => {
                assert!(host.contains("/nonexistent/raftrtc-test/docker.sock"));
                assert!(!reason.is_empty());
            }
            other => panic!("unexpected error {other}"),
        }
    }

    #[tokio::test]
    async fn an_unsupported_scheme_is_engine_unavailable() {
        let err = connect_to("ftp://example.invalid")
            .await
            .expect_err("bad scheme");
        assert!(
            matches!(err, DockerError::EngineUnavailable { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("ftp://example.invalid"));
    }
}
