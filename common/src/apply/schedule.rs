//! pf-apply of one schedule of a deployment. The server has no lookup of a schedule by a name,
//! so the deployment's schedules are read and the one meant is found by its slug, or, for a
//! schedule without a slug, by an identical schedule (the keys the input gives, as the server
//! fills in defaults such as `anchor_date`). Created with `POST deployments/{id}/schedules`,
//! changed with `PATCH deployments/{id}/schedules/{schedule_id}` (only the fields that differ).

use serde_json::{Map, Value, json};

use super::diff::{FieldChange, changed_fields};
use super::prepare::Item;
use super::upsert::{Applied, Applier, Outcome};
use crate::client::{Method, Request};
use crate::error::{Error, Result};

/// How a schedule shows in rows: `FLOW/DEPLOYMENT/SLUG`, or `FLOW/DEPLOYMENT/cron 0 3 * * *`
/// (the schedule's spec) when it has no slug.
pub fn display_key(object: &Map<String, Value>) -> String {
    let deployment = object
        .get("deployment")
        .and_then(Value::as_str)
        .unwrap_or("?");
    match slug(object) {
        Some(slug) => format!("{deployment}/{slug}"),
        None => format!(
            "{deployment}/{}",
            describe(object.get("schedule").unwrap_or(&Value::Null))
        ),
    }
}

fn slug(object: &Map<String, Value>) -> Option<&str> {
    object
        .get("slug")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `cron 0 3 * * *`, `interval 3600`, `rrule FREQ=DAILY`: what kind of schedule, and its value.
fn describe(schedule: &Value) -> String {
    ["cron", "interval", "rrule"]
        .iter()
        .find_map(|field| {
            let value = schedule.get(*field)?;
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            Some(format!("{field} {text}"))
        })
        .unwrap_or_else(|| schedule.to_string())
}

impl Applier<'_> {
    /// Create or update one schedule (a [`Item`] of kind `schedule`): the deployment is looked
    /// up by `FLOW/DEPLOYMENT` (an unknown one is this object's refusal, with its name).
    pub(super) fn apply_schedule(&mut self, item: &Item) -> Result<Applied> {
        let mut desired = item.object.clone();
        let deployment = desired
            .remove("deployment")
            .and_then(|d| d.as_str().map(str::to_string))
            .unwrap_or_default();
        if !desired.get("schedule").is_some_and(Value::is_object) {
            return Err(Error::usage_hint(
                format!("schedule '{}' has no 'schedule'", display_key(&item.object)),
                "give one of schedule={\"cron\": …}, {\"interval\": SECONDS}, {\"rrule\": …}",
            ));
        }
        let deployment_id = self.names.id_of(self.client, "deployment", &deployment)?;
        let path = format!("deployments/{deployment_id}/schedules");
        // A deployment this dry run would create has no schedules yet (404 for its placeholder).
        let schedules = match self.client.get(&path) {
            Ok(list) => list.as_array().cloned().unwrap_or_default(),
            Err(Error::Client { status: 404, .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        let existing = schedules
            .into_iter()
            .filter_map(|s| match s {
                Value::Object(map) => Some(map),
                _ => None,
            })
            .find(|existing| match slug(&desired) {
                Some(wanted) => slug(existing) == Some(wanted),
                None => {
                    let spec: Map<String, Value> =
                        std::iter::once(("schedule".to_string(), desired["schedule"].clone()))
                            .collect();
                    changed_fields(&spec, existing, &["schedule"]).is_empty()
                }
            });
        let Some(existing) = existing else {
            let changes = desired
                .iter()
                .map(|(field, value)| FieldChange {
                    field: field.clone(),
                    old: None,
                    new: value.clone(),
                })
                .collect();
            let mut id = None;
            if !self.dry_run {
                self.writes += 1;
                let created = self.client.post(&path, json!([desired]))?;
                id = created
                    .pointer("/0/id")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            return Ok(Applied {
                outcome: Outcome::Created,
                id,
                changes,
            });
        };
        let id = existing
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let changes = changed_fields(&desired, &existing, item.spec.loose);
        if changes.is_empty() {
            return Ok(Applied {
                outcome: Outcome::Unchanged,
                id: Some(id),
                changes,
            });
        }
        if !self.dry_run {
            let body: Map<String, Value> = changes
                .iter()
                .map(|c| (c.field.clone(), c.new.clone()))
                .collect();
            self.writes += 1;
            self.client.call(
                Request::new(Method::Patch, format!("{path}/{id}")).json(Value::Object(body)),
            )?;
        }
        Ok(Applied {
            outcome: Outcome::Updated(changes.iter().map(|c| c.field.clone()).collect()),
            id: Some(id),
            changes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_shows_by_slug_else_by_its_spec() {
        let with_slug =
            json!({"deployment": "etl/nightly", "slug": "hourly", "schedule": {"interval": 3600}});
        assert_eq!(
            display_key(with_slug.as_object().unwrap()),
            "etl/nightly/hourly"
        );
        let without = json!({"deployment": "etl/nightly", "schedule": {"cron": "0 3 * * *"}});
        assert_eq!(
            display_key(without.as_object().unwrap()),
            "etl/nightly/cron 0 3 * * *"
        );
    }
}
