//! Microsoft Graph delegated permissions the NocoBase mail integration needs.
//! Single source of truth for names and GUIDs (sources: docs/entra.md "Delegated permissions").

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// appId of the Microsoft Graph resource (its service principal is the consent target).
pub const GRAPH_RESOURCE_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// One delegated Graph permission (`type: "Scope"` in `requiredResourceAccess`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GraphScope {
    /// The permission value as it appears in consent grants, e.g. `"SMTP.Send"`.
    pub name: &'static str,
    /// The permission's id in the Graph service principal's `oauth2PermissionScopes`.
    pub id: &'static str,
}

pub const EMAIL: GraphScope = GraphScope {
    name: "email",
    id: "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0",
};
pub const OFFLINE_ACCESS: GraphScope = GraphScope {
    name: "offline_access",
    id: "7427e0e9-2fba-42fe-b0c0-848c9e6a8182",
};
pub const IMAP_ACCESS_AS_USER_ALL: GraphScope = GraphScope {
    name: "IMAP.AccessAsUser.All",
    id: "652390e4-393a-48de-9484-05f9b1212954",
};
pub const SMTP_SEND: GraphScope = GraphScope {
    name: "SMTP.Send",
    id: "258f6531-6087-4cc4-bb90-092c5fb3ed3f",
};
pub const USER_READ: GraphScope = GraphScope {
    name: "User.Read",
    id: "e1fe6dd8-ba31-4d61-89e7-88639da4683d",
};
pub const OPENID: GraphScope = GraphScope {
    name: "openid",
    id: "37f7f235-527c-4136-accd-4a02d197296e",
};
pub const PROFILE: GraphScope = GraphScope {
    name: "profile",
    id: "14dad69e-099b-42c9-810b-d002981feec1",
};

/// Always requested: what NocoBase's email manager needs to send and read mail as the user.
pub const REQUIRED_SCOPES: [GraphScope; 5] = [
    EMAIL,
    OFFLINE_ACCESS,
    IMAP_ACCESS_AS_USER_ALL,
    SMTP_SEND,
    USER_READ,
];

/// Optional delegated Graph permissions that can be requested on top of the required ones
/// (email, offline_access, IMAP.AccessAsUser.All, SMTP.Send, User.Read — always present).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum ExtraScope {
    /// OpenID Connect sign-in (`openid`).
    #[serde(rename = "openid")]
    OpenId,
    /// The user's basic profile (`profile`).
    #[serde(rename = "profile")]
    Profile,
}

impl ExtraScope {
    /// The Graph permission this name stands for.
    pub fn scope(self) -> GraphScope {
        match self {
            ExtraScope::OpenId => OPENID,
            ExtraScope::Profile => PROFILE,
        }
    }
}

/// Required scopes plus the given extras, without duplicates, in a stable order
/// (required first, in [`REQUIRED_SCOPES`] order, then extras in the order given).
pub fn delegated_scopes(extra: &[ExtraScope]) -> Vec<GraphScope> {
    let mut scopes = REQUIRED_SCOPES.to_vec();
    for s in extra.iter().map(|e| e.scope()) {
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extras_are_appended_once() {
        let s = delegated_scopes(&[ExtraScope::Profile, ExtraScope::OpenId, ExtraScope::Profile]);
        assert_eq!(s.len(), 7);
        assert_eq!(&s[..5], &REQUIRED_SCOPES);
        assert_eq!(s[5], PROFILE);
        assert_eq!(s[6], OPENID);
        assert_eq!(
            s[..5].iter().map(|s| s.name).collect::<Vec<_>>().join(" "),
            "email offline_access IMAP.AccessAsUser.All SMTP.Send User.Read"
        );
    }

    #[test]
    fn extra_scope_wire_names() {
        assert_eq!(
            serde_json::to_string(&ExtraScope::OpenId).unwrap(),
            "\"openid\""
        );
        let p: ExtraScope = serde_json::from_str("\"profile\"").unwrap();
        assert_eq!(p, ExtraScope::Profile);
    }
}
