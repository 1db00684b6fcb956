//! Whether the credential the Secret holds has reached everyone who uses it. No IO.
//!
//! The previous client secret may be revoked only when every configured channel confirmed its successor
//! (docs/rotation.md "Delivery"): workloads that read the Secret (their rollout finished), NocoBase's API (the value
//! read back), a person (acknowledgement annotation naming the keyId). With no channel configured at all (an
//! explicit `acknowledgement: NotRequired` and nothing else) only the overlap decides.

/// One delivery channel's state for the credential the Secret holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    NotConfigured,
    Pending,
    Confirmed,
}

impl Confirmation {
    /// A channel that records the keyId it confirmed (NocoBase read-back, acknowledgement annotation).
    pub fn by_key(configured: bool, secret_key: Option<&str>, confirmed: Option<&str>) -> Self {
        match (configured, secret_key) {
            (false, _) => Self::NotConfigured,
            (true, Some(k)) if confirmed == Some(k) => Self::Confirmed,
            (true, _) => Self::Pending,
        }
    }
}

/// The channels of one integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deliveries {
    /// Workloads that read the Secret, confirmed by a finished rollout after the restart.
    pub consumers: Confirmation,
    /// NocoBase "Variables and secrets".
    pub variables: Confirmation,
    /// A NocoBase collection record (e.g. the email manager's settings).
    pub record: Confirmation,
    /// A person who pasted the secret into NocoBase and annotated the resource.
    pub acknowledgement: Confirmation,
}

/// A channel, for messages and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Consumers,
    Variables,
    Record,
    Acknowledgement,
}

impl Deliveries {
    fn all(&self) -> [(Channel, Confirmation); 4] {
        [
            (Channel::Consumers, self.consumers),
            (Channel::Variables, self.variables),
            (Channel::Record, self.record),
            (Channel::Acknowledgement, self.acknowledgement),
        ]
    }

    /// Whether the previous credential may go (once the overlap has passed): nothing is pending.
    pub fn confirmed(&self) -> bool {
        self.pending().is_empty()
    }

    /// The channels still waiting, in a fixed order.
    pub fn pending(&self) -> Vec<Channel> {
        self.all()
            .into_iter()
            .filter(|(_, c)| *c == Confirmation::Pending)
            .map(|(ch, _)| ch)
            .collect()
    }

    /// Whether any channel is configured.
    pub fn any_configured(&self) -> bool {
        self.all()
            .iter()
            .any(|(_, c)| *c != Confirmation::NotConfigured)
    }
}

/// The NocoBase targets to write now: configured and not yet confirmed for the credential the Secret holds. Once per
/// credential: steady state and restarts write nothing.
pub fn to_deliver(d: &Deliveries) -> (bool, bool) {
    (
        d.variables == Confirmation::Pending,
        d.record == Confirmation::Pending,
    )
}

/// The consumer channel after this reconcile's plan ran: workloads restarted now are rolling out (`pending`: or some
/// named workload does not exist, which confirms nothing); with no consumers configured there is nothing to confirm;
/// after a mint without a restart they read the new Secret when they start; otherwise what was observed still holds.
pub fn consumers_after(
    configured: bool,
    pending: bool,
    minted: bool,
    observed: Confirmation,
) -> Confirmation {
    if pending {
        Confirmation::Pending
    } else if !configured {
        Confirmation::NotConfigured
    } else if minted {
        Confirmation::Confirmed
    } else {
        observed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Confirmation::*;

    #[test]
    fn consumers_after_the_plan() {
        // A restart now means a rollout in progress, whatever was observed before.
        assert_eq!(consumers_after(true, true, true, Confirmed), Pending);
        assert_eq!(consumers_after(false, false, true, Pending), NotConfigured);
        // Minted without restarting anything: the workloads start with the new Secret.
        assert_eq!(consumers_after(true, false, true, Pending), Confirmed);
        // Nothing happened: the observation stands.
        assert_eq!(consumers_after(true, false, false, Pending), Pending);
        assert_eq!(consumers_after(true, false, false, Confirmed), Confirmed);
    }

    fn d(consumers: Confirmation, variables: Confirmation, record: Confirmation) -> Deliveries {
        Deliveries {
            consumers,
            variables,
            record,
            acknowledgement: NotConfigured,
        }
    }

    #[test]
    fn by_key_confirms_only_the_credential_the_secret_holds() {
        assert_eq!(Confirmation::by_key(false, Some("k1"), None), NotConfigured);
        assert_eq!(Confirmation::by_key(true, Some("k1"), None), Pending);
        assert_eq!(
            Confirmation::by_key(true, Some("k1"), Some("k1")),
            Confirmed
        );
        // A rotation: the Secret holds k2, k1 was confirmed before.
        assert_eq!(Confirmation::by_key(true, Some("k2"), Some("k1")), Pending);
        // Nothing in the Secret: nothing can be confirmed.
        assert_eq!(Confirmation::by_key(true, None, Some("k1")), Pending);
    }

    #[test]
    fn every_configured_channel_must_confirm() {
        assert!(d(Confirmed, Confirmed, NotConfigured).confirmed());
        assert!(!d(Confirmed, Pending, NotConfigured).confirmed());
        assert!(!d(Pending, Confirmed, Confirmed).confirmed());
        let mut x = d(NotConfigured, Confirmed, Confirmed);
        x.acknowledgement = Pending;
        assert!(!x.confirmed());
        assert_eq!(x.pending(), vec![Channel::Acknowledgement]);
    }

    #[test]
    fn nothing_configured_means_only_the_overlap_decides() {
        let x = d(NotConfigured, NotConfigured, NotConfigured);
        assert!(x.confirmed());
        assert!(!x.any_configured());
    }

    #[test]
    fn only_pending_nocobase_targets_are_written() {
        assert_eq!(to_deliver(&d(Pending, Pending, Confirmed)), (true, false));
        assert_eq!(
            to_deliver(&d(Pending, NotConfigured, NotConfigured)),
            (false, false)
        );
    }
}
