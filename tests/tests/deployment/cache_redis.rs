//! The cache Redis, in compose and under Nomad: a cache and not a store. The product cache keeps
//! its staleness guards there (versions, tombstones, the page generation), so it must never
//! restore old data at a restart, and its memory must be bounded by evicting only what may go.

use hcl::Expression;

use crate::support::{attribute, blocks, label, nomad_file, resolved_compose};

/// The flags a cache Redis must run with, given its command line.
fn assert_a_bounded_cache(args: &[String], whence: &str) {
    let value_of = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|at| args.get(at + 1))
            .map(String::as_str)
    };
    assert_eq!(value_of("--appendonly"), Some("no"), "{whence}: no AOF");
    assert_eq!(value_of("--save"), Some(""), "{whence}: no snapshots");
    assert!(
        value_of("--maxmemory").is_some_and(|limit| limit != "0"),
        "{whence}: a memory limit"
    );
    // volatile-*: the page generation, which has no TTL, is never evicted (its loss would
    // bring old generations' pages back into use).
    assert_eq!(
        value_of("--maxmemory-policy"),
        Some("volatile-ttl"),
        "{whence}: evict only keys with a TTL, soonest to expire first"
    );
}

#[test]
fn compose_runs_the_cache_redis_bounded_and_without_persistence() {
    let redis = &resolved_compose()["services"]["redis"];
    let args: Vec<String> = redis["command"]
        .as_sequence()
        .expect("redis has a command line")
        .iter()
        .map(|arg| arg.as_str().unwrap_or_default().to_owned())
        .collect();
    assert_a_bounded_cache(&args, "compose");
    assert!(
        redis["volumes"].is_null(),
        "compose: no volume to restore from"
    );
}

#[test]
fn nomad_runs_the_cache_redis_bounded_and_without_persistence() {
    let infrastructure = nomad_file("infrastructure.nomad.hcl");
    let job = blocks(&infrastructure, "job")[0].body();
    let task = blocks(job, "group")
        .into_iter()
        .flat_map(|group| blocks(group.body(), "task"))
        .find(|task| label(task) == "redis")
        .expect("a redis task");
    let config = blocks(task.body(), "config")[0].body();
    let Some(Expression::Array(args)) = attribute(config, "args") else {
        panic!("the redis task has args");
    };
    let args: Vec<String> = args
        .iter()
        .map(|arg| match arg {
            Expression::String(text) => text.clone(),
            other => panic!("a literal argument, not {other:?}"),
        })
        .collect();
    assert_a_bounded_cache(&args, "nomad");
}
