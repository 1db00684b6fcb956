//! One process-wide shutdown flag, raised by SIGTERM or SIGINT.
//!
//! tokio delivers a signal only to listeners that exist when it arrives, and kube-runtime's
//! `shutdown_on_signal` registers its listener when the controller is first polled: a SIGTERM arriving between
//! leader election and controller start was swallowed and the process ran on. The signals are registered once,
//! at start-up; everything waits on this flag instead, which also stays raised for late waiters.

use tokio::sync::watch;

/// Cloneable view of the shutdown flag. `Default` never fires (tests stop controllers by dropping them).
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<bool>);

impl Default for Shutdown {
    fn default() -> Self {
        Self(watch::channel(false).1)
    }
}

impl Shutdown {
    /// Registers SIGTERM and SIGINT handlers now and raises the flag on the first of them.
    /// Must be called inside a tokio runtime.
    pub fn on_signals() -> std::io::Result<Self> {
        let (tx, rx) = watch::channel(false);
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate())?;
            let mut int = signal(SignalKind::interrupt())?;
            tokio::spawn(async move {
                tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
                tracing::info!("shutdown requested");
                let _ = tx.send(true);
                // Keep the sender: dropping it would read as "never" to late waiters.
                std::future::pending::<()>().await;
            });
        }
        #[cfg(not(unix))]
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            let _ = tx.send(true);
            std::future::pending::<()>().await;
        });
        Ok(Self(rx))
    }

    /// Completes once shutdown was requested (at once if it already was); never for the default flag.
    pub async fn requested(self) {
        let mut rx = self.0;
        if rx.wait_for(|raised| *raised).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn late_waiters_see_a_raised_flag_and_default_never_fires() {
        let (tx, rx) = watch::channel(false);
        tx.send(true).unwrap();
        // Subscribed before, awaited after the raise: completes at once.
        tokio::time::timeout(Duration::from_secs(1), Shutdown(rx).requested())
            .await
            .expect("raised flag not seen");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), Shutdown::default().requested())
                .await
                .is_err()
        );
    }
}
