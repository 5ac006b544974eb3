//! The node image: the running `raftrtc` binary plus the shared libraries it links.
//!
//! Why build it ourselves, `FROM scratch`: no image registry is reachable where the benchmark
//! runs, so there is no base image to pull; and the node in the container must be exactly the
//! binary the bench is, or a run would compare two different programs. The build context is
//! made in memory — `Dockerfile` (the repository's `docker/Dockerfile`) and `rootfs/` holding
//! `/raftrtc` and every file `ldd` lists (the dynamic loader included) at its absolute path —
//! and sent through the Engine API. The tag carries the first 12 hex digits of the binary's
//! sha256 and the image a label with all of it, so an unchanged binary reuses its image.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use bollard::query_parameters::{
    BuildImageOptions, ListImagesOptions, RemoveImageOptions, TagImageOptions,
};
use bollard::Docker;
use futures_util::StreamExt;

use super::{status_of, DockerError, LABEL_BINARY_SHA256};

/// Repository name of the node image.
pub const IMAGE_REPO: &str = "raftrtc-node";

/// Node images kept after a build (the newest ones): a debug and a release binary, or two
/// branches, can alternate without rebuilding, while every relink does not leave ~100 MB behind.
pub const KEEP_IMAGES: usize = 3;

/// The Dockerfile sent with every build (kept in the repository as `docker/Dockerfile`).
const DOCKERFILE: &str = include_str!("../../../docker/Dockerfile");

/// Where the binary lands in the image; the Dockerfile's ENTRYPOINT runs it.
const BINARY_IN_IMAGE: &str = "raftrtc";

/// A node image ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeImage {
    /// `raftrtc-node:<12 hex>`.
    pub tag: String,
    /// Full sha256 of the binary inside, hex.
    pub binary_sha256: String,
    /// Size reported by the engine, in bytes.
    pub size_bytes: Option<u64>,
    /// Whether an existing image was reused instead of built.
    pub reused: bool,
}

/// The tag of the image built from a binary with this sha256 (hex).
pub fn image_tag(binary_sha256: &str) -> String {
    let short: String = binary_sha256.chars().take(12).collect();
    format!("{IMAGE_REPO}:{short}")
}

/// The image for the running executable, built if it does not exist yet; returns its tag.
pub async fn ensure_image(docker: &Docker) -> Result<String, DockerError> {
    Ok(build_image(docker, false).await?.tag)
}

/// Builds the image for the running executable; with `force`, even if it exists already.
pub async fn build_image(docker: &Docker, force: bool) -> Result<NodeImage, DockerError> {
    let exe = std::env::current_exe().map_err(|source| DockerError::Io {
        path: PathBuf::from("/proc/self/exe"),
        source,
    })?;
    build_image_from(docker, &exe, force).await
}

/// Builds the image for the `raftrtc` binary at `binary` (tests pass the cargo-built one);
/// with `force`, even if an image for the same binary exists already.
pub async fn build_image_from(
    docker: &Docker,
    binary: &Path,
    force: bool,
) -> Result<NodeImage, DockerError> {
    let binary = binary.to_path_buf();
    let hash_path = binary.clone();
    let sha = tokio::task::spawn_blocking(move || sha256_file(&hash_path))
        .await
        .map_err(|e| DockerError::Build(format!("hashing task failed: {e}")))??;
    let tag = image_tag(&sha);

    if !force {
        if let Some(size) = existing_image(docker, &tag, &sha).await? {
            tag_latest(docker, &tag).await?;
            return Ok(NodeImage {
                tag,
                binary_sha256: sha,
                size_bytes: size,
                reused: true,
            });
        }
    }

    let context = tokio::task::spawn_blocking(move || {
        let libs = linked_files(&binary)?;
        build_context(&binary, &libs)
    })
    .await
    .map_err(|e| DockerError::Build(format!("context task failed: {e}")))??;

    let options = BuildImageOptions {
        dockerfile: "Dockerfile".to_owned(),
        t: Some(tag.clone()),
        labels: Some(HashMap::from([(
            LABEL_BINARY_SHA256.to_owned(),
            sha.clone(),
        )])),
        nocache: force,
        rm: true,
        forcerm: true,
        ..Default::default()
    };
    let mut output = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    let mut log = String::new();
    while let Some(item) = output.next().await {
        let info = item.map_err(|e| {
            DockerError::Build(format!(
                "{}{}",
                super::engine::error_chain(&e),
                last_lines(&log)
            ))
        })?;
        if let Some(detail) = info.error_detail {
            let message = detail.message.unwrap_or_else(|| "unknown error".to_owned());
            return Err(DockerError::Build(format!("{message}{}", last_lines(&log))));
        }
        if let Some(line) = info.stream {
            log.push_str(&line);
        }
    }

    let size = existing_image(docker, &tag, &sha)
        .await?
        .ok_or_else(|| DockerError::Build(format!("{tag} missing after the build")))?;
    tag_latest(docker, &tag).await?;
    prune_old_images(docker).await;
    Ok(NodeImage {
        tag,
        binary_sha256: sha,
        size_bytes: size,
        reused: false,
    })
}

/// Removes `raftrtc-node` images beyond the [`KEEP_IMAGES`] newest. Best effort: an image still
/// used by a container, or any other refusal, is left for a later build.
async fn prune_old_images(docker: &Docker) {
    let options = ListImagesOptions {
        filters: Some(HashMap::from([(
            "reference".to_owned(),
            vec![IMAGE_REPO.to_owned()],
        )])),
        ..Default::default()
    };
    let mut images = match docker.list_images(Some(options)).await {
        Ok(images) => images,
        Err(e) => {
            tracing::debug!("listing node images to prune: {e}");
            return;
        }
    };
    images.sort_by_key(|image| std::cmp::Reverse(image.created));
    for image in images.iter().skip(KEEP_IMAGES) {
        // Untagging the last tag deletes the image; deleting by id would need `force` when
        // it has several tags.
        for tag in &image.repo_tags {
            if let Err(e) = docker
                .remove_image(tag, None::<RemoveImageOptions>, None)
                .await
            {
                tracing::debug!("pruning {tag}: {e}");
            }
        }
    }
}

/// `Some(size)` when `tag` exists and was built from the binary with hash `sha`.
async fn existing_image(
    docker: &Docker,
    tag: &str,
    sha: &str,
) -> Result<Option<Option<u64>>, DockerError> {
    match docker.inspect_image(tag).await {
        Ok(image) => {
            let built_from = image
                .config
                .as_ref()
                .and_then(|c| c.labels.as_ref())
                .and_then(|labels| labels.get(LABEL_BINARY_SHA256));
            if built_from.map(String::as_str) == Some(sha) {
                Ok(Some(image.size.and_then(|s| u64::try_from(s).ok())))
            } else {
                Ok(None)
            }
        }
        Err(e) if status_of(&e) == Some(404) => Ok(None),
        Err(e) => Err(DockerError::api(format!("inspect image {tag}"), e)),
    }
}

/// Points `raftrtc-node:latest` at `tag`, for people running the image by hand.
async fn tag_latest(docker: &Docker, tag: &str) -> Result<(), DockerError> {
    let options = TagImageOptions {
        repo: Some(IMAGE_REPO.to_owned()),
        tag: Some("latest".to_owned()),
    };
    docker
        .tag_image(tag, Some(options))
        .await
        .map_err(|e| DockerError::api(format!("tag {tag} as {IMAGE_REPO}:latest"), e))
}

/// The last few lines of a build log, to end an error message with.
fn last_lines(log: &str) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail = &lines[lines.len().saturating_sub(5)..];
    format!("\n{}", tail.join("\n"))
}

/// Hex sha256 of a file, read in chunks (the binary can be hundreds of MB in debug builds).
fn sha256_file(path: &Path) -> Result<String, DockerError> {
    let io = |source| DockerError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(ctx
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The shared libraries and loader that `binary` needs, from `ldd` (empty if it is static).
fn linked_files(binary: &Path) -> Result<Vec<PathBuf>, DockerError> {
    let fail = |reason: String| DockerError::Ldd {
        binary: binary.to_path_buf(),
        reason,
    };
    let out = std::process::Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| fail(format!("cannot run ldd: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if is_static(&stdout) || is_static(&stderr) {
        return Ok(Vec::new());
    }
    if !out.status.success() {
        return Err(fail(format!(
            "ldd exited with {}: {}",
            out.status,
            stderr.trim()
        )));
    }
    parse_ldd(&stdout).map_err(fail)
}

/// Whether `ldd` said the binary is statically linked.
fn is_static(ldd_output: &str) -> bool {
    ldd_output.contains("not a dynamic executable") || ldd_output.contains("statically linked")
}

/// Absolute paths from `ldd` output, in order, without duplicates.
///
/// Accepted lines: `libx.so => /abs/libx.so (0x…)`, `/abs/ld-linux.so (0x…)` (the loader) and
/// virtual objects without a path (`linux-vdso.so.1 (0x…)`, skipped). `=> not found` is an error.
fn parse_ldd(output: &str) -> Result<Vec<PathBuf>, String> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for line in output.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let target = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    return Err(format!("library {} not found", name.trim()));
                }
                rest
            }
            None => line,
        };
        // Strip the load address, e.g. "/lib/x.so (0x00007f…)".
        let path = if target.starts_with('(') {
            ""
        } else {
            match target.rfind(" (") {
                Some(i) => target[..i].trim(),
                None => target,
            }
        };
        if path.is_empty() {
            // `libx.so =>  (0x…)`: a virtual object, as old ldd versions print the vDSO.
            continue;
        }
        if !path.starts_with('/') {
            // A virtual object such as linux-vdso.so.1 has no file.
            if line.split_once("=>").is_some() {
                return Err(format!("unexpected ldd line {line:?}"));
            }
            continue;
        }
        let path = PathBuf::from(path);
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    Ok(paths)
}

/// The build context: `Dockerfile` plus `rootfs/` with the binary at `/raftrtc` and each file
/// in `libs` at its absolute path (symlinks followed: the image gets regular files).
fn build_context(binary: &Path, libs: &[PathBuf]) -> Result<Vec<u8>, DockerError> {
    let mut tar = tar::Builder::new(Vec::new());
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DockerError::Io { path, source }
    };
    let context = Path::new("<build context>");

    append_bytes(&mut tar, "Dockerfile", DOCKERFILE.as_bytes(), 0o644).map_err(io(context))?;
    let mut dirs: Vec<PathBuf> = vec![PathBuf::from("rootfs")];
    append_dir(&mut tar, Path::new("rootfs")).map_err(io(context))?;
    append_file(&mut tar, &Path::new("rootfs").join(BINARY_IN_IMAGE), binary)?;
    for lib in libs {
        let relative = relative_in_rootfs(lib).ok_or_else(|| {
            DockerError::Build(format!("library path {} is not absolute", lib.display()))
        })?;
        // Parent directories first, once each.
        let mut parent = PathBuf::from("rootfs");
        if let Some(dir) = relative.parent() {
            for part in dir.components() {
                parent.push(part);
                if !dirs.contains(&parent) {
                    append_dir(&mut tar, &parent).map_err(io(context))?;
                    dirs.push(parent.clone());
                }
            }
        }
        append_file(&mut tar, &Path::new("rootfs").join(&relative), lib)?;
    }
    tar.into_inner().map_err(io(context))
}

/// `/lib/x/libc.so.6` → `lib/x/libc.so.6`; `None` unless absolute and free of `..`.
fn relative_in_rootfs(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    let mut components = path.components();
    if components.next() != Some(Component::RootDir) {
        return None;
    }
    for c in components {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

fn header(size: u64, mode: u32, kind: tar::EntryType) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

fn append_bytes(
    tar: &mut tar::Builder<Vec<u8>>,
    path: &str,
    data: &[u8],
    mode: u32,
) -> std::io::Result<()> {
    let mut h = header(data.len() as u64, mode, tar::EntryType::Regular);
    tar.append_data(&mut h, path, data)
}

fn append_dir(tar: &mut tar::Builder<Vec<u8>>, path: &Path) -> std::io::Result<()> {
    let mut h = header(0, 0o755, tar::EntryType::Directory);
    tar.append_data(&mut h, path, std::io::empty())
}

/// Appends the file at `source` (following symlinks) as a regular file at `path`, executable.
fn append_file(
    tar: &mut tar::Builder<Vec<u8>>,
    path: &Path,
    source: &Path,
) -> Result<(), DockerError> {
    let io = |e| DockerError::Io {
        path: source.to_path_buf(),
        source: e,
    };
    let file = std::fs::File::open(source).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut h = header(len, 0o755, tar::EntryType::Regular);
    tar.append_data(&mut h, path, file).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LDD: &str = "\tlinux-vdso.so.1 (0x00007ffd2b9f6000)
\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f456bb4e000)
\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f456ab20000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f456a93e000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f456bb81000)
";

    #[test]
    fn ldd_output_gives_libraries_and_loader() {
        let paths = parse_ldd(LDD).expect("parses");
        let expected: Vec<PathBuf> = [
            "/lib/x86_64-linux-gnu/libgcc_s.so.1",
            "/lib/x86_64-linux-gnu/libm.so.6",
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib64/ld-linux-x86-64.so.2",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(paths, expected);
    }

    #[test]
    fn ldd_variants_and_failures() {
        // Old glibc prints the vDSO with an empty target; duplicates are kept once.
        let old = "\tlinux-gate.so.1 =>  (0xb7f00000)\n\tlibc.so.6 => /lib/libc.so.6 (0x1)\n\tlibc.so.6 => /lib/libc.so.6 (0x1)\n";
        assert_eq!(
            parse_ldd(old).expect("parses"),
            vec![PathBuf::from("/lib/libc.so.6")]
        );
        let missing = "\tlibssl.so.3 => not found\n";
        let err = parse_ldd(missing).expect_err("missing library");
        assert!(err.contains("libssl.so.3"), "{err}");
        assert!(parse_ldd("").expect("empty").is_empty());
        assert!(is_static("\tnot a dynamic executable\n"));
        assert!(is_static("\tstatically linked\n"));
        assert!(!is_static(LDD));
    }

    #[test]
    fn tags_use_twelve_hex_digits() {
        let sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(image_tag(sha), "raftrtc-node:0123456789ab");
    }

    #[test]
    fn the_dockerfile_starts_from_scratch() {
        assert!(DOCKERFILE.lines().any(|l| l.trim() == "FROM scratch"));
        assert!(DOCKERFILE.contains("COPY rootfs/ /"));
        assert!(DOCKERFILE.contains(r#"ENTRYPOINT ["/raftrtc", "node"]"#));
    }

    #[test]
    fn rootfs_paths_must_be_absolute_and_plain() {
        assert_eq!(
            relative_in_rootfs(Path::new("/lib/x86_64-linux-gnu/libc.so.6")),
            Some(PathBuf::from("lib/x86_64-linux-gnu/libc.so.6"))
        );
        assert_eq!(relative_in_rootfs(Path::new("lib/libc.so.6")), None);
        assert_eq!(relative_in_rootfs(Path::new("/lib/../etc/passwd")), None);
        assert_eq!(relative_in_rootfs(Path::new("/")), None);
    }

    #[test]
    fn the_context_holds_dockerfile_binary_and_libraries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let binary = dir.path().join("raftrtc-bin");
        std::fs::write(&binary, b"\x7fELF fake binary").expect("write");
        let lib = dir.path().join("libfake.so.1");
        std::fs::write(&lib, b"fake lib").expect("write");
        // A symlinked library lands as a regular file with the target's contents.
        let link = dir.path().join("liblink.so");
        std::os::unix::fs::symlink(&lib, &link).expect("symlink");

        let tar_bytes = build_context(&binary, &[lib.clone(), link.clone()]).expect("context");
        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        let mut files: HashMap<String, (Vec<u8>, u32, tar::EntryType)> = HashMap::new();
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let path = entry.path().expect("path").display().to_string();
            let mode = entry.header().mode().expect("mode");
            let kind = entry.header().entry_type();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).expect("read");
            files.insert(path.trim_end_matches('/').to_owned(), (data, mode, kind));
        }
        assert_eq!(files["Dockerfile"].0, DOCKERFILE.as_bytes());
        assert_eq!(files["rootfs/raftrtc"].0, b"\x7fELF fake binary");
        assert_eq!(files["rootfs/raftrtc"].1, 0o755);
        let lib_in = format!("rootfs{}", lib.display());
        let link_in = format!("rootfs{}", link.display());
        assert_eq!(files[&lib_in].0, b"fake lib");
        assert_eq!(files[&link_in].0, b"fake lib");
        assert_eq!(files[&link_in].2, tar::EntryType::Regular);
        // Every parent directory of a library is in the archive, as a directory.
        let parent = format!("rootfs{}", dir.path().display());
        assert_eq!(files[&parent].2, tar::EntryType::Directory);
        assert_eq!(files["rootfs"].2, tar::EntryType::Directory);
    }

    #[test]
    fn hashing_matches_a_known_digest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("abc");
        std::fs::write(&f, b"abc").expect("write");
        assert_eq!(
            sha256_file(&f).expect("hash"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_real_binary_links_a_loader_or_nothing() {
        // The test binary is linked like raftrtc: every library ldd lists must exist.
        let exe = std::env::current_exe().expect("current exe");
        let libs = linked_files(&exe).expect("ldd works here");
        for lib in &libs {
            assert!(lib.is_absolute() && lib.exists(), "{}", lib.display());
        }
    }
}
