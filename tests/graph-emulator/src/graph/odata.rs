//! The OData query subset the emulator honours: `$filter` with `eq` (joined by `and`) and `$select`.

use crate::error::GraphError;
use serde_json::{Map, Value, json};

/// Adds `@odata.context` for a single entity of `set`.
pub(crate) fn entity(graph_url: &str, set: &str, value: Value) -> Value {
    with_context(value, format!("{graph_url}/$metadata#{set}/$entity"))
}

pub(crate) fn with_context(mut value: Value, context: String) -> Value {
    if let Value::Object(map) = &mut value {
        map.insert("@odata.context".to_string(), Value::String(context));
    }
    value
}

pub(crate) fn collection(graph_url: &str, set: &str, items: Vec<Value>) -> Value {
    json!({
        "@odata.context": format!("{graph_url}/$metadata#{set}"),
        "value": items,
    })
}

/// Keeps only the `$select`ed properties (and `id`), as Graph does.
pub(crate) fn select(value: Value, select: Option<&str>) -> Value {
    let (Some(select), Value::Object(map)) = (select, &value) else {
        return value;
    };
    let wanted: Vec<&str> = select.split(',').map(str::trim).collect();
    let kept: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| k.as_str() == "id" || k.starts_with('@') || wanted.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(kept)
}

/// Applies a `$filter` of `prop eq 'literal'` clauses; string comparison is case-insensitive like the directory's.
pub(crate) fn filter(
    items: Vec<Value>,
    filter: Option<&str>,
    allowed: &[&str],
    resource: &str,
) -> Result<Vec<Value>, GraphError> {
    let Some(filter) = filter.map(str::trim).filter(|f| !f.is_empty()) else {
        return Ok(items);
    };
    let mut clauses = Vec::new();
    for clause in filter.split(" and ") {
        let (property, literal) = clause
            .trim()
            .split_once(" eq ")
            .ok_or_else(|| unsupported(clause.trim(), resource))?;
        let property = property.trim();
        if !allowed.contains(&property) {
            return Err(unsupported(property, resource));
        }
        let literal = literal.trim();
        let value = literal
            .strip_prefix('\'')
            .and_then(|l| l.strip_suffix('\''))
            .ok_or_else(|| {
                GraphError::bad_request(format!(
                    "Invalid filter clause: '{literal}' is not a string literal."
                ))
            })?
            .replace("''", "'");
        clauses.push((property, value));
    }
    Ok(items
        .into_iter()
        .filter(|item| {
            clauses.iter().all(|(property, value)| {
                item.get(*property)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case(value))
            })
        })
        .collect())
}

fn unsupported(property: &str, resource: &str) -> GraphError {
    GraphError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "Request_UnsupportedQuery",
        format!(
            "Unsupported or invalid query filter clause specified for property '{property}' of resource '{resource}'."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_selects() {
        let items = vec![
            json!({"id":"1","appId":"AA"}),
            json!({"id":"2","appId":"bb"}),
        ];
        let out = filter(
            items.clone(),
            Some("appId eq 'aa'"),
            &["appId"],
            "Application",
        )
        .unwrap();
        assert_eq!(out, vec![json!({"id":"1","appId":"AA"})]);
        assert!(
            filter(
                items.clone(),
                Some("startswith(appId,'a')"),
                &["appId"],
                "Application"
            )
            .is_err()
        );
        assert!(filter(items, Some("notes eq 'x'"), &["appId"], "Application").is_err());
        assert_eq!(
            select(json!({"id":"1","a":1,"b":2}), Some("a")),
            json!({"id":"1","a":1})
        );
    }
}
