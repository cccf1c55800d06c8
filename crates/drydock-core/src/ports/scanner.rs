//! The [`Scanner`] port: vulnerability scanning of an image.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::image_ref::ImageReference;

/// A vulnerability scanner (Trivy, Grype).
#[async_trait]
pub trait Scanner: Send + Sync {
    /// The scanner's name (`trivy`).
    ///
    /// Errors: none.
    fn name(&self) -> &str;

    /// Scans an image: every finding the scanner reports for it, in the scanner's order.
    ///
    /// Errors: [`ScanError::Unavailable`] when the scanner cannot run at all (not installed, not
    /// reachable: worth retrying later), [`ScanError::Failed`] when it ran on this image and failed
    /// (an image it cannot read). A scan with no findings is `Ok` with an empty list.
    async fn scan(&self, image: &ImageReference) -> Result<ScanReport, ScanError>;
}

/// The findings of one scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanReport {
    /// The image scanned.
    pub image: String,
    /// When.
    pub scanned_at: DateTime<Utc>,
    /// What was found.
    pub vulnerabilities: Vec<Vulnerability>,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vulnerability {
    /// Identifier (`CVE-2024-1234`).
    pub id: String,
    /// Severity.
    pub severity: Severity,
    /// Affected package.
    pub package: String,
    /// Installed version of the package.
    pub installed_version: String,
    /// First fixed version, if any.
    pub fixed_version: Option<String>,
}

/// Vulnerability severities, least severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Not rated.
    Unknown,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

/// Why a scan failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The scanner is not installed or not reachable.
    #[error("scanner unavailable: {reason}")]
    Unavailable {
        /// What happened.
        reason: String,
    },
    /// The scan ran and failed.
    #[error("scan of {image} failed: {reason}")]
    Failed {
        /// The image.
        image: String,
        /// What happened.
        reason: String,
    },
}
