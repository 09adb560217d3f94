//! What the gateway checks share: the HAProxy binary, its configuration files read as sections,
//! the environment every platform gives it, and the Nomad backends template rendered the way
//! Nomad would render it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{blocks, label, nomad_file, repo_root, text};

/// The routes every platform starts HAProxy with, first.
pub const ROUTES: &str = "gateway/haproxy/routes.cfg";
/// The compose backends, second.
pub const COMPOSE_BACKENDS: &str = "gateway/haproxy/compose-backends.cfg";
/// The backends the routes may name: the public API and the shop.
pub const PUBLIC_BACKENDS: [&str; 4] = ["user", "product", "order", "storefront"];

/// The HAProxy binary the gateway crate starts (`gateway::haproxy_binary`). Missing, the test
/// fails saying where it comes from.
pub fn binary() -> PathBuf {
    let binary = ::gateway::haproxy_binary();
    match Command::new(&binary).arg("-v").output() {
        Ok(output) if output.status.success() => binary,
        Ok(output) => panic!(
            "{} -v failed: {}",
            binary.display(),
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => panic!(
            "the gateway tests run the real HAProxy, which is not installed ({}: {error}); \
             `cargo xtask test` installs it (Debian package haproxy), or set HAPROXY_BIN",
            binary.display()
        ),
    }
}

/// The `major.minor.patch` release of the local HAProxy (`HAProxy version 2.6.12-1+deb12u4 …`).
pub fn local_version() -> String {
    let output = Command::new(binary())
        .arg("-v")
        .output()
        .expect("haproxy -v");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.split_whitespace()
        .skip_while(|word| *word != "version")
        .nth(1)
        .and_then(|version| version.split(['-', '+']).next())
        .unwrap_or_else(|| panic!("a version in {text:?}"))
        .to_owned()
}

/// A local certificate for the gateway in `dir`: the gateway crate's CA-signed `localhost`
/// pair, certificate and key in the one PEM file HAProxy loads, as the gateway crate writes it.
fn certificate(dir: &Path) -> PathBuf {
    let tls = ::gateway::LocalTls::load_or_create(dir).expect("the local certificate");
    let joined = dir.join("gateway-with-key.pem");
    ::gateway::write_private(
        &joined,
        &tls.combined_pem().expect("the certificate and key"),
    )
    .expect("writing the joined PEM");
    joined
}

/// A scratch directory of one test, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(what: &str) -> Self {
        // Unique per test, not per process: `cargo test` runs a binary's tests as threads of one.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "haproxy-{what}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("the scratch directory");
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept for the failure: {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// `haproxy -c` over `files` (relative to the repository root or absolute) with a valid
/// environment: Ok, or HAProxy's complaint.
pub fn check(files: &[&Path]) -> Result<(), String> {
    let scratch = Scratch::new("check");
    let mut command = Command::new(binary());
    // The environment routes.cfg reads, as every platform gives it.
    command
        .arg("-c")
        .current_dir(repo_root())
        .env("GATEWAY_WEB_BIND", "127.0.0.1:8443")
        .env("GATEWAY_REDIRECT_BIND", "127.0.0.1:8080")
        .env("GATEWAY_HTTPS_PORT", "8443")
        .env("GATEWAY_ADMIN_BIND", "127.0.0.1:8081")
        .env("GATEWAY_CERT", certificate(&scratch.0));
    for file in files {
        command.arg("-f").arg(file);
    }
    let output = command.output().expect("haproxy -c runs");
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// A section of an HAProxy configuration: its keyword (`backend`, `defaults`…), its name, and
/// its lines, trimmed, without comments and blank lines.
#[derive(Debug)]
pub struct Section {
    pub kind: String,
    pub name: String,
    pub lines: Vec<String>,
}

const SECTION_KEYWORDS: [&str; 12] = [
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "resolvers",
    "peers",
    "userlist",
    "mailers",
    "program",
    "http-errors",
    "ring",
];

pub fn sections(configuration: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    for line in configuration.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut words = trimmed.split_whitespace();
        let first = words.next().unwrap_or_default();
        if !line.starts_with(char::is_whitespace) && SECTION_KEYWORDS.contains(&first) {
            sections.push(Section {
                kind: first.to_owned(),
                name: words.next().unwrap_or_default().to_owned(),
                lines: Vec::new(),
            });
        } else {
            sections
                .last_mut()
                .unwrap_or_else(|| panic!("a line outside any section: {line}"))
                .lines
                .push(trimmed.to_owned());
        }
    }
    sections
}

/// The Nomad gateway task's backends template (`local/backends.cfg`), as written.
pub fn nomad_backends_template() -> String {
    let file = nomad_file("gateway.nomad.hcl");
    blocks(&file, "job")
        .into_iter()
        .flat_map(|job| blocks(job.body(), "group"))
        .flat_map(|group| blocks(group.body(), "task"))
        .filter(|task| label(task) == "haproxy")
        .flat_map(|task| blocks(task.body(), "template"))
        .find(|template| {
            text(template.body(), "destination").as_deref() == Some("local/backends.cfg")
        })
        .and_then(|template| text(template.body(), "data"))
        .expect("the haproxy task renders local/backends.cfg from a template")
}

/// Renders a Nomad template the way Nomad would, every `nomadService` answering with
/// `instances` (address, port). It knows only what the backends template uses: `range
/// nomadService "…"`, `end`, `.Address`, `.Port` and the `{{-`/`-}}` whitespace trimming; any
/// other action fails the test, so that a template this cannot render is never passed.
pub fn render_nomad_template(template: &str, instances: &[(&str, u16)]) -> String {
    enum Piece {
        Text(String),
        Range(String),
        End,
        Field(String),
    }
    let mut pieces = Vec::new();
    let mut rest = template;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut before = rest[..start].to_owned();
        if trim_next {
            before = before.trim_start().to_owned();
        }
        let end = start + rest[start..].find("}}").expect("an action is closed");
        let mut action = &rest[start + 2..end];
        if let Some(trimmed) = action.strip_prefix('-') {
            before = before.trim_end().to_owned();
            action = trimmed;
        }
        trim_next = action.ends_with('-');
        let action = action.trim_end_matches('-').trim();
        pieces.push(Piece::Text(before));
        pieces.push(
            if let Some(service) = action.strip_prefix("range nomadService ") {
                Piece::Range(service.trim_matches('"').to_owned())
            } else if action == "end" {
                Piece::End
            } else if action == ".Address" || action == ".Port" {
                Piece::Field(action.to_owned())
            } else {
                panic!("an action this renderer does not know: {{{{ {action} }}}}")
            },
        );
        rest = &rest[end + 2..];
    }
    pieces.push(Piece::Text(if trim_next {
        rest.trim_start().to_owned()
    } else {
        rest.to_owned()
    }));

    let mut out = String::new();
    let mut index = 0;
    while index < pieces.len() {
        match &pieces[index] {
            Piece::Text(text) => out.push_str(text),
            Piece::Range(service) => {
                let body_end = index
                    + pieces[index..]
                        .iter()
                        .position(|piece| matches!(piece, Piece::End))
                        .unwrap_or_else(|| panic!("range over {service} is ended"));
                for (address, port) in instances {
                    for piece in &pieces[index + 1..body_end] {
                        match piece {
                            Piece::Text(text) => out.push_str(text),
                            Piece::Field(field) if field == ".Address" => out.push_str(address),
                            Piece::Field(_) => out.push_str(&port.to_string()),
                            _ => panic!("nested actions in the range over {service}"),
                        }
                    }
                }
                index = body_end;
            }
            Piece::End => panic!("an end without a range"),
            Piece::Field(field) => panic!("{field} outside a range"),
        }
        index += 1;
    }
    out
}

#[test]
fn the_renderer_renders_as_nomad_does() {
    let template = "backend a\n{{- range nomadService \"a\" }}\n    server {{ .Address }}:{{ .Port }} {{ .Address }}:{{ .Port }}\n{{- end }}\n";
    assert_eq!(
        render_nomad_template(template, &[("10.0.0.1", 20001), ("10.0.0.2", 20002)]),
        "backend a\n    server 10.0.0.1:20001 10.0.0.1:20001\n    server 10.0.0.2:20002 10.0.0.2:20002\n"
    );
    assert_eq!(render_nomad_template(template, &[]), "backend a\n");
}

#[test]
fn sections_are_read_with_their_lines() {
    let sections =
        sections("# c\nglobal\n    log stdout\n\nbackend user\n    # c\n    server a 1.2.3.4:5\n");
    assert_eq!(sections.len(), 2);
    assert_eq!(
        (sections[1].kind.as_str(), sections[1].name.as_str()),
        ("backend", "user")
    );
    assert_eq!(sections[1].lines, ["server a 1.2.3.4:5"]);
}
