//! Which profile a command edits, and the `profiles` / `use` commands.

use pf_common::cli::{OutputArgs, warn};
use pf_common::config::Secret;
use pf_common::output::Cell;
use pf_common::profiles::{ProfilesFile, profiles_path};
use pf_common::{Error, Result};
use serde_json::json;

/// The profile name used when the file names no active profile.
pub const DEFAULT_PROFILE: &str = "default";

/// The profile a command acts on: `--profile`, else PREFECT_PROFILE, else the file's `active`,
/// else `default`.
pub fn target_name(file: &ProfilesFile, flag: Option<&str>) -> String {
    flag.map(str::to_string)
        .or_else(|| env("PREFECT_PROFILE"))
        .or_else(|| file.active().map(str::to_string))
        .unwrap_or_else(|| DEFAULT_PROFILE.to_string())
}

/// A non-empty environment variable.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Make `profile` the active one when the file has none yet; otherwise return a note on how to
/// use it when it is not the active one.
pub fn activate_if_first(file: &mut ProfilesFile, profile: &str) -> Option<String> {
    match file.active() {
        None => {
            file.set_active(profile);
            None
        }
        Some(active) if active != profile && env("PREFECT_PROFILE").as_deref() != Some(profile) => {
            Some(format!(
                "Profile '{profile}' is not the active one ('{active}'): use it with --profile {profile}, or make it active with: pf-auth use {profile}"
            ))
        }
        Some(_) => None,
    }
}

/// How a profile authenticates: `api-key`, `auth-string` or `none` (the auth string wins, as in
/// the client).
pub fn auth_kind(file: &ProfilesFile, profile: &str) -> &'static str {
    let has = |key: &str| file.get(profile, key).is_some_and(|v| !v.is_empty());
    if has("PREFECT_API_AUTH_STRING") {
        "auth-string"
    } else if has("PREFECT_API_KEY") {
        "api-key"
    } else {
        "none"
    }
}

/// A form of a basic-auth string safe to show: the user name only (`admin:…`).
pub fn redact_auth_string(secret: &Secret) -> String {
    match secret.expose().split_once(':') {
        Some((user, _)) if !user.is_empty() => format!("{user}:…"),
        _ => "…".into(),
    }
}

/// `pf-auth profiles`: every profile of profiles.toml, the one in effect marked `*`.
pub fn list(output: &OutputArgs, flag: Option<&str>) -> Result<i32> {
    let file = ProfilesFile::load(&profiles_path())?;
    let in_effect = flag
        .map(str::to_string)
        .or_else(|| env("PREFECT_PROFILE"))
        .or(file.active().map(str::to_string));
    let mut printer = output.printer()?;
    printer.columns(&["NAME", "API URL", "AUTH", ""]);
    let rows: Vec<_> = file
        .names()
        .into_iter()
        .map(|name| {
            json!({
                "name": name,
                "active": in_effect.as_deref() == Some(name.as_str()),
                "api_url": file.get(&name, "PREFECT_API_URL"),
                "auth": auth_kind(&file, &name),
            })
        })
        .collect();
    printer.page(&rows, |row| {
        vec![
            Cell::from_json(row.get("name")),
            Cell::from_json(row.get("api_url")),
            Cell::from_json(row.get("auth")),
            Cell::Text(if row["active"] == true {
                "*".into()
            } else {
                String::new()
            }),
        ]
    })?;
    printer.finish()?;
    Ok(0)
}

/// `pf-auth use NAME`: make a profile the active one.
pub fn use_profile(name: &str) -> Result<i32> {
    let mut file = ProfilesFile::load(&profiles_path())?;
    if !file.has(name) {
        let known = file.names();
        return Err(Error::usage_hint(
            format!("profile '{name}' not found in {}", file.path().display()),
            if known.is_empty() {
                "create it with: pf-auth login --profile NAME".into()
            } else {
                format!("known profiles: {}", known.join(", "))
            },
        ));
    }
    if file.active() != Some(name) {
        file.set_active(name);
        file.save()?;
    }
    eprintln!("Switched to profile '{name}'.");
    if let Some(other) = env("PREFECT_PROFILE").filter(|p| p != name) {
        warn(
            "pf-auth",
            format!(
                "PREFECT_PROFILE={other} in the environment still overrides the active profile"
            ),
        );
    }
    Ok(0)
}
