use drydock_core::model::Container;
use drydock_core::ports::{Action, ActionError};

/// What a test set up for the [`Action`] contract.
pub struct ActionFixture<'a> {
    /// The action.
    pub action: &'a dyn Action,
    /// A container with an update the action can apply.
    pub updatable: Container,
    /// The image reference the container runs after the update.
    pub expected_image: String,
    /// A container with no update available.
    pub current: Container,
}

impl std::fmt::Debug for ActionFixture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionFixture")
            .field("action", &self.action.id())
            .field("updatable", &self.updatable.name)
            .finish_non_exhaustive()
    }
}

/// Checks the [`Action`] contract: the id is `{type}.{name}`; a container without an update is
/// [`ActionError::NothingToDo`] (nothing happens); a container with one is updated, the report
/// naming the container it runs as now and the new image.
///
/// # Panics
///
/// When the action breaks a promise of the port; the message names it.
pub async fn action_contract(fixture: ActionFixture<'_>) {
    let id = fixture.action.id();
    assert!(
        id.split_once('.')
            .is_some_and(|(kind, name)| !kind.is_empty() && !name.is_empty()),
        "id `{id}` is not `{{type}}.{{name}}`"
    );
    match fixture.action.run(&fixture.current).await {
        Err(ActionError::NothingToDo { container }) => assert_eq!(
            container, fixture.current.name,
            "NothingToDo names the container"
        ),
        other => panic!("a container without an update must be NothingToDo, got {other:?}"),
    }
    let report = match fixture.action.run(&fixture.updatable).await {
        Ok(report) => report,
        Err(e) => panic!("updating {} failed: {e}", fixture.updatable.name),
    };
    assert!(
        !report.container_id.is_empty(),
        "the report names the container"
    );
    assert_eq!(
        report.image, fixture.expected_image,
        "the report names the image it runs now"
    );
    assert!(!report.summary.is_empty(), "the report says what happened");
}
