use drydock_core::model::Container;
use drydock_core::ports::{Notification, NotificationEvent, Notifier, NotifyError};

/// What a test set up for the [`Notifier`] contract: one notifier whose receiver accepts, and one
/// (of the same channel type) whose receiver cannot be reached, and a secret the channel's
/// configuration carries, which no error may show.
pub struct NotifierFixture<'a> {
    /// A notifier whose receiver accepts every message.
    pub accepting: &'a dyn Notifier,
    /// A notifier whose receiver is down (a closed port, a stopped broker).
    pub unreachable: &'a dyn Notifier,
    /// A secret in the notifiers' configuration (a token, a password), or `""` when it has none.
    pub secret: &'a str,
}

impl std::fmt::Debug for NotifierFixture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifierFixture")
            .field("accepting", &self.accepting.id())
            .field("unreachable", &self.unreachable.id())
            .finish_non_exhaustive()
    }
}

/// The trigger id an error names.
fn trigger_of(error: &NotifyError) -> &str {
    match error {
        NotifyError::Rejected { trigger, .. }
        | NotifyError::RateLimited { trigger, .. }
        | NotifyError::Unavailable { trigger, .. }
        | NotifyError::Refused { trigger, .. } => trigger,
        // A variant added later names its trigger too; the suite cannot check it yet.
        _ => "",
    }
}

/// Checks the [`Notifier`] contract: ids are `{type}.{name}` in lower case; a notification the
/// receiver accepts is `Ok` (and sending it again is `Ok` again); an unreachable receiver is a
/// retryable error ([`NotifyError::Unavailable`] or [`NotifyError::RateLimited`]) that names the
/// trigger and never shows the secret.
///
/// # Panics
///
/// When the notifier breaks a promise of the port; the message names it.
pub async fn notifier_contract(fixture: NotifierFixture<'_>) {
    for notifier in [fixture.accepting, fixture.unreachable] {
        let id = notifier.id();
        let (kind, name) = id
            .split_once('.')
            .unwrap_or_else(|| panic!("id `{id}` is not `{{type}}.{{name}}`"));
        assert!(
            !kind.is_empty() && !name.is_empty() && id == id.to_ascii_lowercase(),
            "id `{id}` is not `{{type}}.{{name}}` in lower case"
        );
    }
    let notification = Notification {
        event: NotificationEvent::UpdateAvailable,
        title: "New tag found for container web".into(),
        body: "Container web running with tag 1.0.0 can be updated to tag 1.1.0".into(),
        containers: vec![Container {
            id: "contract-web".into(),
            name: "web".into(),
            watcher: "local".into(),
            update_available: true,
            ..Container::default()
        }],
    };
    for attempt in ["first", "second"] {
        if let Err(e) = fixture.accepting.notify(&notification).await {
            panic!("the {attempt} delivery to an accepting receiver failed: {e}");
        }
    }
    let error = match fixture.unreachable.notify(&notification).await {
        Ok(()) => panic!("a delivery to an unreachable receiver succeeded"),
        Err(error) => error,
    };
    assert!(
        matches!(
            error,
            NotifyError::Unavailable { .. } | NotifyError::RateLimited { .. }
        ),
        "an unreachable receiver is worth retrying: {error:?}"
    );
    assert_eq!(
        trigger_of(&error),
        fixture.unreachable.id(),
        "the error names its trigger"
    );
    if !fixture.secret.is_empty() {
        let shown = format!("{error} {error:?}");
        assert!(
            !shown.contains(fixture.secret),
            "an error shows the channel's secret: {shown}"
        );
    }
}
