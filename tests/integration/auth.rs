//! pf-auth against a real Prefect server started with PREFECT_SERVER_API_AUTH_STRING: login,
//! logout, status, profiles, the in-place edits of profiles.toml, and the Python CLI reading
//! what pf-auth wrote. Cloud commands are in `auth_cloud.rs`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use crate::harness::{Pf, Run, Server, free_port, temp_dir, venv_bin};

/// The auth string of the module's server; it must never appear in any output.
pub const AUTH_STRING: &str = "admin:pf-auth-S3CRET-pass";

fn server() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| Server::start(&[("PREFECT_SERVER_API_AUTH_STRING", AUTH_STRING)]))
}

/// A pf tool with `home` as PREFECT_HOME (and so `home/profiles.toml`).
pub fn tool_in(tool: &str, home: &Path) -> Pf {
    Pf::new(tool).env("PREFECT_HOME", home)
}

/// Run, and check that no secret of these tests leaked into stdout or stderr.
#[track_caller]
pub fn checked(pf: Pf, secrets: &[&str]) -> Run {
    let run = pf.run();
    for secret in secrets.iter().chain([&AUTH_STRING, &"S3CRET"]) {
        assert!(!run.stdout.contains(secret), "secret on stdout: {run:#?}");
        assert!(!run.stderr.contains(secret), "secret on stderr: {run:#?}");
    }
    run
}

fn auth(home: &Path) -> Pf {
    tool_in("pf-auth", home)
}

pub fn profiles_file(home: &Path) -> PathBuf {
    home.join("profiles.toml")
}

pub fn read(home: &Path) -> String {
    std::fs::read_to_string(profiles_file(home)).unwrap()
}

pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The lines removed and added between two texts (a small LCS diff).
pub fn diff(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let (a, b): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut removed, mut added) = (0, 0, Vec::new(), Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            added.push(b[j].to_string());
            j += 1;
        } else {
            removed.push(a[i].to_string());
            i += 1;
        }
    }
    (removed, added)
}

/// stderr's lines.
pub fn err_lines(run: &Run) -> Vec<&str> {
    run.stderr.lines().collect()
}

fn strings(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| l.to_string()).collect()
}

#[test]
fn self_hosted_login_saves_the_profile_and_pf_get_then_works() {
    let server = server();
    let home = temp_dir("auth-login");

    // Without credentials the server refuses, and pf-get says so.
    checked(
        tool_in("pf-get", &home)
            .arg("flows")
            .env("PREFECT_API_URL", &server.url),
        &[],
    )
    .expect_code(3);

    let run = checked(
        auth(&home)
            .args(["login", "--url", &server.url, "--auth-string", "-", "-v"])
            .stdin(format!("{AUTH_STRING}\n")),
        &[],
    );
    run.ok();
    assert_eq!(run.stdout, "");
    let stderr = err_lines(&run);
    assert!(
        stderr[0].starts_with("pf: GET /admin/version 200 ") && stderr[0].ends_with("ms"),
        "{run:#?}"
    );
    assert_eq!(
        stderr[1],
        format!(
            "Logged in to {} (Prefect 3.9.1). Saved in profile 'default' ({}).",
            server.url,
            profiles_file(&home).display()
        )
    );
    // A new file: the profile, made active; mode 0600.
    assert_eq!(
        read(&home),
        format!(
            "active = \"default\"\n\n[profiles.default]\nPREFECT_API_URL = \"{}\"\nPREFECT_API_AUTH_STRING = \"{AUTH_STRING}\"\n",
            server.url
        )
    );
    assert_eq!(mode(&profiles_file(&home)), 0o600);

    // Every tool now uses the profile.
    checked(tool_in("pf-get", &home).arg("flows"), &[]).ok();

    let run = checked(auth(&home).args(["status", "-o", "json"]), &[]);
    run.ok();
    let status: Value = serde_json::from_str::<Vec<Value>>(&run.stdout)
        .unwrap()
        .remove(0);
    assert_eq!(status["profile"], "default");
    assert_eq!(status["api_url"], server.url.as_str());
    assert_eq!(status["api_url_source"], "profile default");
    assert_eq!(status["server"], "self-hosted");
    assert_eq!(status["server_version"], "3.9.1");
    assert_eq!(status["auth"], "auth-string");
    assert_eq!(status["auth_source"], "profile default");
    assert_eq!(status["credential"], "admin:…");
    assert_eq!(status["authenticated"], true);

    // A wrong string: exit 3, the seed's message without the secret, the file untouched.
    let before = std::fs::read(profiles_file(&home)).unwrap();
    let run = checked(
        auth(&home)
            .args(["login", "--url", &server.url, "--auth-string", "-"])
            .stdin("admin:wrong-guess\n"),
        &["wrong-guess"],
    );
    run.expect_code(3);
    assert_eq!(
        err_lines(&run),
        vec![
            "pf-auth: error: Error attempting to use auth string: not authorized (401) for GET admin/version: Unauthorized",
            "hint: check the auth string: it is the server's PREFECT_SERVER_API_AUTH_STRING (user:pass)",
        ]
    );
    assert_eq!(std::fs::read(profiles_file(&home)).unwrap(), before);
    assert_eq!(mode(&profiles_file(&home)), 0o600);

    // No auth string at all: also refused, with the way to give one.
    let run = checked(auth(&home).args(["login", "--url", &server.url]), &[]);
    run.expect_code(3);
    assert_eq!(
        err_lines(&run),
        vec![
            format!(
                "pf-auth: error: {} requires credentials: the server answered 401",
                server.url
            )
            .as_str(),
            format!(
                "hint: give its auth string: pf-auth login --url {} --auth-string -",
                server.url
            )
            .as_str(),
        ]
    );
    // Nothing reachable there: exit 7, file untouched.
    let dead = format!("http://127.0.0.1:{}/api", free_port());
    let run = checked(
        auth(&home)
            .args(["login", "--url", &dead, "--auth-string", "-"])
            .stdin(AUTH_STRING),
        &[],
    );
    run.expect_code(7);
    assert_eq!(std::fs::read(profiles_file(&home)).unwrap(), before);

    // A broken profile is reported by status: 3 when refused, 7 when unreachable.
    let run = checked(
        auth(&home)
            .arg("status")
            .env("PREFECT_API_AUTH_STRING", "admin:nope-nope"),
        &["nope-nope"],
    );
    run.expect_code(3);
    assert_eq!(run.json_lines()[0]["authenticated"], false);
    assert_eq!(run.json_lines()[0]["auth_source"], "env");
    let run = checked(auth(&home).args(["status", "--api-url", &dead]), &[]);
    run.expect_code(7);
    assert_eq!(run.json_lines()[0]["authenticated"], Value::Null);

    // Logout removes the auth string only (the URL of a self-hosted server stays).
    let run = checked(auth(&home).args(["logout"]), &[]);
    run.ok();
    assert_eq!(
        run.stderr,
        "Logged out of profile 'default' (removed PREFECT_API_AUTH_STRING).\n"
    );
    assert_eq!(
        read(&home),
        format!(
            "active = \"default\"\n\n[profiles.default]\nPREFECT_API_URL = \"{}\"\n",
            server.url
        )
    );
    let run = checked(auth(&home).args(["logout", "--yes"]), &[]);
    run.ok();
    assert_eq!(
        run.stderr,
        "No credentials currently active: profile 'default' has no API key or auth string.\n"
    );
    checked(tool_in("pf-get", &home).arg("flows"), &[]).expect_code(3);
}

#[test]
fn login_refuses_when_the_environment_would_override_it() {
    let home = temp_dir("auth-env");
    for (name, value) in [
        ("PREFECT_API_KEY", "pnu_from_env_0123456789"),
        ("PREFECT_API_AUTH_STRING", AUTH_STRING),
    ] {
        let run = checked(
            auth(&home)
                .args(["login", "--url", &server().url, "--auth-string", "-"])
                .stdin(AUTH_STRING)
                .env(name, value),
            &["pnu_from_env_0123456789"],
        );
        run.expect_code(2);
        assert_eq!(
            err_lines(&run),
            vec![
                format!("pf-auth: error: Cannot log in while {name} is set in the environment: it would override what pf-auth writes to the profile").as_str(),
                format!("hint: unset {name} first, or keep using it without logging in").as_str(),
            ]
        );
    }
    assert!(!profiles_file(&home).exists());
}

/// A file written by hand: comments, ordering, unknown keys and quoting styles.
const HAND_WRITTEN: &str = r#"# Prefect profiles, edited by hand.
active = "local"  # the usual one

[profiles.local]
PREFECT_API_URL = "http://127.0.0.1:4200/api"   # laptop
PREFECT_LOGGING_LEVEL = 'DEBUG'

# production: careful
[profiles.prod]
PREFECT_API_URL = "http://prod.invalid:4200/api"
SOMETHING_UNKNOWN = 42
PREFECT_API_AUTH_STRING = "admin:old-prod-pass"

[profiles.empty]
"#;

#[test]
fn edits_change_only_the_intended_lines_of_a_hand_written_file() {
    let server = server();
    let home = temp_dir("auth-roundtrip");
    std::fs::write(profiles_file(&home), HAND_WRITTEN).unwrap();
    std::fs::set_permissions(profiles_file(&home), std::fs::Permissions::from_mode(0o644)).unwrap();
    let secrets = ["old-prod-pass"];

    // login into a profile that is not the active one: only its two credential lines change.
    let run = checked(
        auth(&home)
            .args([
                "login",
                "--profile",
                "prod",
                "--url",
                &server.url,
                "--auth-string",
                "-",
            ])
            .stdin(AUTH_STRING),
        &secrets,
    );
    run.ok();
    assert_eq!(
        err_lines(&run)[1],
        "Profile 'prod' is not the active one ('local'): use it with --profile prod, or make it active with: pf-auth use prod"
    );
    let after_login = read(&home);
    assert_eq!(
        diff(HAND_WRITTEN, &after_login),
        (
            strings(&[
                "PREFECT_API_URL = \"http://prod.invalid:4200/api\"",
                "PREFECT_API_AUTH_STRING = \"admin:old-prod-pass\"",
            ]),
            vec![
                format!("PREFECT_API_URL = \"{}\"", server.url),
                format!("PREFECT_API_AUTH_STRING = \"{AUTH_STRING}\"")
            ]
        )
    );
    assert_eq!(mode(&profiles_file(&home)), 0o600);
    checked(
        tool_in("pf-get", &home).args(["flows", "--profile", "prod"]),
        &[],
    )
    .ok();

    // use: only the active line (its comment kept).
    checked(auth(&home).args(["use", "prod"]), &[]).ok();
    let after_use = read(&home);
    assert_eq!(
        diff(&after_login, &after_use),
        (
            strings(&["active = \"local\"  # the usual one"]),
            strings(&["active = \"prod\"  # the usual one"])
        )
    );
    checked(tool_in("pf-get", &home).arg("flows"), &[]).ok();

    // profiles: the one in effect marked.
    let run = checked(auth(&home).arg("profiles").tty(100), &[]);
    run.ok();
    let width = server.url.len().max("http://127.0.0.1:4200/api".len());
    let row = |cells: [&str; 4]| {
        format!(
            "{:<5}  {:<width$}  {:<11}  {}",
            cells[0], cells[1], cells[2], cells[3]
        )
        .trim_end()
        .to_string()
    };
    assert_eq!(
        run.lines(),
        vec![
            row(["NAME", "API URL", "AUTH", ""]),
            row(["local", "http://127.0.0.1:4200/api", "none", ""]),
            row(["prod", &server.url, "auth-string", "*"]),
            row(["empty", "", "none", ""]),
        ]
    );

    // logout: only the auth string line goes.
    checked(auth(&home).args(["logout", "--yes"]), &[]).ok();
    let after_logout = read(&home);
    assert_eq!(
        diff(&after_use, &after_logout),
        (
            vec![format!("PREFECT_API_AUTH_STRING = \"{AUTH_STRING}\"")],
            vec![]
        )
    );

    // An unknown profile for `use` is a usage error listing the known ones; nothing written.
    let run = checked(auth(&home).args(["use", "nope"]), &[]);
    run.expect_code(2);
    assert_eq!(
        err_lines(&run)[1],
        "hint: known profiles: local, prod, empty"
    );
    assert_eq!(read(&home), after_logout);
}

#[test]
fn a_failed_rename_or_a_corrupt_file_leaves_the_old_file_intact() {
    let server = server();
    let home = temp_dir("auth-atomic");
    std::fs::write(profiles_file(&home), HAND_WRITTEN).unwrap();
    // A crash between write and rename (simulated): the old file stays, no temp file is left.
    for args in [
        vec!["use", "prod"],
        vec![
            "login",
            "--profile",
            "local",
            "--url",
            &server.url,
            "--auth-string",
            "-",
        ],
        vec!["logout", "--profile", "prod", "--yes"],
    ] {
        let run = checked(
            auth(&home)
                .args(&args)
                .stdin(AUTH_STRING)
                .env("PF_TEST_FAIL_RENAME", "1"),
            &[],
        );
        run.expect_code(1);
        assert!(
            run.stderr.starts_with(&format!(
                "pf-auth: error: cannot write {}: rename failed",
                profiles_file(&home).display()
            )),
            "{run:#?}"
        );
        assert_eq!(read(&home), HAND_WRITTEN);
        let entries: Vec<_> = std::fs::read_dir(&home)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries, vec![std::ffi::OsString::from("profiles.toml")]);
    }

    // A corrupt file: a clear error, and it is never overwritten.
    let corrupt = "active = \"local\"\n[profiles.local\nPREFECT_API_URL = 1\n";
    std::fs::write(profiles_file(&home), corrupt).unwrap();
    for args in [
        vec!["use", "local"],
        vec!["login", "--url", &server.url, "--auth-string", "-"],
        vec!["logout", "--yes"],
        vec!["profiles"],
    ] {
        let run = checked(auth(&home).args(&args).stdin(AUTH_STRING), &[]);
        run.expect_code(2);
        assert!(
            run.stderr.starts_with(&format!(
                "pf-auth: error: {} is not valid TOML: ",
                profiles_file(&home).display()
            )),
            "{run:#?}"
        );
        assert_eq!(read(&home), corrupt);
    }

    // A missing directory is created, the file with mode 0600.
    let nested = home.join("a/b/profiles.toml");
    let run = checked(
        auth(&home)
            .args([
                "login",
                "--profile",
                "ci",
                "--url",
                &server.url,
                "--auth-string",
                "-",
            ])
            .stdin(AUTH_STRING)
            .env("PREFECT_PROFILES_PATH", &nested),
        &[],
    );
    run.ok();
    assert_eq!(mode(&nested), 0o600);
    assert!(
        std::fs::read_to_string(&nested)
            .unwrap()
            .starts_with("active = \"ci\"\n\n[profiles.ci]\n")
    );
}

#[test]
fn the_python_cli_reads_what_pf_auth_wrote() {
    let server = server();
    let home = temp_dir("auth-python");
    checked(
        auth(&home)
            .args([
                "login",
                "--profile",
                "shared",
                "--url",
                &server.url,
                "--auth-string",
                "-",
            ])
            .stdin(AUTH_STRING),
        &[],
    )
    .ok();
    let python = |args: &[&str]| -> String {
        let mut cmd = std::process::Command::new(venv_bin("prefect"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PREFECT_") {
                cmd.env_remove(key);
            }
        }
        let output = cmd
            .args(args)
            .env("PREFECT_HOME", &home)
            .env("HOME", &home)
            .env("COLUMNS", "200")
            .output()
            .unwrap();
        assert!(output.status.success(), "prefect {args:?}: {output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let listing = python(&["profile", "ls"]);
    assert!(
        listing
            .lines()
            .any(|l| l.trim_matches(|c: char| c == '│' || c.is_whitespace()) == "* shared"),
        "{listing}"
    );
    let view = python(&["config", "view"]);
    let lines: Vec<&str> = view.lines().collect();
    assert!(lines.contains(&"PREFECT_PROFILE='shared'"), "{view}");
    assert!(
        lines.contains(&format!("PREFECT_API_URL='{}' (from profile)", server.url).as_str()),
        "{view}"
    );
    assert!(
        lines.contains(&"PREFECT_API_AUTH_STRING='********' (from profile)"),
        "{view}"
    );
    assert!(!view.contains(AUTH_STRING) && !listing.contains(AUTH_STRING));
}
