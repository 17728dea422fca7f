//! What the service manager is told (systemd `Type=notify`, sd_notify(3)): `READY=1` once
//! the DNS sockets are bound and the first snapshot answers, `RELOADING=1` with
//! `MONOTONIC_USEC` when a reload starts and `READY=1` when it ends (applied or refused),
//! `STOPPING=1` when shutdown begins. `STATUS=` carries a one-line summary for
//! `systemctl status`.
//!
//! Without `NOTIFY_SOCKET` in the environment every call does nothing. A notification that
//! cannot be sent is logged and otherwise ignored: the process serves the same either way.

use sd_notify::NotifyState;

use crate::admin::ReloadOutcome;

fn send(what: &'static str, states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, what, "cannot notify the service manager");
    }
}

/// Serving: sockets bound, first snapshot in place (or a reload finished).
pub(super) fn ready(status: &str) {
    send("ready", &[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload starts. systemd 253 and later want the monotonic time with it, to tell this
/// reload from an earlier one.
fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(
            "reloading",
            &[
                NotifyState::Reloading,
                now,
                NotifyState::Status("reloading"),
            ],
        ),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the monotonic clock for RELOADING=1");
            send(
                "reloading",
                &[NotifyState::Reloading, NotifyState::Status("reloading")],
            );
        }
    }
}

/// Runs `run` between RELOADING=1 and READY=1 and hands its outcome back; a refused reload
/// keeps serving the running configuration, so it ends with READY=1 too.
pub(super) async fn reload(run: impl std::future::Future<Output = ReloadOutcome>) -> ReloadOutcome {
    reloading();
    let outcome = run.await;
    ready(match &outcome {
        ReloadOutcome::Applied { .. } => "serving; reloaded",
        ReloadOutcome::Refused(_) => "serving; last reload refused (see the log)",
        _ => "serving; last reload failed (see the log)",
    });
    outcome
}

/// Shutdown begins (SIGTERM, SIGINT, or a fatal task failure).
pub(super) fn stopping() {
    send(
        "stopping",
        &[NotifyState::Stopping, NotifyState::Status("stopping")],
    );
}
