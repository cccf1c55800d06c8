//! The one-line edit that moves a compose service to a new image.
//!
//! [`patch_image`] rewrites the `image:` value of one service and leaves every other byte of the
//! file as it was: comments, blank lines, indentation, key order, the value's quotes, a trailing
//! comment on the image line, CRLF line endings. It is a careful line scan, not a YAML parser and
//! serializer (a serializer would reformat the user's file). Whatever the scan cannot read with
//! certainty (flow-style services, aliases, `<<:` merges, multi-line values, variable
//! interpolation, anchors shared with other nodes, malformed indentation) is refused with a
//! [`ComposeError`] naming the service and the reason: the action never makes a wrong edit.
//!
//! # Example
//!
//! ```
//! use drydock_actions::compose::patch_image;
//!
//! let file = "services:\n  web:\n    image: \"nginx:1.25\"  # pinned\n    ports:\n      - \"80:80\"\n";
//! let patched = patch_image(file, "web", "nginx:1.27")?;
//! assert_eq!(patched.line, 3);
//! assert_eq!(patched.old_image, "nginx:1.25");
//! assert_eq!(
//!     patched.text,
//!     "services:\n  web:\n    image: \"nginx:1.27\"  # pinned\n    ports:\n      - \"80:80\"\n"
//! );
//! # Ok::<(), drydock_actions::compose::ComposeError>(())
//! ```

use drydock_core::image_ref::{ImageRefError, ImageReference};

mod scan;
#[cfg(test)]
mod tests;

use self::scan::{
    Entry, Quote, ScanError, Value, alias_used, decode_double, inner, is_null, plain_is_string,
    plain_is_valid, scan, split_lines,
};

/// The result of [`patch_image`]: the new text and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patched {
    /// The whole file with the one `image:` value replaced.
    pub text: String,
    /// The 1-based number of the line that changed.
    pub line: usize,
    /// The image the service had, unquoted, as written in the file.
    pub old_image: String,
}

/// Why [`patch_image`] refused to edit a compose file. Every message names the service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ComposeError {
    /// The new image is not a valid image reference.
    #[error("cannot move service {service:?} to image {image:?}: {source}")]
    InvalidImage {
        /// The service to update.
        service: String,
        /// The rejected image.
        image: String,
        /// Why the image reference is invalid.
        source: ImageRefError,
    },
    /// The file has no top-level `services:` key.
    #[error("cannot update service {service:?}: the file has no top-level `services:` key")]
    NoServices {
        /// The service to update.
        service: String,
    },
    /// No service of that name under `services:`.
    #[error("cannot update service {service:?}: there is no such service under `services:`")]
    ServiceNotFound {
        /// The service to update.
        service: String,
    },
    /// The service has no `image:` key of its own (a build-only or `extends` service).
    #[error(
        "cannot update service {service:?} (line {line}): it has no `image:` key of its own \
         (build-only or `extends` service?)"
    )]
    NoImage {
        /// The service to update.
        service: String,
        /// The 1-based line of the service's key.
        line: usize,
    },
    /// The file is valid YAML (as far as the scan can tell) but written in a way the line scan
    /// does not edit safely: flow style, aliases, merges, shared anchors, multi-line values,
    /// variable interpolation, duplicate keys.
    #[error("cannot update service {service:?} (line {line}): {reason}")]
    Unsupported {
        /// The service to update.
        service: String,
        /// The 1-based line of the construct.
        line: usize,
        /// What the construct is and why it is refused.
        reason: String,
    },
    /// The text is not valid YAML where the scan needs to read it.
    #[error("cannot update service {service:?}: line {line} is malformed: {reason}")]
    Malformed {
        /// The service to update.
        service: String,
        /// The 1-based line that could not be read.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// Changes the `image:` of service `service` in the compose file `text` to `new_image`.
///
/// Only the value changes: the line keeps its indentation, the key's spelling, the value's
/// quotes (`'…'`, `"…"` or none) and anything after the value (spaces, a `# comment`, the line
/// ending). Every other line is left byte for byte. An unquoted value stays unquoted unless YAML
/// would read the new image as something other than a string (`123`, `null`, `[::1]:5000/x`),
/// in which case it is written in double quotes.
///
/// Only the service's own `image:` key is changed: the key at the service's direct child
/// indentation. `image:` keys nested deeper (under `build:`, `labels:`, `x-…`), in other
/// services, in comments or in block scalars are never touched.
///
/// # Errors
///
/// A [`ComposeError`] naming the service when `new_image` is not a valid reference, when the
/// service or its own `image:` line is missing, and whenever the scan cannot be certain of the
/// edit: flow-style `services:` or service, an image by alias or `<<:` merge, an anchor on the
/// path that other nodes alias, a multi-line, empty, null, tagged or interpolated (`${TAG}`)
/// image value, duplicate keys, several YAML documents, tab indentation, unterminated quotes
/// or brackets, inconsistent indentation.
pub fn patch_image(text: &str, service: &str, new_image: &str) -> Result<Patched, ComposeError> {
    let err = Errors { service };
    if let Err(source) = ImageReference::parse(new_image) {
        return Err(ComposeError::InvalidImage {
            service: service.to_owned(),
            image: new_image.to_owned(),
            source,
        });
    }
    let lines = split_lines(text).map_err(|(line, reason)| err.malformed(line, reason))?;
    let entries = scan(&lines).map_err(|e| match e {
        ScanError::Malformed(line, reason) => err.malformed(line, reason),
        ScanError::Unsupported(line, reason) => err.unsupported(line, reason.to_owned()),
    })?;
    let path = find_image(&entries, &err)?;
    for entry in path {
        for anchor in &entry.anchors {
            if alias_used(&lines, anchor) {
                return Err(err.unsupported(
                    entry.index,
                    format!(
                        "the anchor &{anchor} on this line is aliased elsewhere in the file; \
                         editing it would change the aliases too"
                    ),
                ));
            }
        }
    }
    let [.., target] = path;

    let line = lines
        .get(target.index)
        .ok_or_else(|| err.malformed(target.index, "internal"))?;
    let (range, style) = match &target.value {
        Value::Plain(r) => (r.clone(), Quote::None),
        Value::Single(r) => (r.clone(), Quote::Single),
        Value::Double(r) => (r.clone(), Quote::Double),
        _ => return Err(err.unsupported(target.index, "internal: not a scalar".to_owned())),
    };
    let raw = line
        .text
        .get(range.clone())
        .ok_or_else(|| err.malformed(target.index, "internal"))?;
    let old_image = match style {
        Quote::None => raw.to_owned(),
        Quote::Single => inner(raw).replace("''", "'"),
        Quote::Double => decode_double(inner(raw))
            .ok_or_else(|| err.unsupported(target.index, escapes_reason()))?,
    };
    if style == Quote::None && !plain_is_valid(&old_image) {
        return Err(err.malformed(
            target.index,
            "its unquoted `image:` value is not valid YAML",
        ));
    }
    if old_image.contains('$') {
        return Err(err.unsupported(
            target.index,
            format!(
                "its image {old_image:?} uses variable interpolation; \
                 change the variable instead"
            ),
        ));
    }
    if style == Quote::None && is_null(&old_image) {
        return Err(err.unsupported(target.index, "its `image:` is null".to_owned()));
    }
    if old_image.is_empty() {
        return Err(err.unsupported(target.index, "its `image:` is empty".to_owned()));
    }

    let value = match style {
        Quote::Single => format!("'{new_image}'"),
        Quote::Double => format!("\"{new_image}\""),
        Quote::None if plain_is_string(new_image) => new_image.to_owned(),
        Quote::None => format!("\"{new_image}\""),
    };
    let start = line.start + range.start;
    let end = line.start + range.end;
    let (Some(before), Some(after)) = (text.get(..start), text.get(end..)) else {
        return Err(err.malformed(target.index, "internal"));
    };
    Ok(Patched {
        text: format!("{before}{value}{after}"),
        line: target.index + 1,
        old_image,
    })
}

fn escapes_reason() -> String {
    "its image is a double-quoted string with escape sequences".to_owned()
}

/// Builds the errors of one call, all naming the service.
struct Errors<'s> {
    service: &'s str,
}

impl Errors<'_> {
    fn malformed(&self, index: usize, reason: &str) -> ComposeError {
        ComposeError::Malformed {
            service: self.service.to_owned(),
            line: index + 1,
            reason: reason.to_owned(),
        }
    }

    fn unsupported(&self, index: usize, reason: String) -> ComposeError {
        ComposeError::Unsupported {
            service: self.service.to_owned(),
            line: index + 1,
            reason,
        }
    }
}

/// The entries of `services:`, of the service and of its own `image:` line, after every check
/// but the anchors'.
fn find_image<'e>(entries: &'e [Entry], err: &Errors<'_>) -> Result<[&'e Entry; 3], ComposeError> {
    let is_key = |e: &Entry, name: &str| !e.seq && e.key.as_deref() == Some(name);

    // The top-level `services:` key.
    let tops: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].indent == 0 && is_key(&entries[i], "services"))
        .collect();
    let &[top] = tops.as_slice() else {
        return match tops.get(1) {
            Some(&second) => Err(err.unsupported(
                entries[second].index,
                "the file has two top-level `services:` keys".to_owned(),
            )),
            None => Err(ComposeError::NoServices {
                service: err.service.to_owned(),
            }),
        };
    };
    let services = &entries[top];
    check_mapping_header(services, "`services:`", err)?;

    // The services: every entry up to the next top-level one.
    let block_end = (top + 1..entries.len())
        .find(|&i| entries[i].indent == 0)
        .unwrap_or(entries.len());
    let block = &entries[top + 1..block_end];
    let Some(service_indent) = block.first().map(|e| e.indent) else {
        return Err(ComposeError::ServiceNotFound {
            service: err.service.to_owned(),
        });
    };
    let mut found: Option<usize> = None;
    for (offset, entry) in block.iter().enumerate() {
        if entry.indent < service_indent {
            return Err(err.malformed(
                entry.index,
                "its indentation does not match the services above it",
            ));
        }
        if entry.indent > service_indent {
            continue;
        }
        if entry.seq || entry.unreadable || entry.key.is_none() {
            return Err(err.unsupported(
                entry.index,
                "`services:` holds something other than `name:` keys".to_owned(),
            ));
        }
        if entry.key.as_deref() == Some(err.service) {
            if let Some(previous) = found {
                return Err(err.unsupported(
                    entry.index,
                    format!(
                        "the service is defined twice (lines {} and {})",
                        block[previous].index + 1,
                        entry.index + 1
                    ),
                ));
            }
            found = Some(offset);
        }
    }
    let Some(found) = found else {
        return Err(ComposeError::ServiceNotFound {
            service: err.service.to_owned(),
        });
    };
    let service = &block[found];
    check_mapping_header(service, "the service", err)?;

    // The service's keys: every entry deeper than it, up to the next service.
    let body_end = (found + 1..block.len())
        .find(|&i| block[i].indent <= service_indent)
        .unwrap_or(block.len());
    let body = &block[found + 1..body_end];
    let Some(child_indent) = body.first().map(|e| e.indent) else {
        return Err(ComposeError::NoImage {
            service: err.service.to_owned(),
            line: service.index + 1,
        });
    };
    let mut image: Option<&Entry> = None;
    let mut merge: Option<&Entry> = None;
    for entry in body {
        if entry.indent < child_indent {
            return Err(err.malformed(
                entry.index,
                "its indentation does not match the service's keys above it",
            ));
        }
        if entry.indent > child_indent || entry.seq {
            // Nested content, or a block sequence written at its key's indentation.
            continue;
        }
        if entry.unreadable || entry.key.is_none() {
            return Err(err.unsupported(
                entry.index,
                "the service holds something other than `key:` lines".to_owned(),
            ));
        }
        match entry.key.as_deref() {
            Some("image") => {
                if let Some(previous) = image {
                    return Err(err.unsupported(
                        entry.index,
                        format!(
                            "the service has two `image:` keys (lines {} and {})",
                            previous.index + 1,
                            entry.index + 1
                        ),
                    ));
                }
                image = Some(entry);
            }
            Some("<<") => merge = Some(entry),
            _ => {}
        }
    }
    let Some(image) = image else {
        return Err(match merge {
            Some(merge) => err.unsupported(
                merge.index,
                "its image would come from a `<<:` merge key; edit the merged mapping instead"
                    .to_owned(),
            ),
            None => ComposeError::NoImage {
                service: err.service.to_owned(),
                line: service.index + 1,
            },
        });
    };

    match &image.value {
        Value::Plain(_) | Value::Single(_) | Value::Double(_) => {}
        Value::Empty => {
            return Err(err.unsupported(
                image.index,
                "its `image:` has no value on its own line".to_owned(),
            ));
        }
        Value::Alias => {
            return Err(err.unsupported(
                image.index,
                "its `image:` is an alias (`*name`); edit the anchored value instead".to_owned(),
            ));
        }
        Value::Flow | Value::Block => {
            return Err(err.unsupported(
                image.index,
                "its `image:` is a flow collection or a block scalar".to_owned(),
            ));
        }
    }
    if image.continued {
        return Err(err.unsupported(
            image.index,
            "its `image:` value spans several lines".to_owned(),
        ));
    }
    if image.tagged {
        return Err(err.unsupported(
            image.index,
            "its `image:` value carries a YAML tag (`!…`)".to_owned(),
        ));
    }
    Ok([services, service, image])
}

/// Checks the key line of `services:` or of a service: a block mapping follows, with no alias,
/// flow style or tag.
fn check_mapping_header(entry: &Entry, what: &str, err: &Errors<'_>) -> Result<(), ComposeError> {
    let reason = match entry.value {
        Value::Empty if entry.tagged => format!("{what} carries a YAML tag (`!…`)"),
        Value::Empty => return Ok(()),
        Value::Flow => format!("{what} is written in flow style (`{{…}}`)"),
        Value::Alias => format!("{what} is an alias (`*name`) of another mapping"),
        _ => format!("{what} is not a mapping"),
    };
    Err(err.unsupported(entry.index, reason))
}
