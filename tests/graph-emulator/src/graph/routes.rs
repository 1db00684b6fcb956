//! Parsing Graph resource paths such as `/applications(uniqueName='x')/addPassword`.

use crate::error::GraphError;
use percent_encoding::percent_decode_str;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entity {
    Applications,
    ServicePrincipals,
    Grants,
}

impl Entity {
    fn name(self) -> &'static str {
        match self {
            Entity::Applications => "applications",
            Entity::ServicePrincipals => "servicePrincipals",
            Entity::Grants => "oauth2PermissionGrants",
        }
    }

    fn alternate_keys(self) -> &'static [&'static str] {
        match self {
            Entity::Applications => &["appId", "uniqueName"],
            Entity::ServicePrincipals => &["appId"],
            Entity::Grants => &[],
        }
    }
}

/// How an item is addressed: by object id or by an alternate key such as `appId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    Id(String),
    Alt {
        property: &'static str,
        value: String,
    },
}

impl Key {
    pub fn value(&self) -> &str {
        match self {
            Key::Id(v) | Key::Alt { value: v, .. } => v,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub entity: Entity,
    pub key: Option<Key>,
    pub action: Option<String>,
}

impl Target {
    /// The route with identifiers replaced by placeholders, used as the request-counter key.
    pub fn label(&self) -> String {
        let mut label = format!("/{}", self.entity.name());
        match &self.key {
            None => {}
            Some(Key::Id(_)) => label.push_str("/{id}"),
            Some(Key::Alt { property, .. }) => {
                label.push_str(&format!("({property}='{{{property}}}')"))
            }
        }
        if let Some(action) = &self.action {
            label.push('/');
            label.push_str(action);
        }
        label
    }
}

fn segment_error(segment: &str) -> GraphError {
    GraphError::bad_request(format!("Resource not found for the segment '{segment}'."))
}

/// Parses the path after `/v1.0`.
pub(crate) fn parse(path: &str) -> Result<Target, GraphError> {
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let Some(first) = segments.first() else {
        return Err(segment_error(""));
    };
    let (name, alt) = match first.split_once('(') {
        Some((name, rest)) => (
            name,
            Some(rest.strip_suffix(')').ok_or_else(|| segment_error(first))?),
        ),
        None => (first.as_str(), None),
    };
    let entity = [
        Entity::Applications,
        Entity::ServicePrincipals,
        Entity::Grants,
    ]
    .into_iter()
    .find(|e| e.name() == name)
    .ok_or_else(|| segment_error(name))?;
    let mut rest = segments[1..].iter();
    let key = match alt {
        Some(inner) => {
            Some(parse_alternate_key(entity, inner).ok_or_else(|| segment_error(first))?)
        }
        None => rest.next().map(|id| Key::Id(id.clone())),
    };
    let action = rest.next().cloned();
    if let Some(extra) = rest.next() {
        return Err(segment_error(extra));
    }
    if key.is_none() && action.is_some() {
        return Err(segment_error(first));
    }
    Ok(Target {
        entity,
        key,
        action,
    })
}

/// `appId='…'` with OData's doubled single quote as the escape.
fn parse_alternate_key(entity: Entity, inner: &str) -> Option<Key> {
    let (property, literal) = inner.split_once('=')?;
    let property = entity
        .alternate_keys()
        .iter()
        .find(|p| **p == property.trim())?;
    let literal = literal.trim();
    let value = literal
        .strip_prefix('\'')
        .and_then(|l| l.strip_suffix('\''))?
        .replace("''", "'");
    Some(Key::Alt { property, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_actions_and_labels() {
        let t = parse("/applications(uniqueName='it''s%20me')/addPassword").unwrap();
        assert_eq!(
            t.key,
            Some(Key::Alt {
                property: "uniqueName",
                value: "it's me".into()
            })
        );
        assert_eq!(
            t.label(),
            "/applications(uniqueName='{uniqueName}')/addPassword"
        );
        let t = parse("/applications/abc/removePassword").unwrap();
        assert_eq!(t.label(), "/applications/{id}/removePassword");
        assert_eq!(
            parse("/oauth2PermissionGrants").unwrap().label(),
            "/oauth2PermissionGrants"
        );
        assert!(parse("/users").is_err());
        assert!(parse("/servicePrincipals(uniqueName='x')").is_err());
        assert!(parse("/applications/a/b/c").is_err());
    }
}
