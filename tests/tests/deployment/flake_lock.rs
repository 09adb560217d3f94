//! flake.lock pins every input of flake.nix, so `nix build` builds the same thing on any day:
//! each input at a full commit with the hash of its tree, and `follows` leaving one nixpkgs.

use std::collections::BTreeSet;

use regex::Regex;
use serde_json::Value;

use crate::support::read;

/// The input names flake.nix declares (`name.url = …` or `name = { … }` inside `inputs`).
fn declared_inputs() -> BTreeSet<String> {
    let flake = read("flake.nix");
    let start = flake.find("inputs = {").expect("flake.nix declares inputs");
    let end = start
        + flake[start..]
            .find("\n  };")
            .expect("the inputs block ends");
    let declaration = Regex::new(r"(?m)^    ([A-Za-z][\w-]*)(?:\.url)?\s*=").unwrap();
    declaration
        .captures_iter(&flake[start..end])
        .map(|capture| capture[1].to_owned())
        .collect()
}

#[test]
fn the_lock_pins_every_input_of_the_flake() {
    let lock: Value = serde_json::from_str(&read("flake.lock")).expect("flake.lock is JSON");
    let nodes = lock["nodes"].as_object().expect("nodes");
    let root = &nodes[lock["root"].as_str().unwrap()];
    let locked_inputs: BTreeSet<String> = root["inputs"]
        .as_object()
        .expect("the root node lists its inputs")
        .keys()
        .cloned()
        .collect();
    let declared = declared_inputs();
    assert!(
        declared.contains("nixpkgs") && declared.len() >= 4,
        "{declared:?}"
    );
    assert_eq!(
        locked_inputs, declared,
        "flake.lock locks exactly flake.nix's inputs"
    );

    let full_rev = Regex::new("^[0-9a-f]{40}$").unwrap();
    for (name, node) in nodes.iter().filter(|(name, _)| *name != "root") {
        let locked = &node["locked"];
        let rev = locked["rev"].as_str().unwrap_or_default();
        assert!(
            full_rev.is_match(rev),
            "{name}: a full 40-hex rev, got {rev:?}"
        );
        let nar = locked["narHash"].as_str().unwrap_or_default();
        assert!(
            nar.starts_with("sha256-") && nar.len() == 51,
            "{name}: a narHash, got {nar:?}"
        );
        assert!(
            locked["lastModified"].as_u64().is_some(),
            "{name}: lastModified"
        );
    }
    assert_eq!(
        nodes["nixpkgs"]["original"]["ref"].as_str(),
        Some("nixos-25.05"),
        "nixpkgs follows the release branch flake.nix names"
    );
}

#[test]
fn follows_leave_one_nixpkgs() {
    let lock: Value = serde_json::from_str(&read("flake.lock")).unwrap();
    let nodes = lock["nodes"].as_object().unwrap();
    let copies: Vec<&String> = nodes
        .iter()
        .filter(|(_, node)| node["locked"]["repo"].as_str() == Some("nixpkgs"))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(copies, ["nixpkgs"], "one nixpkgs in the lock");
    // Every input that takes a nixpkgs gets the root's (a `follows` path), not its own.
    for (name, node) in nodes {
        if let Some(nixpkgs) = node["inputs"].get("nixpkgs") {
            let follows_root = nixpkgs == &Value::from(vec!["nixpkgs"]) || nixpkgs == "nixpkgs";
            assert!(follows_root, "{name} brings its own nixpkgs: {nixpkgs}");
        }
    }
}
