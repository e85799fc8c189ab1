//! pf-api: raw requests against the real server (GET/POST/DELETE, bodies from -d, @FILE and
//! stdin, --paginate over more than one page, errors by class, auth and CSRF).

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::faults::secured;
use crate::fixture::{Fixture, Reply};
use crate::harness::{Pf, Server, pf, temp_dir, unique};

#[test]
fn get_post_delete_with_bodies_from_flag_file_and_stdin() {
    let out = pf("pf-api").args(["GET", "/health"]).run();
    out.ok();
    assert_eq!(out.stdout, "true\n");

    let name = unique("apivar").replace('-', "_");
    let out = pf("pf-api")
        .args([
            "POST",
            "variables/",
            "-d",
            &json!({"name": name, "value": [1, 2]}).to_string(),
        ])
        .run();
    out.ok();
    assert_eq!(out.lines().len(), 1, "compact in a pipe: {out:?}");
    let created: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(created["value"], json!([1, 2]));

    // Pretty on a terminal; --jq on the answer; /api/ prefixes as the API docs write them.
    let out = pf("pf-api")
        .args(["GET", &format!("/api/variables/name/{name}")])
        .tty(100)
        .run();
    out.ok();
    assert!(out.stdout.starts_with("{\n  \"id\": "), "{}", out.stdout);
    assert_eq!(
        serde_json::from_str::<Value>(&out.stdout).unwrap()["id"],
        created["id"]
    );
    let out = pf("pf-api")
        .args(["POST", "variables/filter", "--jq", ".[].name"])
        .stdin(json!({"variables": {"name": {"any_": [name]}}}).to_string())
        .run();
    out.ok();
    assert_eq!(out.stdout, format!("{name}\n"), "body from stdin");

    let file = temp_dir("api").join("patch.json");
    std::fs::write(&file, r#"{"value": "from a file"}"#).unwrap();
    pf("pf-api")
        .args([
            "PATCH",
            &format!("variables/name/{name}"),
            "-d",
            &format!("@{}", file.display()),
        ])
        .run()
        .ok();
    let out = pf("pf-api")
        .args(["GET", &format!("variables/name/{name}"), "--jq", ".value"])
        .run();
    assert_eq!(out.stdout, "from a file\n");

    let out = pf("pf-api")
        .args(["DELETE", &format!("variables/name/{name}")])
        .run();
    out.ok();
    assert_eq!(out.stdout, "", "204: nothing to print");

    // Not found: the server's answer on stdout, one line on stderr, exit 4.
    let out = pf("pf-api")
        .args(["GET", &format!("variables/name/{name}")])
        .run();
    out.expect_code(4);
    assert_eq!(
        serde_json::from_str::<Value>(&out.stdout).unwrap(),
        json!({"detail": "Variable not found."})
    );
    assert_eq!(
        out.stderr,
        format!("pf-api: error: GET variables/name/{name} failed (404): Variable not found.\n")
    );
    let out = pf("pf-api")
        .args(["POST", "flows/filter", "-d", r#"{"limit": 500}"#])
        .run();
    out.expect_code(4);
    assert!(
        out.stderr
            .starts_with("pf-api: error: POST flows/filter failed (422):"),
        "{out:?}"
    );

    // Usage errors, before any request.
    for args in [
        vec!["POST", "flows/filter", "-d", "{not json"],
        vec!["FETCH", "flows"],
        vec!["GET", "flows/filter", "--paginate"],
        vec!["GET", "health", "-H", "no-colon"],
        vec!["POST", "flows/filter", "-d", "@/no/such/file.json"],
    ] {
        pf("pf-api").args(&args).run().expect_code(2);
    }
}

#[test]
fn paginate_walks_every_page_as_ndjson() {
    let api = Server::shared().api();
    let prefix = unique("page").replace('-', "_");
    for i in 0..205 {
        api.post(
            "variables/",
            json!({"name": format!("{prefix}_{i:03}"), "value": i}),
        );
    }
    let filter =
        json!({"variables": {"name": {"like_": format!("{prefix}%")}}, "sort": "NAME_ASC"})
            .to_string();
    let out = pf("pf-api")
        .args([
            "POST",
            "variables/filter",
            "--paginate",
            "-v",
            "-d",
            &filter,
        ])
        .run();
    out.ok();
    let objects = out.json_lines();
    assert_eq!(objects.len(), 205);
    let names: HashSet<&str> = objects
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 205);
    assert_eq!(objects[204]["name"], json!(format!("{prefix}_204")));
    let pages = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("pf: POST /variables/filter 200"))
        .count();
    assert_eq!(pages, 2, "{}", out.stderr);

    let out = pf("pf-api")
        .args([
            "POST",
            "variables/filter",
            "--paginate",
            "-d",
            &filter,
            "--jq",
            ".value",
        ])
        .run();
    assert_eq!(out.lines().len(), 205);
    assert_eq!(out.lines()[0], "0");

    // A limit in the body caps the walk; an offset is where it starts.
    let capped = |extra: Value| {
        let mut body: Value = serde_json::from_str(&filter).unwrap();
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let body = body.to_string();
        let out = pf("pf-api")
            .args([
                "POST",
                "variables/filter",
                "--paginate",
                "-d",
                &body,
                "--jq",
                ".value",
            ])
            .run();
        out.ok();
        out.lines()
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(capped(json!({"limit": 3})), ["0", "1", "2"]);
    assert_eq!(capped(json!({"offset": 202})), ["202", "203", "204"]);
}

#[test]
fn credentials_and_csrf_as_every_tool_and_exit_codes_by_class() {
    let server = secured();
    let out = Pf::new("pf-api")
        .server(server)
        .args(["GET", "flows/filter"])
        .run();
    out.expect_code(3);
    assert!(
        out.stderr
            .starts_with("pf-api: error: not authorized (401)"),
        "{out:?}"
    );

    let name = unique("csrf").replace('-', "_");
    let out = Pf::new("pf-api")
        .server(server)
        .env("PREFECT_API_AUTH_STRING", "admin:s3cret-pass")
        .args([
            "POST",
            "variables/",
            "-v",
            "-d",
            &json!({"name": name, "value": 1}).to_string(),
        ])
        .run();
    out.ok();
    assert!(out.stderr.contains("GET /csrf-token 200"), "{}", out.stderr);
    assert!(!out.stderr.contains("s3cret"), "{}", out.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&out.stdout).unwrap()["name"],
        json!(name)
    );

    // A 5xx (which a real server will not give on demand), with a header we send along.
    let fixture = Fixture::start(|_, _| {
        Reply::json(500, json!({"exception_message": "Internal Server Error"}))
    });
    let out = Pf::new("pf-api")
        .env("PREFECT_API_URL", &fixture.url)
        .args(["GET", "flows", "-H", "X-Trace-Id: abc:1"])
        .run();
    out.expect_code(5);
    assert_eq!(
        out.stdout,
        "{\"exception_message\":\"Internal Server Error\"}\n"
    );
    assert_eq!(fixture.requests()[0].header("x-trace-id"), Some("abc:1"));
}
