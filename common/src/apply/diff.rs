//! Field-level comparison of what the input says with what the server has: only the fields the
//! input gives are compared (so an object that says less than the server knows is unchanged),
//! `null` equals a missing field, numbers compare by value, and the fields the server fills
//! with defaults (schedules, triggers, actions) are compared on the keys the input gives.

use serde_json::{Map, Value};

/// One field that differs.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    /// The field's name.
    pub field: String,
    /// What the server has (None: absent — the object is new).
    pub old: Option<Value>,
    /// What the input says.
    pub new: Value,
}

/// The fields of `desired` that differ from `current`, in `desired`'s order. Fields in `loose`
/// compare only the keys `desired` gives (recursively).
///
/// ```
/// use serde_json::json;
/// use pf_common::apply::diff::changed_fields;
/// let desired = json!({"name": "p", "concurrency_limit": 5, "description": null});
/// let current = json!({"name": "p", "concurrency_limit": 5.0, "type": "process"});
/// assert!(changed_fields(desired.as_object().unwrap(), current.as_object().unwrap(), &[]).is_empty());
/// let desired = json!({"name": "p", "concurrency_limit": 6});
/// let changes = changed_fields(desired.as_object().unwrap(), current.as_object().unwrap(), &[]);
/// assert_eq!(changes[0].field, "concurrency_limit");
/// ```
pub fn changed_fields(
    desired: &Map<String, Value>,
    current: &Map<String, Value>,
    loose: &[&str],
) -> Vec<FieldChange> {
    desired
        .iter()
        .filter_map(|(field, new)| {
            let old = current.get(field);
            let same = if loose.contains(&field.as_str()) {
                contains(old.unwrap_or(&Value::Null), new)
            } else {
                equal(old.unwrap_or(&Value::Null), new)
            };
            (!same).then(|| FieldChange {
                field: field.clone(),
                old: old.cloned(),
                new: new.clone(),
            })
        })
        .collect()
}

/// Exact equality, except `null` ≡ absent inside objects and numbers by value.
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            let null = Value::Null;
            x.iter().all(|(k, v)| equal(v, y.get(k).unwrap_or(&null)))
                && y.iter().all(|(k, v)| equal(x.get(k).unwrap_or(&null), v))
        }
        _ => a == b,
    }
}

/// Whether `current` says everything `desired` says: objects on `desired`'s keys, lists of the
/// same length whose items match one to one, in any order.
pub fn contains(current: &Value, desired: &Value) -> bool {
    match (current, desired) {
        (Value::Object(c), Value::Object(d)) => {
            let null = Value::Null;
            d.iter()
                .all(|(k, v)| contains(c.get(k).unwrap_or(&null), v))
        }
        // In any order: the server returns a deployment's schedules newest first.
        (Value::Array(c), Value::Array(d)) => {
            let mut unused: Vec<&Value> = c.iter().collect();
            c.len() == d.len()
                && d.iter()
                    .all(|d| match unused.iter().position(|c| contains(c, d)) {
                        Some(i) => {
                            unused.swap_remove(i);
                            true
                        }
                        None => false,
                    })
        }
        (Value::Object(c), Value::Null) => c.is_empty(),
        (Value::Array(c), Value::Null) => c.is_empty(),
        _ => equal(current, desired),
    }
}

/// A field-level diff for a terminal or `-v`: one line per field, `-` old and `+` new (compact
/// JSON, long values cut). `hidden` fields show `(hidden)` instead of their values (secrets).
pub fn render(changes: &[FieldChange], hidden: &[&str]) -> String {
    let mut out = String::new();
    for change in changes {
        let show = |v: &Value| {
            if hidden.contains(&change.field.as_str()) {
                "(hidden)".to_string()
            } else {
                cut(&v.to_string())
            }
        };
        match &change.old {
            Some(old) if !old.is_null() => {
                out.push_str(&format!("    - {}: {}\n", change.field, show(old)));
                out.push_str(&format!("    + {}: {}\n", change.field, show(&change.new)));
            }
            _ => out.push_str(&format!("    + {}: {}\n", change.field, show(&change.new))),
        }
    }
    out
}

fn cut(text: &str) -> String {
    const MAX: usize = 200;
    if text.chars().count() > MAX {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn loose_fields_ignore_server_defaults() {
        let desired = json!({"schedules": [{"schedule": {"cron": "0 * * * *"}, "active": true}]});
        let current = json!({"schedules": [{"schedule": {"cron": "0 * * * *", "timezone": "UTC", "day_or": true},
            "active": true, "max_scheduled_runs": null, "slug": null}]});
        let (d, c) = (desired.as_object().unwrap(), current.as_object().unwrap());
        assert!(changed_fields(d, c, &["schedules"]).is_empty());
        assert_eq!(changed_fields(d, c, &[]).len(), 1);
        let two = json!({"schedules": [{"schedule": {"cron": "0 * * * *"}}, {"schedule": {"interval": 60}}]});
        assert_eq!(
            changed_fields(two.as_object().unwrap(), c, &["schedules"]).len(),
            1
        );
    }

    #[test]
    fn strict_fields_see_removed_keys() {
        let desired = json!({"job_variables": {"env": {"A": "1"}}});
        let current = json!({"job_variables": {"env": {"A": "1", "B": "2"}}});
        assert_eq!(
            changed_fields(
                desired.as_object().unwrap(),
                current.as_object().unwrap(),
                &[]
            )
            .len(),
            1
        );
    }

    #[test]
    fn renders_old_and_new() {
        let changes = vec![FieldChange {
            field: "tags".into(),
            old: Some(json!(["a"])),
            new: json!(["a", "b"]),
        }];
        assert_eq!(
            render(&changes, &[]),
            "    - tags: [\"a\"]\n    + tags: [\"a\",\"b\"]\n"
        );
        assert!(render(&changes, &["tags"]).contains("(hidden)"));
    }
}
