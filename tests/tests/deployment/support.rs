//! What the deployment checks share: paths, external checkers, the parsed files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

pub fn read(relative: &str) -> String {
    std::fs::read_to_string(repo_root().join(relative))
        .unwrap_or_else(|error| panic!("{relative}: {error}"))
}

/// Runs a checker from the repository root; `what` names its package when it is missing.
pub fn run(program: &str, args: &[&str], package: &str) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|error| {
            panic!("{program} is installed (Debian package {package}; cargo xtask test installs it): {error}")
        })
}

pub fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The workspace version: every image is tagged with it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The binary targets of the workspace's packages (xtask aside), from `cargo metadata`.
pub fn workspace_binaries() -> Vec<String> {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(repo_root())
        .output()
        .expect("cargo metadata runs");
    assert_success(&output, "cargo metadata");
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut binaries: Vec<String> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|package| package["targets"].as_array().unwrap().iter())
        .filter(|target| {
            target["kind"]
                .as_array()
                .unwrap()
                .iter()
                .any(|kind| kind == "bin")
        })
        .map(|target| target["name"].as_str().unwrap().to_owned())
        .filter(|name| name != "xtask")
        .collect();
    binaries.sort();
    binaries
}

/// The port each binary listens on, as `nix/workspace.nix` gives it to the images.
pub fn image_ports() -> BTreeMap<String, u16> {
    let workspace = read("nix/workspace.nix");
    let block = workspace
        .split("ports = {")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("nix/workspace.nix has a ports attribute set");
    block
        .lines()
        .filter_map(|line| {
            let (name, port) = line.trim().trim_end_matches(';').split_once(" = ")?;
            Some((name.to_owned(), port.parse().ok()?))
        })
        .collect()
}

/// `compose.yaml` as Compose itself resolves it (anchors merged, `.env.example` substituted):
/// `docker-compose config` validates the file against the Compose schema and prints that form.
pub fn resolved_compose() -> &'static serde_norway::Value {
    static COMPOSE: OnceLock<serde_norway::Value> = OnceLock::new();
    COMPOSE.get_or_init(|| {
        serde_norway::from_slice(&compose_config_output()).expect("docker-compose prints YAML")
    })
}

/// What `docker-compose config` prints for the files as they are now. Every test is a process
/// of its own, and the command costs most of a CPU-second (a Python start and the whole file),
/// so the first process to need it runs it and leaves the output in the tests' scratch
/// directory under the files' hash; the others wait on the lock and read it.
fn compose_config_output() -> Vec<u8> {
    use std::hash::{Hash, Hasher};
    let mut inputs = std::hash::DefaultHasher::new();
    (read("compose.yaml"), read(".env.example")).hash(&mut inputs);
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("compose-config");
    std::fs::create_dir_all(&cache).expect("the scratch directory");
    let lock = std::fs::File::create(cache.join("lock")).expect("the cache lock file");
    lock.lock().expect("the cache lock");
    let cached = cache.join(format!("{:016x}.yaml", inputs.finish()));
    if let Ok(output) = std::fs::read(&cached) {
        return output;
    }
    let output = run(
        "docker-compose",
        &["--env-file", ".env.example", "-f", "compose.yaml", "config"],
        "docker-compose",
    );
    assert_success(&output, "docker-compose config");
    let written = cached.with_extension("partial");
    std::fs::write(&written, &output.stdout).expect("writing the cached output");
    std::fs::rename(&written, &cached).expect("publishing the cached output");
    output.stdout
}

/// The binary an image runs, for images this repository builds (`shop/<binary>:<version>`).
pub fn shop_binary(image: &str) -> Option<(&str, &str)> {
    image.strip_prefix("shop/")?.split_once(':')
}

/// Every compose service that runs a shop binary: (service name, binary, its environment as
/// `docker compose config` resolved it, every value as the string the process would get).
pub fn compose_shop_environments() -> Vec<(String, &'static str, BTreeMap<String, String>)> {
    let mut services = Vec::new();
    for (service, definition) in resolved_compose()["services"].as_mapping().unwrap() {
        let Some((binary, _)) = definition["image"].as_str().and_then(shop_binary) else {
            continue;
        };
        let environment = definition["environment"]
            .as_mapping()
            .into_iter()
            .flatten()
            .map(|(key, value)| {
                let value = match value {
                    serde_norway::Value::String(text) => text.clone(),
                    other => serde_norway::to_string(other).unwrap().trim().to_owned(),
                };
                (key.as_str().unwrap().to_owned(), value)
            })
            .collect();
        services.push((service.as_str().unwrap().to_owned(), binary, environment));
    }
    services
}

/// A Nomad job file parsed as HCL2, its `dynamic` blocks expanded as Nomad expands them.
pub fn nomad_file(name: &str) -> hcl::Body {
    let text = read(&format!("nomad/{name}"));
    let body =
        hcl::parse(&text).unwrap_or_else(|error| panic!("nomad/{name} is not valid HCL2: {error}"));
    crate::hcl_dynamic::expand(body)
}

/// Every task of `nomad/shop.nomad.hcl` (its `dynamic` blocks expanded), with the binary its
/// image runs: tasks are named after their binary.
pub fn nomad_shop_tasks() -> Vec<(String, hcl::Body)> {
    let job_file = nomad_file("shop.nomad.hcl");
    let mut tasks = Vec::new();
    for job in blocks(&job_file, "job") {
        for group in blocks(job.body(), "group") {
            for task in blocks(group.body(), "task") {
                let config = &blocks(task.body(), "config")[0];
                let image = text(config.body(), "image").expect("a docker task names its image");
                let (binary, _) = shop_binary(&image).expect("a shop image");
                assert_eq!(label(task), binary, "a task is named after its binary");
                tasks.push((binary.to_owned(), task.body().clone()));
            }
        }
    }
    tasks
}

pub fn blocks<'a>(body: &'a hcl::Body, identifier: &'a str) -> Vec<&'a hcl::Block> {
    body.blocks()
        .filter(|block| block.identifier() == identifier)
        .collect()
}

pub fn label(block: &hcl::Block) -> &str {
    block.labels().first().map_or("", hcl::BlockLabel::as_str)
}

pub fn attribute<'a>(body: &'a hcl::Body, key: &str) -> Option<&'a hcl::Expression> {
    body.attributes()
        .find(|attribute| attribute.key() == key)
        .map(hcl::Attribute::expr)
}

/// The text of a string, template or heredoc attribute.
pub fn text(body: &hcl::Body, key: &str) -> Option<String> {
    match attribute(body, key)? {
        hcl::Expression::String(text) => Some(text.clone()),
        hcl::Expression::TemplateExpr(template) => Some(template.to_string()),
        _ => None,
    }
}

/// A Nomad task's `env` block as written: a string (or `${…}` interpolation) by its text.
pub fn nomad_env_block(task: &hcl::Body) -> BTreeMap<String, String> {
    blocks(task, "env")
        .into_iter()
        .flat_map(|env| env.body().attributes())
        .map(|attribute| {
            let value = match attribute.expr() {
                hcl::Expression::String(text) => text.clone(),
                hcl::Expression::TemplateExpr(template) => template.to_string(),
                other => other.to_string(),
            };
            (attribute.key().to_owned(), value)
        })
        .collect()
}

/// The environment a Nomad task gets: its `env` block and every template rendered with
/// `env = true` (`KEY=value` lines, Go template actions removed).
pub fn nomad_task_environment(task: &hcl::Body) -> BTreeMap<String, String> {
    let mut environment = nomad_env_block(task);
    for template in blocks(task, "template") {
        if attribute(template.body(), "env") != Some(&hcl::Expression::Bool(true)) {
            continue;
        }
        let data = text(template.body(), "data").expect("an env template has data");
        for line in data.lines() {
            let line = strip_template_actions(line);
            if let Some((key, value)) = line.trim().split_once('=') {
                environment.insert(key.to_owned(), value.to_owned());
            }
        }
    }
    environment
}

fn strip_template_actions(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        match rest[start..].find("}}") {
            Some(end) => rest = &rest[start + end + 2..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn template_actions_are_removed_from_environment_lines() {
    assert_eq!(
        strip_template_actions(
            r#"{{ range nomadService "redis" }}REDIS_URL=redis://{{ .Address }}{{ end }}"#
        ),
        "REDIS_URL=redis://"
    );
}
