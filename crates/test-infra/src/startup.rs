//! Runs a service binary as operators do, to check what it does before it serves: a bad
//! setting must stop it at once with a non-zero exit and one line naming the key.

use std::process::Stdio;
use std::time::Duration;

/// How long a binary may take to refuse its configuration (it connects to nothing first).
const LIMIT: Duration = Duration::from_secs(30);

/// Starts `binary` with `env` on top of an empty configuration file and returns its exit code
/// and standard error. Panics if it is still running after [`LIMIT`] (it is then killed).
pub async fn run_refusing(binary: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = tokio::process::Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(LIMIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("{binary} did not stop within {LIMIT:?}"))
        .expect("the binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Asserts that `binary` started with `key=value` exits 2 and names `key` on standard error.
pub async fn assert_refuses_setting(binary: &str, key: &str, value: &str) {
    let (code, stderr) =
        run_refusing(binary, &[("APP_PROFILE", "development"), (key, value)]).await;
    assert_eq!(code, Some(2), "{binary} with {key}={value}: {stderr}");
    assert!(stderr.contains(key), "{binary} names {key}: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

/// Asserts that `binary`, under the production profile with `settings` (enough to get past the
/// settings production requires) and `key=value`, exits 2 with one line that names `key` and
/// says the value is published.
pub async fn assert_refuses_published_secret(
    binary: &str,
    settings: &[(&str, &str)],
    key: &str,
    value: &str,
) {
    let mut env = vec![("APP_PROFILE", "production")];
    env.extend(settings.iter().copied());
    env.push((key, value));
    let (code, stderr) = run_refusing(binary, &env).await;
    assert_eq!(code, Some(2), "{binary} with {key}={value}: {stderr}");
    assert!(stderr.contains(key), "{binary} names {key}: {stderr}");
    assert!(
        stderr.contains("published"),
        "{binary} says why {key} is refused: {stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}
