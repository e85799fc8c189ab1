//! pf-auth's Prefect Cloud commands against a fixture server that follows Cloud's documented
//! shapes (Cloud itself cannot be reached from here), checking the exact requests sent: the key
//! travels only as `Authorization: Bearer …`.
//!
//! Where each shape comes from:
//! - `GET /api/me/` → the user: terraform-provider-prefect `internal/api/users.go` (`User`: id,
//!   actor_id, handle, first_name, last_name, email);
//! - `GET /api/me/workspaces` → `[Workspace]`: PrefectHQ/prefect `src/prefect/client/cloud.py`
//!   (`read_workspaces`) and `prefect.client.schemas.objects.Workspace` (account_id,
//!   account_name, account_handle, workspace_id, workspace_name, workspace_description,
//!   workspace_handle); the workspace API URL `{cloud}/accounts/{id}/workspaces/{id}` is
//!   `Workspace.api_url()`;
//! - `POST /api/users/{user_id}/api_keys` `{name, expiration}` → 201 `{id, created, name,
//!   expiration, key}` and `DELETE /api/users/{user_id}/api_keys/{id}` → 204:
//!   terraform-provider-prefect `internal/client/users.go` (`CreateAPIKey`, `DeleteAPIKey`) and
//!   `internal/api/users.go` (`UserAPIKey`, `UserAPIKeyCreate`);
//! - listing API keys: no documented endpoint, so `list-tokens` says so.

use std::path::Path;

use serde_json::{Value, json};

use crate::auth::{checked, diff, err_lines, mode, profiles_file, read, tool_in};
use crate::fixture::{Fixture, Recorded, Reply};
use crate::harness::{Pf, temp_dir};

const GOOD_KEY: &str = "pnu_GoodKey0123456789abcdefghijklmnopqrstu";
const BAD_KEY: &str = "pnu_BadKey9876543210zyxwvutsrqponmlkjihgfe";
const NEW_KEY: &str = "pnu_NewKey5555555555aaaaaaaaaaaaaaaaaaaaaa";
const KEYS: &[&str] = &[GOOD_KEY, BAD_KEY, NEW_KEY];
const USER_ID: &str = "7d3c0f4e-1111-4a8e-9c57-000000000001";
const ACCOUNT_ID: &str = "0f6b8a52-2222-4c1d-8f0e-0000000000a1";
const PROD_ID: &str = "5b1e7c9d-3333-4e2f-a1b2-0000000000b1";
const STAGING_ID: &str = "9c2d4e6f-4444-4a3b-b5c6-0000000000b2";
const TOKEN_ID: &str = "c4d5e6f7-5555-4b8c-9d0e-0000000000c1";

fn workspace(id: &str, handle: &str, name: &str) -> Value {
    json!({
        "account_id": ACCOUNT_ID, "account_name": "Acme Corp", "account_handle": "acme",
        "workspace_id": id, "workspace_name": name, "workspace_description": "",
        "workspace_handle": handle,
    })
}

/// A Prefect Cloud stand-in that knows one key, one user, two workspaces and one API key id.
fn cloud() -> Fixture {
    Fixture::start(|request, _| {
        if request.header("authorization") != Some(format!("Bearer {GOOD_KEY}").as_str()) {
            return Reply::json(401, json!({"detail": "Unauthorized"}));
        }
        let path = request.path.split('?').next().unwrap_or_default();
        let keys = format!("/api/users/{USER_ID}/api_keys");
        match (request.method.as_str(), path) {
            ("GET", "/api/me/") => Reply::json(
                200,
                json!({"id": USER_ID, "created": "2024-01-01T00:00:00Z", "updated": "2024-01-01T00:00:00Z",
                       "actor_id": "8e9f0a1b-6666-4c2d-8e3f-000000000001", "handle": "jdoe",
                       "first_name": "Jane", "last_name": "Doe", "email": "jane@acme.invalid"}),
            ),
            ("GET", "/api/me/workspaces") => Reply::json(
                200,
                json!([
                    workspace(PROD_ID, "prod", "Production"),
                    workspace(STAGING_ID, "staging", "Staging")
                ]),
            ),
            ("POST", p) if p == keys => {
                let body = request.json();
                Reply::json(
                    201,
                    json!({"id": TOKEN_ID, "created": "2024-06-01T00:00:00Z", "name": body["name"],
                           "expiration": body.get("expiration").cloned().unwrap_or(Value::Null), "key": NEW_KEY}),
                )
            }
            ("DELETE", p) if p == format!("{keys}/{TOKEN_ID}") => Reply::Respond {
                status: 204,
                headers: vec![],
                body: String::new(),
            },
            _ => Reply::json(404, json!({"detail": "Not Found"})),
        }
    })
}

fn auth(home: &Path, cloud: &Fixture) -> Pf {
    tool_in("pf-auth", home).env("PREFECT_CLOUD_API_URL", &cloud.url)
}

fn workspace_url(cloud: &Fixture, id: &str) -> String {
    format!("{}/accounts/{ACCOUNT_ID}/workspaces/{id}", cloud.url)
}

/// Every request carried the key only as a Bearer Authorization header.
fn assert_key_only_in_bearer(requests: &[Recorded], key: &str) {
    assert!(!requests.is_empty());
    for request in requests {
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {key}").as_str()),
            "{request:?}"
        );
        for (name, value) in &request.headers {
            assert!(
                name == "authorization" || !value.contains(key),
                "key in header {name}: {request:?}"
            );
        }
        assert!(
            !request.path.contains(key) && !request.body.contains(key),
            "{request:?}"
        );
    }
}

fn calls(requests: &[Recorded]) -> Vec<String> {
    requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Log `home`'s default profile in to the staging workspace.
fn logged_in(cloud: &Fixture) -> std::path::PathBuf {
    let home = temp_dir("auth-cloud");
    checked(
        auth(&home, cloud)
            .args(["login", "--key", "-", "--workspace", "acme/staging"])
            .stdin(GOOD_KEY),
        KEYS,
    )
    .ok();
    home
}

#[test]
fn cloud_login_validates_the_key_before_saving_key_and_workspace_url() {
    let cloud = cloud();
    let home = temp_dir("auth-cloud-login");

    // A bad key: exit 3, the seed's message without the key, nothing written.
    let run = checked(
        auth(&home, &cloud)
            .args(["login", "--key", "-"])
            .stdin(format!("{BAD_KEY}\n")),
        KEYS,
    );
    run.expect_code(3);
    assert_eq!(
        err_lines(&run),
        vec![
            "pf-auth: error: Error attempting to use API key pnu_…hgfe: not authorized (401) for GET me/: Unauthorized",
            "hint: check that the key is correct and not expired (Prefect Cloud UI: API keys)",
        ]
    );
    assert!(!profiles_file(&home).exists());
    assert_eq!(calls(&cloud.requests()), vec!["GET /api/me/"]);
    assert_key_only_in_bearer(&cloud.requests(), BAD_KEY);

    // A good key that sees two workspaces, not on a terminal: --workspace is required.
    let run = checked(
        auth(&home, &cloud)
            .args(["login", "--key", "-"])
            .stdin(GOOD_KEY),
        KEYS,
    );
    run.expect_code(2);
    assert_eq!(
        err_lines(&run),
        vec![
            "pf-auth: error: this key sees 2 workspaces: choose one with --workspace ACCOUNT/WORKSPACE",
            "hint: available workspaces: acme/prod, acme/staging",
        ]
    );
    let run = checked(
        auth(&home, &cloud)
            .args(["login", "--key", "-", "-w", "acme/nope"])
            .stdin(GOOD_KEY),
        KEYS,
    );
    run.expect_code(4);
    assert_eq!(
        err_lines(&run)[0],
        "pf-auth: error: workspace 'acme/nope' not found"
    );
    assert!(!profiles_file(&home).exists());

    // The right workspace: key and workspace URL saved, the profile made active, mode 0600.
    let before = cloud.requests().len();
    let run = checked(
        auth(&home, &cloud)
            .args(["login", "--key", "-", "--workspace", "acme/staging", "-v"])
            .stdin(GOOD_KEY),
        KEYS,
    );
    run.ok();
    let lines = err_lines(&run);
    assert!(
        lines[0].starts_with("pf: GET /me/ 200 ")
            && lines[1].starts_with("pf: GET /me/workspaces 200 "),
        "{run:#?}"
    );
    assert_eq!(
        lines[2],
        format!(
            "Authenticated with Prefect Cloud! Using workspace 'acme/staging'. Saved in profile 'default' ({}).",
            profiles_file(&home).display()
        )
    );
    assert_eq!(
        read(&home),
        format!(
            "active = \"default\"\n\n[profiles.default]\nPREFECT_API_KEY = \"{GOOD_KEY}\"\nPREFECT_API_URL = \"{}\"\n",
            workspace_url(&cloud, STAGING_ID)
        )
    );
    assert_eq!(mode(&profiles_file(&home)), 0o600);
    let requests = cloud.requests()[before..].to_vec();
    assert_eq!(
        calls(&requests),
        vec!["GET /api/me/", "GET /api/me/workspaces"]
    );
    assert_key_only_in_bearer(&requests, GOOD_KEY);

    // Logging in again without --workspace keeps the profile's workspace.
    let run = checked(
        auth(&home, &cloud)
            .args(["login", "--key", "-"])
            .stdin(GOOD_KEY),
        KEYS,
    );
    run.ok();
    assert!(
        run.stderr
            .starts_with("Authenticated with Prefect Cloud! Using workspace 'acme/staging'."),
        "{run:#?}"
    );

    // PREFECT_API_KEY in the environment would override the profile: login refuses.
    let written = read(&home);
    let run = checked(
        auth(&home, &cloud)
            .args(["login", "--key", "-", "-w", "acme/prod"])
            .stdin(GOOD_KEY)
            .env("PREFECT_API_KEY", BAD_KEY),
        KEYS,
    );
    run.expect_code(2);
    assert_eq!(
        err_lines(&run)[0],
        "pf-auth: error: Cannot log in while PREFECT_API_KEY is set in the environment: it would override what pf-auth writes to the profile"
    );
    assert_eq!(read(&home), written);
}

#[test]
fn cloud_status_list_and_switch_tenants_then_logout() {
    let cloud = cloud();
    let home = logged_in(&cloud);

    let run = checked(auth(&home, &cloud).arg("status"), KEYS);
    run.ok();
    let status = &run.json_lines()[0];
    assert_eq!(status["server"], "cloud");
    assert_eq!(status["workspace"], "acme/staging");
    assert_eq!(status["user"], "jdoe");
    assert_eq!(status["auth"], "api-key");
    assert_eq!(status["credential"], "pnu_…rstu");
    assert_eq!(status["authenticated"], true);
    assert_eq!(status["server_version"], Value::Null);

    // The seed's table: NAME, SLUG, ID and the active one marked.
    let run = checked(auth(&home, &cloud).arg("list-tenants").tty(120), KEYS);
    run.ok();
    assert_eq!(
        run.lines(),
        vec![
            "NAME        SLUG          ID".to_string(),
            format!("Production  acme/prod     {PROD_ID}"),
            format!("Staging     acme/staging  {STAGING_ID}  *"),
        ]
    );
    let run = checked(
        auth(&home, &cloud).args([
            "list-tenants",
            "--jq",
            "\"\\(.workspace_handle) \\(.active)\"",
        ]),
        KEYS,
    );
    assert_eq!(run.lines(), vec!["prod false", "staging true"]);

    // Switching rewrites only the profile's PREFECT_API_URL.
    let before = read(&home);
    let run = checked(
        auth(&home, &cloud).args(["switch-tenants", "--slug", "acme/prod"]),
        KEYS,
    );
    run.ok();
    assert_eq!(
        run.stderr,
        "Tenant switched: profile 'default' now uses workspace 'acme/prod'.\n"
    );
    let after = read(&home);
    assert_eq!(
        diff(&before, &after),
        (
            vec![format!(
                "PREFECT_API_URL = \"{}\"",
                workspace_url(&cloud, STAGING_ID)
            )],
            vec![format!(
                "PREFECT_API_URL = \"{}\"",
                workspace_url(&cloud, PROD_ID)
            )]
        )
    );
    checked(
        auth(&home, &cloud).args(["switch-tenants", "--id", STAGING_ID]),
        KEYS,
    )
    .ok();
    assert_eq!(read(&home), before);
    let run = checked(
        auth(&home, &cloud).args(["switch-tenants", "--slug", "other/prod"]),
        KEYS,
    );
    run.expect_code(4);
    assert_eq!(
        err_lines(&run),
        vec![
            "pf-auth: error: workspace 'other/prod' not found",
            "hint: available workspaces: acme/prod, acme/staging",
        ]
    );
    assert_key_only_in_bearer(&cloud.requests(), GOOD_KEY);

    // Logout removes the key and the workspace URL, as `prefect cloud logout` does.
    let run = checked(auth(&home, &cloud).args(["logout", "--yes"]), KEYS);
    run.ok();
    assert_eq!(
        run.stderr,
        "Logged out of profile 'default' (removed PREFECT_API_KEY, PREFECT_API_URL).\n"
    );
    assert_eq!(read(&home), "active = \"default\"\n\n[profiles.default]\n");
}

#[test]
fn cloud_tokens_are_created_once_on_stdout_and_revoked() {
    let cloud = cloud();
    let home = logged_in(&cloud);
    let before = cloud.requests().len();

    let run = checked(
        auth(&home, &cloud).args(["create-token", "--name", "ci", "--expires", "30d"]),
        &[GOOD_KEY, BAD_KEY],
    );
    run.ok();
    assert_eq!(run.stdout, format!("{NEW_KEY}\n"));
    assert!(!run.stderr.contains(NEW_KEY));
    let requests = cloud.requests()[before..].to_vec();
    assert_eq!(
        calls(&requests),
        vec![
            "GET /api/me/".to_string(),
            format!("POST /api/users/{USER_ID}/api_keys")
        ]
    );
    let body = requests[1].json();
    assert_eq!(body["name"], "ci");
    let expiration: jiff::Timestamp = body["expiration"].as_str().unwrap().parse().unwrap();
    let in_30_days = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 30);
    assert!(
        in_30_days.duration_since(expiration).as_secs().abs() < 3600,
        "{body}"
    );
    assert_eq!(
        run.stderr,
        format!(
            "Created API key 'ci' (id {TOKEN_ID}, expires {}). It is shown only this once.\n",
            body["expiration"].as_str().unwrap()
        )
    );

    // Without --expires the key never expires: no expiration is sent.
    let run = checked(
        auth(&home, &cloud).args(["create-token", "-n", "forever"]),
        &[GOOD_KEY],
    );
    run.ok();
    assert_eq!(
        cloud.requests().last().unwrap().json(),
        json!({"name": "forever"})
    );
    checked(
        auth(&home, &cloud).args(["create-token", "-n", "x", "--expires", "soon"]),
        KEYS,
    )
    .expect_code(2);

    let run = checked(
        auth(&home, &cloud).args(["revoke-token", "--id", TOKEN_ID]),
        KEYS,
    );
    run.ok();
    assert_eq!(
        run.stderr,
        format!("Token successfully revoked: API key {TOKEN_ID}.\n")
    );
    assert_eq!(
        calls(&cloud.requests()).last().unwrap(),
        &format!("DELETE /api/users/{USER_ID}/api_keys/{TOKEN_ID}")
    );
    let run = checked(
        auth(&home, &cloud).args(["revoke-token", "--id", USER_ID]),
        KEYS,
    );
    run.expect_code(4);
    assert_eq!(
        err_lines(&run)[0],
        format!("pf-auth: error: API key {USER_ID} not found")
    );

    // Cloud documents no endpoint that lists API keys: said plainly, nothing requested.
    let count = cloud.requests().len();
    let run = checked(auth(&home, &cloud).arg("list-tokens"), KEYS);
    run.expect_code(2);
    assert_eq!(
        err_lines(&run)[0],
        "pf-auth: error: list-tokens is not available: Prefect Cloud's API has no documented endpoint that lists API keys (only create, read by id and delete)"
    );
    assert_eq!(cloud.requests().len(), count);
    assert_key_only_in_bearer(&cloud.requests(), GOOD_KEY);
}

#[test]
fn cloud_commands_on_a_self_hosted_server_are_not_available() {
    let home = temp_dir("auth-not-cloud");
    let url = "http://127.0.0.1:4200/api";
    for args in [
        vec!["list-tenants"],
        vec!["switch-tenants", "--slug", "acme/prod"],
        vec!["create-token", "--name", "ci"],
        vec!["revoke-token", "--id", TOKEN_ID],
        vec!["list-tokens"],
    ] {
        let run = checked(
            tool_in("pf-auth", &home)
                .args(&args)
                .env("PREFECT_API_URL", url),
            KEYS,
        );
        run.expect_code(2);
        assert_eq!(
            err_lines(&run),
            vec![
                format!("pf-auth: error: {} is not available: {url} is a self-hosted Prefect server, and workspaces and API keys are Prefect Cloud features", args[0]).as_str(),
                "hint: log in to Prefect Cloud with: pf-auth login --key -",
            ]
        );
    }
}
