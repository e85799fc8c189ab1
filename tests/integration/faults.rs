//! Configuration precedence, auth, CSRF, retries and network failures.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::fixture::{Fixture, Reply};
use crate::harness::{Pf, Server, free_port, pf, temp_dir};

/// A second real server with basic auth and CSRF protection on.
pub fn secured() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| {
        Server::start(&[
            ("PREFECT_SERVER_API_AUTH_STRING", "admin:s3cret-pass"),
            ("PREFECT_SERVER_CSRF_PROTECTION_ENABLED", "true"),
        ])
    })
}

#[test]
fn a_server_with_an_auth_string_needs_credentials() {
    let server = secured();
    let run = Pf::new("pf-get").server(server).arg("flows").run();
    run.expect_code(3);
    assert!(
        run.stderr
            .starts_with("pf-get: error: not authorized (401)"),
        "{run:?}"
    );
    assert!(run.stderr.contains("hint: set PREFECT_API_KEY"), "{run:?}");

    let run = Pf::new("pf-get")
        .server(server)
        .arg("flows")
        .env("PREFECT_API_AUTH_STRING", "admin:wrong")
        .run();
    run.expect_code(3);
    assert!(!run.stderr.contains("admin:wrong"));

    // Right credentials: works, through the CSRF token flow (filters are POSTs).
    let run = Pf::new("pf-get")
        .server(server)
        .args(["flows", "-v"])
        .env("PREFECT_API_AUTH_STRING", "admin:s3cret-pass")
        .run();
    run.ok();
    assert!(run.stderr.contains("GET /csrf-token 200"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cret"), "secrets never in traces");
}

#[test]
fn the_active_profile_is_honoured_and_env_and_flags_win_over_it() {
    let server = Server::shared();
    let home = temp_dir("profiles");
    let dead = format!("http://127.0.0.1:{}/api", free_port());
    std::fs::write(
        home.join("profiles.toml"),
        format!(
            "active = \"local\"\n\n[profiles.local]\nPREFECT_API_URL = \"{}\"\n\n[profiles.dead]\nPREFECT_API_URL = \"{dead}\"\n",
            server.url
        ),
    )
    .unwrap();
    let with_home = |pf: Pf| pf.env("PREFECT_HOME", &home);

    with_home(Pf::new("pf-get").arg("flows")).run().ok();
    // PREFECT_PROFILE picks another profile.
    with_home(
        Pf::new("pf-get")
            .arg("flows")
            .env("PREFECT_PROFILE", "dead"),
    )
    .run()
    .expect_code(7);
    // --profile wins over PREFECT_PROFILE.
    with_home(
        Pf::new("pf-get")
            .args(["flows", "--profile", "local"])
            .env("PREFECT_PROFILE", "dead"),
    )
    .run()
    .ok();
    // Env wins over the profile.
    with_home(Pf::new("pf-get").arg("flows").env("PREFECT_API_URL", &dead))
        .run()
        .expect_code(7);
    // The flag wins over env.
    with_home(
        Pf::new("pf-get")
            .args(["flows", "--api-url", &server.url])
            .env("PREFECT_API_URL", &dead),
    )
    .run()
    .ok();
    // PREFECT_PROFILES_PATH points elsewhere.
    let other = temp_dir("profiles-path").join("p.toml");
    std::fs::write(
        &other,
        format!("active = \"x\"\n[profiles.x]\nPREFECT_API_URL = \"{dead}\"\n"),
    )
    .unwrap();
    with_home(
        Pf::new("pf-get")
            .arg("flows")
            .env("PREFECT_PROFILES_PATH", &other),
    )
    .run()
    .expect_code(7);
    // An unknown profile is a usage error naming the known ones.
    let run = with_home(Pf::new("pf-get").args(["flows", "--profile", "nope"])).run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("known profiles: local, dead"),
        "{run:?}"
    );
    // A corrupt file is a clear error.
    let bad = temp_dir("bad-profiles");
    std::fs::write(bad.join("profiles.toml"), "active = \n[[[").unwrap();
    let run = Pf::new("pf-get")
        .arg("flows")
        .env("PREFECT_HOME", &bad)
        .run();
    run.expect_code(2);
    assert!(run.stderr.contains("is not valid TOML"), "{run:?}");
}

#[test]
fn a_server_that_is_down_exits_7_within_seconds() {
    let started = Instant::now();
    let run = Pf::new("pf-get")
        .arg("flows")
        .env(
            "PREFECT_API_URL",
            format!("http://127.0.0.1:{}/api", free_port()),
        )
        .run();
    run.expect_code(7);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        run.stderr.contains("cannot connect to http://127.0.0.1:"),
        "{run:?}"
    );
    assert!(run.stderr.contains("hint: is the server running?"));
    // A password in the URL never reaches an error message.
    let run = Pf::new("pf-get")
        .arg("flows")
        .env(
            "PREFECT_API_URL",
            format!("http://user:s3cret@127.0.0.1:{}/api", free_port()),
        )
        .run();
    run.expect_code(7);
    assert!(
        !run.stderr.contains("s3cret") && run.stderr.contains("http://127.0.0.1:"),
        "{run:?}"
    );
}

#[test]
fn retry_after_is_honoured_and_requests_are_counted() {
    let fixture = Fixture::start(|_, index| {
        if index < 2 {
            Reply::json(503, json!({"detail": "busy"})).with_header("Retry-After", "1")
        } else {
            Reply::json(
                200,
                json!([{"id": "f1", "name": "after-retry", "tags": [], "created": "2024-01-01T00:00:00Z"}]),
            )
        }
    });
    let run = Pf::new("pf-get")
        .arg("flows")
        .env("PREFECT_API_URL", &fixture.url)
        .run();
    run.ok();
    assert_eq!(run.json_lines()[0]["name"], "after-retry");
    let requests = fixture.requests();
    assert_eq!(requests.len(), 3);
    for pair in requests.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(1000),
            "Retry-After: 1 not honoured: {gap:?}"
        );
        assert!(
            gap < Duration::from_millis(2500),
            "waited too long: {gap:?}"
        );
    }
}

#[test]
fn retries_give_up_after_the_configured_count_with_exit_5() {
    let fixture = Fixture::start(|_, _| {
        Reply::json(503, json!({"detail": "down for maintenance"})).with_header("Retry-After", "0")
    });
    let run = Pf::new("pf-get")
        .arg("flows")
        .env("PREFECT_API_URL", &fixture.url)
        .env("PREFECT_CLIENT_MAX_RETRIES", "2")
        .run();
    run.expect_code(5);
    assert!(run.stderr.contains("down for maintenance"), "{run:?}");
    assert_eq!(fixture.requests().len(), 3);
}

#[test]
fn dropped_connections_and_extra_codes_are_retried() {
    let fixture = Fixture::start(|_, index| match index {
        0 => Reply::Drop,
        1 => Reply::json(418, json!({"detail": "teapot"})),
        _ => Reply::json(200, json!([])),
    });
    let run = Pf::new("pf-get")
        .arg("flows")
        .env("PREFECT_API_URL", &fixture.url)
        .env("PREFECT_CLIENT_RETRY_EXTRA_CODES", "418")
        .run();
    run.ok();
    assert_eq!(fixture.requests().len(), 3);
}

#[test]
fn every_request_carries_the_headers_and_the_key_only_as_bearer() {
    let fixture = Fixture::start(|_, _| Reply::json(200, json!([])));
    let key = "pnu_abcdefghijklmnopqrstuvwxyz0123456789";
    let run = Pf::new("pf-get")
        .args(["flows", "-v"])
        .env("PREFECT_API_URL", &fixture.url)
        .env("PREFECT_API_KEY", key)
        .env("PREFECT_CLIENT_CUSTOM_HEADERS", r#"{"X-Team": "data"}"#)
        .run();
    run.ok();
    let r = &fixture.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/api/flows/filter");
    assert_eq!(r.header("x-prefect-api-version"), Some("0.8.4"));
    assert!(r.header("user-agent").unwrap().starts_with("pf/"));
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {key}").as_str())
    );
    assert_eq!(r.header("x-team"), Some("data"));
    assert_eq!(r.json()["limit"], json!(200));
    assert!(!run.stderr.contains(key) && !run.stdout.contains(key));
    assert!(
        run.stderr.contains("pf: POST /flows/filter 200"),
        "{}",
        run.stderr
    );

    // Basic auth wins over the key.
    let run = Pf::new("pf-get")
        .arg("flows")
        .env("PREFECT_API_URL", &fixture.url)
        .env("PREFECT_API_KEY", key)
        .env("PREFECT_API_AUTH_STRING", "u:p")
        .run();
    run.ok();
    assert_eq!(
        fixture.requests().last().unwrap().header("authorization"),
        Some("Basic dTpw")
    );
}

#[test]
fn http_errors_are_summarised_by_class() {
    let fixture = Fixture::start(|_, _| {
        Reply::json(
            422,
            json!({"exception_message": "Invalid request received.", "exception_detail": [{"loc": ["body", "limit"], "msg": "Input should be less than or equal to 200", "type": "x"}]}),
        )
    });
    let run = Pf::new("pf-get")
        .arg("flows")
        .env("PREFECT_API_URL", &fixture.url)
        .run();
    run.expect_code(4);
    assert_eq!(
        run.stderr.lines().next().unwrap(),
        "pf-get: error: POST flows/filter failed (422): Invalid request received.: body.limit: Input should be less than or equal to 200"
    );
}

#[test]
fn pf_get_against_the_shared_server_sends_no_csrf_when_off() {
    // The shared server has CSRF off: no token request is made.
    let run = pf("pf-get").args(["flows", "-v", "--limit", "1"]).run();
    run.ok();
    assert!(!run.stderr.contains("csrf"), "{}", run.stderr);
}
