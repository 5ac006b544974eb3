//! The sample CI workflow (`docs/ci/benchmark.yml`) is valid YAML and runs what README's
//! "Use in CI" says it runs.

use std::path::Path;

use yaml_rust2::YamlLoader;

fn repo(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_sample_workflow_runs_the_readme_commands_and_the_smoke_baseline_check() {
    let docs = YamlLoader::load_from_str(&repo("docs/ci/benchmark.yml")).expect("valid YAML");
    let workflow = &docs[0];
    let steps = workflow["jobs"]["bench"]["steps"]
        .as_vec()
        .expect("jobs.bench.steps is a list");
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    let ran = |what: &str| runs.iter().any(|r| r.contains(what));
    let readme = repo("README.md");
    for command in ["cargo run --release -- up", "cargo test --workspace"] {
        assert!(ran(command), "the workflow runs `{command}`: {runs:?}");
        assert!(readme.contains(command), "README shows `{command}`");
    }
    assert!(ran("smoke --reference-binary"), "{runs:?}");
    assert!(ran("smoke --save-baseline"), "{runs:?}");
    assert!(ran("smoke --baseline"), "{runs:?}");
    for flag in [
        "smoke --reference-binary",
        "smoke --save-baseline",
        "smoke --baseline",
    ] {
        assert!(readme.contains(flag), "README shows `{flag}`");
    }
    assert!(readme.contains("docs/ci/benchmark.yml"));
}
