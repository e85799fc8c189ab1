//! The web UI address of an object (`ui_url` in pf-run and pf-describe output, `--web`), for a
//! self-hosted server and for Prefect Cloud, derived as Prefect's `url_for` derives it.

use serde_json::Value;

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::profiles::ProfilesFile;

/// The UI's base URL: PREFECT_UI_URL (environment, then the profile), else the API URL with
/// `/api` dropped; for Cloud, `https://api…/api/accounts/A/workspaces/W` becomes
/// `https://app…/account/A/workspace/W` (PREFECT_CLOUD_UI_URL overrides the host part). A
/// user name and password in the URL are dropped: the address is for a browser and a terminal.
///
/// ```
/// use pf_common::weburl::ui_base_from;
/// assert_eq!(ui_base_from("http://127.0.0.1:4200/api", None, None), "http://127.0.0.1:4200");
/// assert_eq!(
///     ui_base_from("https://api.prefect.cloud/api/accounts/a1/workspaces/w1", None, None),
///     "https://app.prefect.cloud/account/a1/workspace/w1"
/// );
/// assert_eq!(ui_base_from("http://admin:pw@host:4200/api", None, None), "http://host:4200");
/// ```
pub fn ui_base_from(api_url: &str, ui_url: Option<&str>, cloud_ui_url: Option<&str>) -> String {
    if let Some(ui) = ui_url.filter(|u| !u.is_empty()) {
        return without_userinfo(ui.trim_end_matches('/'));
    }
    let mut url = without_userinfo(api_url.trim_end_matches('/'));
    if let Some(rest) = url.strip_prefix("https://api.") {
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if host.contains(".prefect.") || host.starts_with("prefect.") {
            url = match cloud_ui_url.filter(|u| !u.is_empty()) {
                Some(ui) => format!("{}/{path}", ui.trim_end_matches('/')),
                None => format!("https://app.{host}/{path}"),
            };
        }
    }
    if let Some(stripped) = url.strip_suffix("/api") {
        url = stripped.to_string();
    }
    url.replace("/api/", "/")
        .replace("/accounts/", "/account/")
        .replace("/workspaces/", "/workspace/")
}

/// [`ui_base_from`] with PREFECT_UI_URL and PREFECT_CLOUD_UI_URL from the environment or the
/// profile in effect.
pub fn ui_base(settings: &Settings) -> String {
    let file = ProfilesFile::load(&settings.profiles_path).ok();
    let setting = |key: &str| {
        std::env::var(key)
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| {
                let profile = settings.profile.as_deref()?;
                file.as_ref()?.get(profile, key)
            })
    };
    ui_base_from(
        &settings.api_url,
        setting("PREFECT_UI_URL").as_deref(),
        setting("PREFECT_CLOUD_UI_URL").as_deref(),
    )
}

/// The UI path of an object of a kind (pf's kind names: `flow-run`, `deployment`, `work-pool`,
/// …), as Prefect's `UI_URL_FORMATS`; None for kinds the UI cannot address (artifacts,
/// variables).
pub fn ui_path(kind: &str, object: &Value) -> Option<String> {
    let field = |name: &str| {
        object
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let id = field("id");
    Some(match kind {
        "flow" => format!("flows/flow/{}", id?),
        "flow-run" => format!("runs/flow-run/{}", id?),
        "task-run" => format!("runs/task-run/{}", id?),
        "deployment" => format!("deployments/deployment/{}", id?),
        "work-pool" => format!(
            "work-pools/work-pool/{}",
            crate::refs::encode_path(field("name")?)
        ),
        "work-queue" => format!("work-queues/work-queue/{}", id?),
        "block" => format!("blocks/block/{}", id?),
        "automation" => format!("automations/automation/{}", id?),
        _ => return None,
    })
}

/// The object with `ui_url` added after its own fields (unchanged for kinds without a page).
pub fn with_ui_url(settings: &Settings, kind: &str, mut object: Value) -> Value {
    if let Some(path) = ui_path(kind, &object)
        && let Value::Object(map) = &mut object
    {
        map.insert(
            "ui_url".into(),
            Value::String(format!("{}/{path}", ui_base(settings))),
        );
    }
    object
}

/// Open a URL in the user's browser: `$BROWSER` (the first of a `:`-separated list, as `gh`
/// and `git web--browse` read it) when set, else the desktop's opener (xdg-open, open, start).
pub fn open_in_browser(url: &str) -> Result<()> {
    let failed = |e: std::io::Error| {
        Error::io(
            format!("cannot open {url} in a browser (set BROWSER to choose one)"),
            e,
        )
    };
    let browser = std::env::var("BROWSER").unwrap_or_default();
    match browser.split(':').find(|b| !b.trim().is_empty()) {
        Some(browser) => {
            let status = std::process::Command::new(browser.trim())
                .arg(url)
                .stdin(std::process::Stdio::null())
                .status()
                .map_err(failed)?;
            if status.success() {
                Ok(())
            } else {
                Err(Error::Failed(format!(
                    "{browser} could not open {url} ({status})"
                )))
            }
        }
        None => open::that(url).map_err(failed),
    }
}

fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host}{}", &rest[end..]),
        None => url.to_string(),
    }
}
