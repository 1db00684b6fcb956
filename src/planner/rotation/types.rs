//! The planner's inputs and outputs: what Entra, the Secret and the status hold, the policy, and the plan.

use chrono::{DateTime, TimeDelta, Utc};

/// One password credential as Graph lists it on the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCredential {
    pub key_id: String,
    pub display_name: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// What the Kubernetes Secret currently holds (no secret text, only facts about it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretView {
    /// keyId recorded with the current client secret (None: no Secret or no record).
    pub current_key_id: Option<String>,
    /// Whether the Secret still holds non-empty current secret text (false when deleted or edited away).
    pub has_text: bool,
    /// keyId of the previous client secret kept during an overlap.
    pub previous_key_id: Option<String>,
}

impl SecretView {
    /// The keyId of the credential the Secret holds with text: the one consumers may use, never revoked.
    pub fn held_key(&self) -> Option<&str> {
        self.current_key_id.as_deref().filter(|_| self.has_text)
    }
}

/// A superseded credential waiting to be revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retiring {
    pub key_id: String,
    pub revoke_after: DateTime<Utc>,
}

/// The rotation part of the CR status: input to the planner and, updated, its output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationStatus {
    pub current_key_id: Option<String>,
    /// When we minted the current credential (bounds how long we trust it while Graph replicates).
    pub current_created: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
    pub renewal_time: Option<DateTime<Utc>>,
    pub retiring: Vec<Retiring>,
    /// Last rotate-trigger annotation value acted on.
    pub handled_trigger: Option<String>,
    /// Sequence number of the last credential we minted.
    pub sequence: u64,
}

/// How long before notAfter to renew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewBefore {
    Duration(TimeDelta),
    /// Percentage of the lifetime left when renewing (1..=99).
    Percentage(u8),
}

/// Rotation policy from the spec (plus the controller's consistency grace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub lifetime: TimeDelta,
    /// None: renew with 1/3 of the lifetime left.
    pub renew_before: Option<RenewBefore>,
    /// How long the old credential stays valid after the Secret switched (upper bound when consumers are tracked).
    pub overlap: TimeDelta,
    /// How long a just-minted credential may be missing from Graph reads (replication lag) before we call it gone.
    pub consistency_grace: TimeDelta,
}

#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub uid: &'a str,
    pub live: &'a [LiveCredential],
    pub secret: &'a SecretView,
    pub status: &'a RotationStatus,
    pub policy: Policy,
    /// Current value of the manual rotate-trigger annotation.
    pub trigger: Option<&'a str>,
    /// Whether every configured delivery confirmed the credential the Secret holds (`planner::delivery`).
    pub delivered: bool,
    /// Entra's limit on client secrets per application (2 when personal accounts may sign in); None: no limit.
    pub max_secrets: Option<usize>,
    /// Whether consumer workloads are configured (spec.rotation.consumers): only then does a mint restart them.
    pub consumers: bool,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MintReason {
    Initial,
    /// The Secret was deleted or its text edited away.
    SecretLost,
    /// The credential the Secret holds no longer exists in Entra.
    CredentialGone,
    Renewal,
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    /// Tagged with our UID but neither in the Secret nor in status (e.g. crash after addPassword).
    Orphan,
    /// Replaced by a newer credential and the overlap/rollout is done.
    Superseded,
    /// Ours, unused, and past its end date.
    Expired,
    /// Retiring while the Secret holds no text: no delivery can ever confirm a successor, and at Entra's limit it
    /// would block the replacement until it expires. The oldest go, only as many as the mint needs.
    SecretLost,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretWrite {
    /// Write the just-minted credential as current; keep the Secret's current text as previous under this keyId.
    NewCurrent { previous_key_id: Option<String> },
    /// Rewrite the Secret without its previous slot (that credential is about to be revoked, or is gone): planned
    /// before the revocation so the Secret never holds revoked text.
    DropPrevious,
}

/// Why a live credential counts against Entra's limit when a mint is blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// The one the Secret holds (never revoked while it is there).
    InSecret,
    /// Superseded, kept until the delivery of its successor is confirmed (or it expires).
    AwaitingDelivery,
    /// Superseded and its successor confirmed, kept until the overlap (the minimum hold) ends at this instant.
    InOverlap(DateTime<Utc>),
    /// Not minted by the operator for this resource: never touched.
    Foreign,
}

/// A mint that Entra's limit on client secrets blocks: which credentials hold the slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub reason: MintReason,
    pub limit: usize,
    /// (keyId, why it is there, its end date)
    pub holders: Vec<(String, Holder, Option<DateTime<Utc>>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Mint {
        display_name: String,
        end: DateTime<Utc>,
        reason: MintReason,
    },
    WriteSecret(SecretWrite),
    RestartConsumers,
    Revoke {
        key_id: String,
        reason: RevokeReason,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Execute in order; stop at the first failure.
    pub actions: Vec<Action>,
    /// When to reconcile next (never in the past); None = nothing scheduled.
    pub requeue_at: Option<DateTime<Utc>>,
    /// Status after the actions succeed. When a mint is planned `current_key_id` is None: fill in the minted keyId.
    pub status: RotationStatus,
    /// A mint that was needed but Entra's limit on client secrets blocks (nothing minted; retried when a slot frees).
    pub blocked: Option<Blocked>,
}

impl Plan {
    /// Nothing to do and nothing blocked: the state this plan was made from needs no action.
    pub fn is_quiet(&self) -> bool {
        self.actions.is_empty() && self.blocked.is_none()
    }

    pub fn mint(&self) -> Option<(&str, DateTime<Utc>, MintReason)> {
        self.actions.iter().find_map(|a| match a {
            Action::Mint {
                display_name,
                end,
                reason,
            } => Some((display_name.as_str(), *end, *reason)),
            _ => None,
        })
    }

    pub fn revocations(&self) -> impl Iterator<Item = (&str, RevokeReason)> {
        self.actions.iter().filter_map(|a| match a {
            Action::Revoke { key_id, reason } => Some((key_id.as_str(), *reason)),
            _ => None,
        })
    }
}
