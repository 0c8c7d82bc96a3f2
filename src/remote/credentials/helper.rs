//! Docker credential helpers (`docker-credential-<name> get`): the server URL on stdin, a JSON
//! object with `Username` and `Secret` on stdout. A helper that is not installed is skipped;
//! one that hangs is killed after a few seconds.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::Credentials;

/// How long a helper may take.
const HELPER_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of a helper's output read.
const OUTPUT_LIMIT: u64 = 64 * 1024;

/// What `get` prints. No `Debug`: it holds the secret.
#[derive(serde::Deserialize)]
struct HelperOutput {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// The credentials helper `name` holds for `server_url`, if it is installed and has some.
pub(super) fn get(name: &str, server_url: &str) -> Option<Credentials> {
    // A helper name comes from a file: it must not climb out of `PATH`.
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !valid {
        tracing::warn!(
            helper = name,
            "credential helper name is not valid; skipped"
        );
        return None;
    }
    let program = find_in_path(&format!("docker-credential-{name}"))?;
    run(&program, server_url, HELPER_TIMEOUT)
}

/// The first executable file `file` in `PATH`.
fn find_in_path(file: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(file))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// Runs `program get` with `server_url` on stdin, waiting at most `timeout`.
fn run(program: &Path, server_url: &str, timeout: Duration) -> Option<Credentials> {
    let helper = program.display().to_string();
    let mut child = match Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            tracing::warn!(%helper, error = %e, "credential helper did not start");
            return None;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading closes the pipe; its answer still counts.
        let _ = stdin.write_all(server_url.as_bytes());
    }
    let (sender, receiver) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            let mut output = Zeroizing::new(Vec::new());
            let _ = stdout.take(OUTPUT_LIMIT).read_to_end(&mut output);
            let _ = sender.send(output);
        });
    }
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                tracing::warn!(%helper, "credential helper timed out; skipped");
                return None;
            }
        }
    };
    if !status.success() {
        // "credentials not found in native keychain" and the like.
        return None;
    }
    let remaining = deadline.saturating_duration_since(Instant::now());
    let output = receiver
        .recv_timeout(remaining.max(Duration::from_millis(100)))
        .ok()?;
    let parsed: HelperOutput = serde_json::from_slice(&output).ok()?;
    let secret = Zeroizing::new(parsed.secret);
    if parsed.username.is_empty() || secret.is_empty() {
        return None;
    }
    Some(Credentials {
        username: parsed.username,
        password: secret,
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    #[test]
    fn a_helper_answers_for_the_url_it_is_given() {
        let dir = tempfile::tempdir().expect("tempdir");
        let helper = script(
            dir.path(),
            "docker-credential-test",
            r#"[ "$1" = get ] || exit 2
read -r url || true
if [ "$url" = "registry.example.com" ]; then
  printf '{"ServerURL":"%s","Username":"bob","Secret":"pa55"}' "$url"
else
  echo "credentials not found in native keychain"; exit 1
fi"#,
        );
        let found = run(&helper, "registry.example.com", Duration::from_secs(5)).expect("found");
        assert_eq!(
            (found.username.as_str(), found.password.as_str()),
            ("bob", "pa55")
        );
        assert!(run(&helper, "other.example.com", Duration::from_secs(5)).is_none());
    }

    #[test]
    fn a_hanging_helper_is_cut_short() {
        let dir = tempfile::tempdir().expect("tempdir");
        let helper = script(dir.path(), "docker-credential-slow", "sleep 30");
        let started = Instant::now();
        assert!(run(&helper, "x", Duration::from_millis(300)).is_none());
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn missing_and_bad_helpers_are_skipped() {
        assert!(get("surely-not-installed-anywhere", "x").is_none());
        assert!(get("../../bin/sh", "x").is_none());
        assert!(get("", "x").is_none());
    }
}
