//! Prefect Cloud's account API: who a key belongs to, the workspaces it sees, and user API keys.
//!
//! The shapes follow what Prefect documents and its own clients use:
//! - `GET {cloud}/me/` → the user (`id`, `handle`, `email`, …), as terraform-provider-prefect's
//!   `internal/api/users.go` `User`;
//! - `GET {cloud}/me/workspaces` → `[{account_id, account_handle, workspace_id, workspace_handle,
//!   workspace_name, …}]`, as `prefect/client/cloud.py` `read_workspaces` and
//!   `prefect.client.schemas.objects.Workspace`;
//! - `POST {cloud}/users/{user_id}/api_keys` `{name, expiration}` → `{id, created, name,
//!   expiration, key}`, `GET …/api_keys/{id}` and `DELETE …/api_keys/{id}`, as
//!   terraform-provider-prefect's `internal/client/users.go`.
//!
//! Cloud documents no endpoint that lists a user's API keys; pf does not invent one.
//!
//! `{cloud}` is `PREFECT_CLOUD_API_URL` (environment, then the profile), default
//! [`DEFAULT_CLOUD_API_URL`], as in the Python client; a workspace's API URL is
//! `{cloud}/accounts/{account_id}/workspaces/{workspace_id}`.

use serde_json::{Value, json};

use crate::client::{Client, Method, Request};
use crate::config::{Secret, Settings};
use crate::error::{Error, Result};
use crate::profiles::{ProfilesFile, non_empty_env};

/// Prefect Cloud's API base URL.
pub const DEFAULT_CLOUD_API_URL: &str = "https://api.prefect.cloud/api";

/// The Cloud API base URL: `PREFECT_CLOUD_API_URL` from the environment, else from `profile`
/// in `file`, else [`DEFAULT_CLOUD_API_URL`]; without a trailing slash.
pub fn cloud_api_url(file: Option<&ProfilesFile>, profile: Option<&str>) -> String {
    let from_profile = || {
        file?
            .get(profile?, "PREFECT_CLOUD_API_URL")
            .filter(|v| !v.is_empty())
    };
    non_empty_env("PREFECT_CLOUD_API_URL")
        .or_else(from_profile)
        .unwrap_or_else(|| DEFAULT_CLOUD_API_URL.to_string())
        .trim()
        .trim_end_matches('/')
        .to_string()
}

/// The Cloud API base URL for resolved settings (their profile and the environment).
pub fn cloud_api_url_for(settings: &Settings) -> String {
    let file = ProfilesFile::load(&settings.profiles_path).ok();
    cloud_api_url(file.as_ref(), settings.profile.as_deref())
}

/// `(account_id, workspace_id)` from a workspace API URL `…/accounts/{id}/workspaces/{id}`.
///
/// ```
/// let url = "https://api.prefect.cloud/api/accounts/a1/workspaces/w1";
/// assert_eq!(pf_common::cloud::workspace_ids(url), Some(("a1".into(), "w1".into())));
/// assert_eq!(pf_common::cloud::workspace_ids("http://127.0.0.1:4200/api"), None);
/// ```
pub fn workspace_ids(api_url: &str) -> Option<(String, String)> {
    let rest = &api_url[api_url.find("/accounts/")? + "/accounts/".len()..];
    let (account, rest) = rest.split_once("/workspaces/")?;
    let workspace = rest.split('/').next()?;
    (!account.is_empty() && !account.contains('/') && !workspace.is_empty())
        .then(|| (account.to_string(), workspace.to_string()))
}

/// Whether an API URL is a Prefect Cloud workspace: it has the workspace path, or it lies under
/// the Cloud API base URL (how the Python client decides).
pub fn is_cloud_url(api_url: &str, cloud_api_url: &str) -> bool {
    workspace_ids(api_url).is_some() || api_url.starts_with(cloud_api_url)
}

/// One workspace from `GET /me/workspaces`.
#[derive(Debug, Clone, PartialEq)]
pub struct Workspace {
    /// `account_id`.
    pub account_id: String,
    /// `account_handle`.
    pub account_handle: String,
    /// `workspace_id`.
    pub workspace_id: String,
    /// `workspace_handle`.
    pub workspace_handle: String,
    /// `workspace_name` (falls back to the handle).
    pub workspace_name: String,
    /// The object as Cloud sent it.
    pub raw: Value,
}

impl Workspace {
    /// Read one entry of `/me/workspaces`; entries without ids are an error.
    pub fn from_json(value: &Value) -> Result<Workspace> {
        let field = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (account_id, workspace_id) = (field("account_id"), field("workspace_id"));
        if account_id.is_empty() || workspace_id.is_empty() {
            return Err(Error::Server {
                status: 200,
                message: format!(
                    "a workspace from /me/workspaces has no account_id or workspace_id: {value}"
                ),
            });
        }
        let workspace_handle = field("workspace_handle");
        let name = field("workspace_name");
        Ok(Workspace {
            account_id,
            account_handle: field("account_handle"),
            workspace_id,
            workspace_name: if name.is_empty() {
                workspace_handle.clone()
            } else {
                name
            },
            workspace_handle,
            raw: value.clone(),
        })
    }

    /// `ACCOUNT/WORKSPACE`, the handle `prefect cloud login --workspace` takes.
    pub fn handle(&self) -> String {
        format!("{}/{}", self.account_handle, self.workspace_handle)
    }

    /// The workspace's API URL under a Cloud API base URL.
    pub fn api_url(&self, cloud_api_url: &str) -> String {
        format!(
            "{cloud_api_url}/accounts/{}/workspaces/{}",
            self.account_id, self.workspace_id
        )
    }

    /// Whether an API URL points at this workspace.
    pub fn is_at(&self, api_url: &str) -> bool {
        workspace_ids(api_url).is_some_and(|(a, w)| a == self.account_id && w == self.workspace_id)
    }
}

/// Find a workspace by `ACCOUNT/WORKSPACE`, by a workspace handle that only one account has, or
/// by workspace id. Not found → exit 4 listing the handles the key sees.
pub fn find_workspace<'w>(workspaces: &'w [Workspace], wanted: &str) -> Result<&'w Workspace> {
    let wanted = wanted.trim();
    let exact: Vec<&Workspace> = workspaces
        .iter()
        .filter(|w| w.handle() == wanted || w.workspace_id == wanted)
        .collect();
    let candidates = if exact.is_empty() {
        workspaces
            .iter()
            .filter(|w| w.workspace_handle == wanted)
            .collect()
    } else {
        exact
    };
    match candidates.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::not_found(
            format!("workspace '{wanted}' not found"),
            Some(available_hint(workspaces)),
        )),
        several => Err(Error::Client {
            status: 0,
            message: format!(
                "workspace '{wanted}' is ambiguous: {}",
                several
                    .iter()
                    .map(|w| w.handle())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            hint: Some("give it as ACCOUNT/WORKSPACE".into()),
        }),
    }
}

/// "available workspaces: a/x, b/y" (or that there are none).
pub fn available_hint(workspaces: &[Workspace]) -> String {
    if workspaces.is_empty() {
        "this key sees no workspace; create one in the Prefect Cloud UI".into()
    } else {
        format!(
            "available workspaces: {}",
            workspaces
                .iter()
                .map(Workspace::handle)
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// A client for Prefect Cloud's account API with one API key (sent as `Authorization: Bearer`
/// and in no other header).
#[derive(Debug)]
pub struct CloudApi {
    client: Client,
}

impl CloudApi {
    /// A Cloud API client at `cloud_api_url` with `key`; TLS, timeouts, retries and custom
    /// headers come from `base` (its own API URL and credentials are not used).
    pub fn new(
        base: &Settings,
        cloud_api_url: &str,
        key: Secret,
        verbose: bool,
    ) -> Result<CloudApi> {
        let mut settings = base.clone();
        settings.api_url = cloud_api_url.trim_end_matches('/').to_string();
        settings.api_key = Some(key);
        settings.auth_string = None;
        Ok(CloudApi {
            client: Client::new(settings, verbose)?,
        })
    }

    /// The Cloud API base URL in use.
    pub fn base_url(&self) -> &str {
        &self.client.settings().api_url
    }

    /// `GET /me/`: the user the key belongs to.
    pub fn me(&self) -> Result<Value> {
        self.client.get("me/")
    }

    /// `GET /me/workspaces`: the workspaces the key can use.
    pub fn workspaces(&self) -> Result<Vec<Workspace>> {
        let value = self.client.get("me/workspaces")?;
        let items = value.as_array().ok_or_else(|| Error::Server {
            status: 200,
            message: "the answer of GET /me/workspaces is not a list".into(),
        })?;
        items.iter().map(Workspace::from_json).collect()
    }

    /// The id of the key's user (`GET /me/` → `id`).
    pub fn user_id(&self) -> Result<String> {
        let me = self.me()?;
        me.get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error::Server {
                status: 200,
                message: "the answer of GET /me/ has no id".into(),
            })
    }

    /// `POST /users/{user_id}/api_keys`: a new API key (the answer carries `key`, shown once).
    /// `expiration` is an RFC 3339 time, or None for a key that never expires.
    pub fn create_api_key(
        &self,
        user_id: &str,
        name: &str,
        expiration: Option<&str>,
    ) -> Result<Value> {
        let mut body = json!({ "name": name });
        if let Some(expiration) = expiration {
            body["expiration"] = json!(expiration);
        }
        // Not repeated on a dropped connection: a retry could make a second key.
        self.client
            .call(Request::new(Method::Post, format!("users/{user_id}/api_keys")).json(body))
    }

    /// `DELETE /users/{user_id}/api_keys/{key_id}`: revoke a key.
    pub fn delete_api_key(&self, user_id: &str, key_id: &str) -> Result<()> {
        self.client
            .delete(&format!("users/{user_id}/api_keys/{key_id}"))
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(account: &str, handle: &str, id: &str) -> Workspace {
        Workspace::from_json(&json!({
            "account_id": format!("acc-{account}"), "account_handle": account,
            "workspace_id": id, "workspace_handle": handle, "workspace_name": handle.to_uppercase(),
        }))
        .unwrap()
    }

    #[test]
    fn workspaces_are_found_by_handle_id_or_unique_short_handle() {
        let all = vec![
            ws("acme", "prod", "w1"),
            ws("acme", "dev", "w2"),
            ws("beta", "dev", "w3"),
        ];
        assert_eq!(find_workspace(&all, "acme/dev").unwrap().workspace_id, "w2");
        assert_eq!(find_workspace(&all, "w3").unwrap().handle(), "beta/dev");
        assert_eq!(find_workspace(&all, "prod").unwrap().workspace_id, "w1");
        assert_eq!(find_workspace(&all, "dev").unwrap_err().exit_code(), 4);
        let missing = find_workspace(&all, "nope").unwrap_err();
        assert_eq!(
            missing.hint(),
            Some("available workspaces: acme/prod, acme/dev, beta/dev")
        );
    }

    #[test]
    fn cloud_urls_are_recognised() {
        let w = ws("acme", "prod", "w1");
        let url = w.api_url("https://api.prefect.cloud/api");
        assert_eq!(
            url,
            "https://api.prefect.cloud/api/accounts/acc-acme/workspaces/w1"
        );
        assert!(w.is_at(&url));
        assert!(is_cloud_url(&url, DEFAULT_CLOUD_API_URL));
        assert!(!is_cloud_url(
            "http://127.0.0.1:4200/api",
            DEFAULT_CLOUD_API_URL
        ));
    }
}
