use drydock_core::image_ref::ImageReference;
use drydock_core::ports::{ScanError, Scanner};

/// What a test set up for the [`Scanner`] contract.
pub struct ScannerFixture<'a> {
    /// The scanner.
    pub scanner: &'a dyn Scanner,
    /// An image with known findings, and the ids the scan must report.
    pub vulnerable: (ImageReference, Vec<String>),
    /// An image with no finding.
    pub clean: ImageReference,
    /// An image the scanner cannot scan (missing, unreadable), if the test has one.
    pub unscannable: Option<ImageReference>,
}

impl std::fmt::Debug for ScannerFixture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScannerFixture")
            .field("scanner", &self.scanner.name())
            .finish_non_exhaustive()
    }
}

/// Checks the [`Scanner`] contract: a name; the vulnerable image's report names that image and
/// holds exactly the expected findings (each once, with a package and an installed version);
/// the clean image's report is `Ok` with no finding; an image it cannot scan is an error, never an
/// empty report (a scan that did not happen must not pass for a clean one).
///
/// # Panics
///
/// When the scanner breaks a promise of the port; the message names it.
pub async fn scanner_contract(fixture: ScannerFixture<'_>) {
    assert!(!fixture.scanner.name().is_empty(), "a scanner has a name");
    let (image, expected) = &fixture.vulnerable;
    let report = match fixture.scanner.scan(image).await {
        Ok(report) => report,
        Err(e) => panic!("scanning {image} failed: {e}"),
    };
    assert_eq!(
        report.image,
        image.to_string(),
        "the report names the image"
    );
    let mut found: Vec<String> = report
        .vulnerabilities
        .iter()
        .map(|v| v.id.clone())
        .collect();
    found.sort();
    let mut wanted = expected.clone();
    wanted.sort();
    assert_eq!(found, wanted, "the findings of {image}");
    for finding in &report.vulnerabilities {
        assert!(
            !finding.package.is_empty() && !finding.installed_version.is_empty(),
            "{} names its package and installed version",
            finding.id
        );
    }
    match fixture.scanner.scan(&fixture.clean).await {
        Ok(report) => assert!(
            report.vulnerabilities.is_empty(),
            "{} is clean: {:?}",
            fixture.clean,
            report.vulnerabilities
        ),
        Err(e) => panic!("scanning the clean {} failed: {e}", fixture.clean),
    }
    if let Some(unscannable) = &fixture.unscannable {
        match fixture.scanner.scan(unscannable).await {
            Err(ScanError::Failed { .. } | ScanError::Unavailable { .. }) => {}
            Err(other) => panic!("an unscannable image: unexpected {other:?}"),
            Ok(report) => panic!(
                "an image that cannot be scanned must be an error, not a report of {} findings",
                report.vulnerabilities.len()
            ),
        }
    }
}
