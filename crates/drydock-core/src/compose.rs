//! The Docker Compose update action, on text: which compose files a container came from, and the
//! one-line edit that moves a service to a new image.
//!
//! [`patch_image`] rewrites the `image:` value of one service and leaves every other byte of the
//! file as it was: comments, blank lines, indentation, key order, the value's quotes, a trailing
//! comment on the image line, CRLF line endings. It is a careful line scan, not a YAML parser and
//! serializer (a serializer would reformat the user's file). Whatever the scan cannot read with
//! certainty (flow-style services, aliases, `<<:` merges, multi-line values, variable
//! interpolation, anchors shared with other nodes, malformed indentation) is refused with a
//! [`ComposeError`] naming the service and the reason: the action never makes a wrong edit.
//!
//! [`compose_files`] and [`compose_service`] read the labels Docker Compose puts on the
//! containers it starts, to find the files and the service to patch.
//!
//! # Example
//!
//! ```
//! use drydock_core::compose::patch_image;
//!
//! let file = "services:\n  web:\n    image: \"nginx:1.25\"  # pinned\n    ports:\n      - \"80:80\"\n";
//! let patched = patch_image(file, "web", "nginx:1.27")?;
//! assert_eq!(patched.line, 3);
//! assert_eq!(patched.old_image, "nginx:1.25");
//! assert_eq!(
//!     patched.text,
//!     "services:\n  web:\n    image: \"nginx:1.27\"  # pinned\n    ports:\n      - \"80:80\"\n"
//! );
//! # Ok::<(), drydock_core::compose::ComposeError>(())
//! ```

use std::collections::BTreeMap;
use std::ops::Range;

use crate::image_ref::{ImageRefError, ImageReference};

/// The label Docker Compose sets to the comma-separated list of the project's compose files.
pub const CONFIG_FILES_LABEL: &str = "com.docker.compose.project.config_files";
/// The label Docker Compose sets to the project's working directory.
pub const WORKING_DIR_LABEL: &str = "com.docker.compose.project.working_dir";
/// The label Docker Compose sets to the service a container belongs to.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
/// drydock's label naming the compose file(s) to patch; wins over [`CONFIG_FILES_LABEL`].
pub const FILE_LABEL: &str = "dd.compose.file";
/// What's Up Docker's spelling of [`FILE_LABEL`], accepted as an alias (`dd.*` wins).
pub const WUD_FILE_LABEL: &str = "wud.compose.file";

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

/// The compose files a container was started from, from its labels.
///
/// `dd.compose.file` (or What's Up Docker's `wud.compose.file`) wins when set; otherwise the
/// files Docker Compose recorded in `com.docker.compose.project.config_files`. Both may list
/// several files separated by commas. Relative paths are joined to
/// `com.docker.compose.project.working_dir` with `/` (a leading `./` is dropped); absolute paths
/// (`/…`, `C:\…`, `\\…`) are kept as they are. Entries are trimmed, empty ones and repeats
/// dropped, the order kept. Pure string handling: nothing is read from disk.
///
/// ```
/// use std::collections::BTreeMap;
/// use drydock_core::compose::compose_files;
///
/// let labels = BTreeMap::from([
///     ("com.docker.compose.project.config_files".to_owned(), "compose.yaml,override.yaml".to_owned()),
///     ("com.docker.compose.project.working_dir".to_owned(), "/srv/app".to_owned()),
/// ]);
/// assert_eq!(compose_files(&labels), ["/srv/app/compose.yaml", "/srv/app/override.yaml"]);
/// ```
#[must_use]
pub fn compose_files(labels: &BTreeMap<String, String>) -> Vec<String> {
    let label = |name: &str| labels.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let Some(list) = label(FILE_LABEL)
        .or_else(|| label(WUD_FILE_LABEL))
        .or_else(|| label(CONFIG_FILES_LABEL))
    else {
        return Vec::new();
    };
    let working_dir = label(WORKING_DIR_LABEL);
    let mut files: Vec<String> = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let path = match working_dir {
            Some(dir) if !is_absolute(entry) => join(dir, entry),
            _ => entry.to_owned(),
        };
        if !files.contains(&path) {
            files.push(path);
        }
    }
    files
}

/// The compose service a container belongs to (`com.docker.compose.service`), trimmed; `None`
/// when the label is missing or empty.
///
/// ```
/// use std::collections::BTreeMap;
/// use drydock_core::compose::compose_service;
///
/// let labels = BTreeMap::from([("com.docker.compose.service".to_owned(), "web".to_owned())]);
/// assert_eq!(compose_service(&labels), Some("web"));
/// ```
#[must_use]
pub fn compose_service(labels: &BTreeMap<String, String>) -> Option<&str> {
    labels
        .get(SERVICE_LABEL)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

fn is_absolute(path: &str) -> bool {
    let bytes = path.as_bytes();
    path.starts_with('/')
        || path.starts_with("\\\\")
        || (bytes.len() >= 3
            && bytes[0].is_ascii_alphabetic()
            && bytes[1] == b':'
            && matches!(bytes[2], b'\\' | b'/'))
}

fn join(dir: &str, path: &str) -> String {
    let mut path = path;
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    let dir = dir.trim_end_matches('/');
    format!("{dir}/{path}")
}

// ---- the scan ----

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

/// One line of the file, without its line ending (and without a leading byte-order mark).
struct Line<'a> {
    /// Byte offset of `text` in the whole file.
    start: usize,
    text: &'a str,
}

/// Splits on `\n`, dropping a `\r` before it. Refuses the other characters YAML parsers treat as
/// line breaks (a lone `\r`, NEL, LS, PS): this scan would number lines differently.
fn split_lines(text: &str) -> Result<Vec<Line<'_>>, (usize, &'static str)> {
    let mut lines = Vec::new();
    let mut start = 0;
    for (index, piece) in text.split_inclusive('\n').enumerate() {
        let mut content = piece.strip_suffix('\n').unwrap_or(piece);
        content = content.strip_suffix('\r').unwrap_or(content);
        let mut offset = start;
        if index == 0
            && let Some(rest) = content.strip_prefix('\u{feff}')
        {
            content = rest;
            offset += '\u{feff}'.len_utf8();
        }
        if content.contains(['\r', '\u{85}', '\u{2028}', '\u{2029}']) {
            return Err((
                index,
                "it contains a line break other than LF or CRLF (CR, NEL, LS or PS)",
            ));
        }
        lines.push(Line {
            start: offset,
            text: content,
        });
        start += piece.len();
    }
    Ok(lines)
}

/// A value's shape, as far as the scan needs it. Ranges are byte ranges in the line, quotes
/// included.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    /// Nothing but perhaps a comment: the node, if any, is on the following lines.
    Empty,
    Plain(Range<usize>),
    Single(Range<usize>),
    Double(Range<usize>),
    Alias,
    /// `[…]` or `{…}`.
    Flow,
    /// `|` or `>`.
    Block,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

/// A line that carries structure: a key, a sequence item or a bare node. Comment lines, blank
/// lines and the lines that continue a multi-line value are not entries.
#[derive(Debug, Clone)]
struct Entry {
    /// 0-based line number.
    index: usize,
    /// Leading spaces.
    indent: usize,
    /// Starts with a `- ` sequence indicator.
    seq: bool,
    /// The decoded key, for `key: value` lines.
    key: Option<String>,
    value: Value,
    /// Anchors (`&name`) on the value.
    anchors: Vec<String>,
    /// A tag (`!…`) on the value.
    tagged: bool,
    /// The value goes on past this line (multi-line quoted or flow value, or deeper lines after a
    /// one-line value).
    continued: bool,
    /// A `? ` complex key or other syntax this scan does not read.
    unreadable: bool,
}

enum ScanError {
    Malformed(usize, &'static str),
    Unsupported(usize, &'static str),
}

/// A multi-line quoted scalar or flow collection being read.
#[derive(Debug, Clone, Copy)]
enum Open {
    Double,
    Single,
    Flow { depth: usize, quote: Option<u8> },
}

impl Open {
    /// Reads `line` from byte `from`; returns the offset just past the end of the value if it ends
    /// on this line.
    fn feed(&mut self, line: &[u8], from: usize) -> Option<usize> {
        let mut i = from;
        while i < line.len() {
            let b = line[i];
            match self {
                Open::Double => match b {
                    b'\\' => i += 1,
                    b'"' => return Some(i + 1),
                    _ => {}
                },
                Open::Single => {
                    if b == b'\'' {
                        if line.get(i + 1) == Some(&b'\'') {
                            i += 1;
                        } else {
                            return Some(i + 1);
                        }
                    }
                }
                Open::Flow { depth, quote } => match quote {
                    Some(b'"') => match b {
                        b'\\' => i += 1,
                        b'"' => *quote = None,
                        _ => {}
                    },
                    Some(_) => {
                        if b == b'\'' {
                            if line.get(i + 1) == Some(&b'\'') {
                                i += 1;
                            } else {
                                *quote = None;
                            }
                        }
                    }
                    None => {
                        let token_start = i == 0
                            || matches!(line[i - 1], b' ' | b'\t' | b'[' | b'{' | b',' | b':');
                        match b {
                            b'"' | b'\'' if token_start => *quote = Some(b),
                            b'#' if i == 0 || matches!(line[i - 1], b' ' | b'\t') => {
                                return None;
                            }
                            b'[' | b'{' => *depth += 1,
                            b']' | b'}' => {
                                *depth = depth.saturating_sub(1);
                                if *depth == 0 {
                                    return Some(i + 1);
                                }
                            }
                            _ => {}
                        }
                    }
                },
            }
            i += 1;
        }
        None
    }
}

/// Whether `rest` is only blanks and perhaps a comment.
fn only_comment(rest: &[u8]) -> bool {
    let trimmed = rest
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .map_or(&[][..], |p| &rest[p..]);
    trimmed.is_empty() || (trimmed[0] == b'#' && trimmed.len() < rest.len())
}

fn skip_blanks(line: &[u8], mut i: usize) -> usize {
    while i < line.len() && matches!(line[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

/// Offset of the end of the token starting at `i` (up to a blank or the end).
fn token_end(line: &[u8], mut i: usize) -> usize {
    while i < line.len() && !matches!(line[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

/// The state between lines.
enum State {
    Normal,
    /// Inside a multi-line quoted or flow value of entry `owner`; the value's node sits at column
    /// `than` (deeper lines after it still belong to it).
    Open {
        open: Open,
        owner: usize,
        than: usize,
    },
    /// Lines blank or deeper than `than` belong to the value of entry `owner` (block scalar
    /// content or plain continuation).
    Deeper {
        owner: usize,
        than: usize,
    },
}

/// Reads the structure of every line.
fn scan(lines: &[Line<'_>]) -> Result<Vec<Entry>, ScanError> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut state = State::Normal;
    for (index, line) in lines.iter().enumerate() {
        let bytes = line.text.as_bytes();
        let indent = bytes.iter().take_while(|&&b| b == b' ').count();
        let first = skip_blanks(bytes, 0);
        let blank = first == bytes.len();
        let comment = !blank && bytes[first] == b'#';

        match &mut state {
            State::Open { open, owner, than } => {
                if let Some(end) = open.feed(bytes, 0) {
                    if !only_comment(&bytes[end..]) {
                        return Err(ScanError::Malformed(
                            index,
                            "unexpected text after a quoted or flow value",
                        ));
                    }
                    state = State::Deeper {
                        owner: *owner,
                        than: *than,
                    };
                }
                continue;
            }
            State::Deeper { owner, than } => {
                if blank || indent > *than {
                    if !blank
                        && !comment
                        && let Some(entry) = entries.get_mut(*owner)
                    {
                        entry.continued = true;
                    }
                    continue;
                }
                state = State::Normal;
            }
            State::Normal => {}
        }

        if blank || comment {
            continue;
        }
        if indent == 0 && is_document_marker(bytes) {
            if !entries.is_empty() || bytes.starts_with(b"...") || !only_comment(&bytes[3..]) {
                return Err(ScanError::Unsupported(
                    index,
                    "the file has several YAML documents or document markers amid its content",
                ));
            }
            continue;
        }
        if indent == 0 && bytes[0] == b'%' && entries.is_empty() {
            continue; // a directive (`%YAML 1.2`)
        }
        if first != indent {
            return Err(ScanError::Malformed(index, "it is indented with a tab"));
        }

        let (entry, next) = read_entry(index, indent, bytes)?;
        let owner = entries.len();
        entries.push(entry);
        state = match next {
            Next::Normal => State::Normal,
            Next::Deeper(than) => State::Deeper { owner, than },
            Next::Open(open, than) => {
                if let Some(entry) = entries.get_mut(owner) {
                    entry.continued = true;
                }
                State::Open { open, owner, than }
            }
        };
    }
    if let State::Open { owner, .. } = state {
        let index = entries.get(owner).map_or(0, |e| e.index);
        return Err(ScanError::Malformed(
            index,
            "a quoted or flow value starting here is never closed",
        ));
    }
    Ok(entries)
}

fn is_document_marker(bytes: &[u8]) -> bool {
    (bytes.starts_with(b"---") || bytes.starts_with(b"..."))
        && bytes.get(3).is_none_or(|b| matches!(b, b' ' | b'\t'))
}

/// What the lines after an entry are.
enum Next {
    Normal,
    Deeper(usize),
    Open(Open, usize),
}

/// Reads one structural line: sequence indicators, an optional key, the value.
fn read_entry(index: usize, indent: usize, line: &[u8]) -> Result<(Entry, Next), ScanError> {
    let mut entry = Entry {
        index,
        indent,
        seq: false,
        key: None,
        value: Value::Empty,
        anchors: Vec::new(),
        tagged: false,
        continued: false,
        unreadable: false,
    };
    let mut i = indent;
    // The column the node of this line hangs from: continuation lines are deeper than it.
    let mut node_col = indent;
    while line.get(i) == Some(&b'-') && line.get(i + 1).is_none_or(|b| matches!(b, b' ' | b'\t')) {
        entry.seq = true;
        node_col = i;
        i = skip_blanks(line, i + 1);
    }
    if line.get(i) == Some(&b'?') && line.get(i + 1).is_none_or(|b| matches!(b, b' ' | b'\t')) {
        entry.unreadable = true;
        return Ok((entry, Next::Deeper(i)));
    }
    if let Some((key, after)) = read_key(line, i) {
        entry.key = Some(key);
        node_col = i;
        i = after;
    }
    i = skip_blanks(line, i);

    // Node properties: anchors and tags.
    while let Some(&b) = line.get(i) {
        if b != b'&' && b != b'!' {
            break;
        }
        let end = token_end(line, i);
        if b == b'&' {
            entry
                .anchors
                .push(String::from_utf8_lossy(&line[i + 1..end]).into_owned());
        } else {
            entry.tagged = true;
        }
        i = skip_blanks(line, end);
    }

    let Some(&b) = line.get(i) else {
        return Ok((entry, Next::Normal));
    };
    let rest_ok = |end: usize| -> Result<(), ScanError> {
        if only_comment(&line[end..]) {
            Ok(())
        } else {
            Err(ScanError::Malformed(
                index,
                "unexpected text after a quoted or flow value",
            ))
        }
    };
    match b {
        b'#' => Ok((entry, Next::Normal)),
        b'*' => {
            entry.value = Value::Alias;
            rest_ok(token_end(line, i))?;
            Ok((entry, Next::Deeper(node_col)))
        }
        b'|' | b'>' => {
            entry.value = Value::Block;
            Ok((entry, Next::Deeper(node_col)))
        }
        b'"' | b'\'' | b'[' | b'{' => {
            let mut open = match b {
                b'"' => Open::Double,
                b'\'' => Open::Single,
                _ => Open::Flow {
                    depth: 0,
                    quote: None,
                },
            };
            let from = if matches!(b, b'"' | b'\'') { i + 1 } else { i };
            match open.feed(line, from) {
                Some(end) => {
                    rest_ok(end)?;
                    entry.value = match b {
                        b'"' => Value::Double(i..end),
                        b'\'' => Value::Single(i..end),
                        _ => Value::Flow,
                    };
                    Ok((entry, Next::Deeper(node_col)))
                }
                None => {
                    entry.value = match b {
                        b'"' => Value::Double(i..line.len()),
                        b'\'' => Value::Single(i..line.len()),
                        _ => Value::Flow,
                    };
                    Ok((entry, Next::Open(open, node_col)))
                }
            }
        }
        _ => {
            let end = plain_end(line, i);
            entry.value = Value::Plain(i..end);
            Ok((entry, Next::Deeper(node_col)))
        }
    }
}

/// End of a plain scalar starting at `i`: before ` #` or the end of the line, trailing blanks
/// excluded.
fn plain_end(line: &[u8], i: usize) -> usize {
    let mut end = line.len();
    let mut j = i;
    while j < line.len() {
        if line[j] == b'#' && j > i && matches!(line[j - 1], b' ' | b'\t') {
            end = j;
            break;
        }
        j += 1;
    }
    while end > i && matches!(line[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    end
}

/// Reads `key:` at `i` (plain, single- or double-quoted key); returns the decoded key and the
/// offset just past the `:`.
fn read_key(line: &[u8], i: usize) -> Option<(String, usize)> {
    let colon_at = |j: usize| {
        let j = skip_blanks(line, j);
        (line.get(j) == Some(&b':') && line.get(j + 1).is_none_or(|b| matches!(b, b' ' | b'\t')))
            .then_some(j + 1)
    };
    match *line.get(i)? {
        q @ (b'"' | b'\'') => {
            let mut open = if q == b'"' {
                Open::Double
            } else {
                Open::Single
            };
            let end = open.feed(line, i + 1)?;
            let after = colon_at(end)?;
            let raw = std::str::from_utf8(&line[i + 1..end - 1]).ok()?;
            let key = if q == b'"' {
                decode_double(raw).unwrap_or_else(|| raw.to_owned())
            } else {
                raw.replace("''", "'")
            };
            Some((key, after))
        }
        b'[' | b'{' | b'*' | b'&' | b'!' | b'|' | b'>' | b'#' => None,
        _ => {
            let mut j = i;
            while j < line.len() {
                match line[j] {
                    b'#' if j > i && matches!(line[j - 1], b' ' | b'\t') => return None,
                    b':' if line.get(j + 1).is_none_or(|b| matches!(b, b' ' | b'\t')) => {
                        let raw = std::str::from_utf8(&line[i..j]).ok()?;
                        return Some((raw.trim_end_matches([' ', '\t']).to_owned(), j + 1));
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
    }
}

/// The text between a quoted scalar's quotes.
fn inner(quoted: &str) -> &str {
    quoted
        .get(1..quoted.len().saturating_sub(1))
        .unwrap_or_default()
}

/// Decodes a one-line double-quoted scalar's escapes; `None` for escapes it does not know.
fn decode_double(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escaped = match chars.next()? {
            '\\' => '\\',
            '"' => '"',
            '/' => '/',
            ' ' => ' ',
            't' | '\t' => '\t',
            'n' => '\n',
            'r' => '\r',
            '0' => '\0',
            _ => return None,
        };
        out.push(escaped);
    }
    Some(out)
}

/// Whether a one-line plain scalar (as cut by [`plain_end`]) is valid in block context.
fn plain_is_valid(value: &str) -> bool {
    let bytes = value.as_bytes();
    let indicator_first = match bytes.first() {
        Some(b'-' | b'?' | b':') => bytes.get(1).is_none_or(|b| matches!(b, b' ' | b'\t')),
        Some(b'@' | b'`' | b'%' | b',' | b']' | b'}') => true,
        _ => false,
    };
    !indicator_first && !value.contains(": ") && !value.contains(":\t") && !value.ends_with(':')
}

/// Whether an unquoted value is YAML's null.
fn is_null(value: &str) -> bool {
    matches!(value, "~" | "null" | "Null" | "NULL")
}

/// Whether `value`, written unquoted, reads back as this string in YAML 1.1 and 1.2 (not a
/// null, boolean, number, date or flow collection). Errs on the side of quoting.
fn plain_is_string(value: &str) -> bool {
    let Some(first) = value.bytes().next() else {
        return false;
    };
    if !first.is_ascii_alphanumeric() || value.contains([' ', '\t', '#', ',', '[', ']', '{', '}']) {
        return false;
    }
    if value.contains(['/', '@']) {
        return true;
    }
    let lower = value.to_ascii_lowercase();
    let special = [
        "null", "true", "false", "yes", "no", "on", "off", "y", "n", "nan", "inf",
    ];
    if special.contains(&lower.as_str()) || !lower.bytes().any(|b| b.is_ascii_alphabetic()) {
        return false;
    }
    let based = ["0x", "0o", "0b"]
        .iter()
        .find_map(|p| lower.strip_prefix(p));
    if let Some(digits) = based
        && digits.bytes().all(|b| b.is_ascii_hexdigit() || b == b'_')
    {
        return false;
    }
    if let Some((mantissa, exponent)) = lower.split_once('e') {
        let exponent = exponent.trim_start_matches(['+', '-']);
        if !mantissa.is_empty()
            && !exponent.is_empty()
            && mantissa
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'_')
            && exponent.bytes().all(|b| b.is_ascii_digit())
        {
            return false;
        }
    }
    true
}

/// Whether `*name` (an alias of the anchor) occurs anywhere in `text`.
fn alias_used(lines: &[Line<'_>], name: &str) -> bool {
    let alias = format!("*{name}");
    lines.iter().any(|line| {
        line.text.match_indices(&alias).any(|(at, _)| {
            line.text[at + alias.len()..]
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || matches!(c, ',' | ']' | '}'))
        })
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Patches and checks that only the expected line changed, into `expected_line`.
    fn patch_ok(text: &str, service: &str, new: &str) -> Patched {
        let patched = patch_image(text, service, new)
            .unwrap_or_else(|e| panic!("patching {service:?} failed: {e}\n{text}"));
        let before: Vec<&str> = text.split_inclusive('\n').collect();
        let after: Vec<&str> = patched.text.split_inclusive('\n').collect();
        assert_eq!(before.len(), after.len(), "line count changed");
        for (i, (b, a)) in before.iter().zip(&after).enumerate() {
            if i + 1 != patched.line {
                assert_eq!(b, a, "line {} changed", i + 1);
            }
        }
        patched
    }

    fn line(text: &str, n: usize) -> &str {
        text.split_inclusive('\n').nth(n - 1).unwrap_or_default()
    }

    fn unsupported(text: &str, service: &str) -> (usize, String) {
        match patch_image(text, service, "nginx:1.27") {
            Err(ComposeError::Unsupported {
                service: s,
                line,
                reason,
            }) => {
                assert_eq!(s, service);
                (line, reason)
            }
            other => panic!("expected Unsupported for {service:?}, got {other:?}\n{text}"),
        }
    }

    const BASIC: &str = "\
# Production stack
version: \"3.8\"

services:
  # The front
  web:
    image: nginx:1.25   # pinned
    ports:
    - \"80:80\"
    labels:
      image: nginx:1.25
  db:
    image: nginx:1.25
    build:
      context: .
      image: nginx:1.25

volumes:
  data: {}
";

    #[test]
    fn replaces_only_the_value_keeping_the_trailing_comment() {
        let p = patch_ok(BASIC, "web", "nginx:1.27");
        assert_eq!(p.line, 7);
        assert_eq!(p.old_image, "nginx:1.25");
        assert_eq!(line(&p.text, 7), "    image: nginx:1.27   # pinned\n");
        assert_eq!(p.text, BASIC.replacen("nginx:1.25", "nginx:1.27", 1));
    }

    #[test]
    fn other_services_and_nested_image_keys_are_left_alone() {
        let p = patch_ok(BASIC, "db", "postgres:16");
        assert_eq!(p.line, 13);
        assert_eq!(line(&p.text, 13), "    image: postgres:16\n");
        assert_eq!(p.text.matches("nginx:1.25").count(), 3);
    }

    #[test]
    fn quoting_style_is_kept() {
        for (value, expected) in [
            ("'nginx:1.25'", "'nginx:1.27'"),
            ("\"nginx:1.25\"", "\"nginx:1.27\""),
            ("nginx:1.25", "nginx:1.27"),
        ] {
            let text = format!("services:\n  web:\n    image: {value} # c\n");
            let p = patch_ok(&text, "web", "nginx:1.27");
            assert_eq!(p.old_image, "nginx:1.25");
            assert_eq!(
                p.text,
                format!("services:\n  web:\n    image: {expected} # c\n")
            );
        }
        let p = patch_ok("services:\n  web:\n    image: 'it''s'\n", "web", "nginx");
        assert_eq!(p.old_image, "it's");
        assert_eq!(p.text, "services:\n  web:\n    image: 'nginx'\n");
    }

    #[test]
    fn plain_values_yaml_would_not_read_as_strings_are_quoted() {
        let text = "services:\n  web:\n    image: nginx\n";
        for (new, written) in [
            ("123", "\"123\""),
            ("null", "\"null\""),
            ("yes", "\"yes\""),
            ("1e5", "\"1e5\""),
            ("0x1f", "\"0x1f\""),
            ("[::1]:5000/app:1", "\"[::1]:5000/app:1\""),
            ("app1", "app1"),
            ("library/123", "library/123"),
            (
                "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ),
        ] {
            let p = patch_ok(text, "web", new);
            assert_eq!(
                p.text,
                format!("services:\n  web:\n    image: {written}\n"),
                "{new}"
            );
        }
    }

    #[test]
    fn crlf_bom_and_missing_final_newline_are_kept() {
        let text = "\u{feff}services:\r\n  web:\r\n    image: nginx:1.25\r\n    restart: always";
        let p = patch_ok(text, "web", "nginx:1.27");
        assert_eq!(
            p.text,
            "\u{feff}services:\r\n  web:\r\n    image: nginx:1.27\r\n    restart: always"
        );
        let p = patch_ok("services:\r\n  web:\r\n    image: nginx", "web", "nginx:2");
        assert_eq!(p.text, "services:\r\n  web:\r\n    image: nginx:2");
    }

    #[test]
    fn any_consistent_indentation_and_quoted_keys() {
        let text = "\"services\":\n    'web' :\n          \"image\"  :   nginx:1.25\n    \"d\\\"b\":\n          image: nginx:1.25\n";
        let p = patch_ok(text, "web", "nginx:1.27");
        assert_eq!(line(&p.text, 3), "          \"image\"  :   nginx:1.27\n");
        let p = patch_ok(text, "d\"b", "nginx:1.27");
        assert_eq!(p.line, 5);
        let one = "services:\n web:\n  image: a\n";
        assert_eq!(
            patch_ok(one, "web", "b").text,
            "services:\n web:\n  image: b\n"
        );
    }

    #[test]
    fn sequences_comments_and_block_scalars_around_the_image_line() {
        let text = "\
x-common: &common
  image: base:1
services:
  web:
    command: |
      image: evil:1
      echo hi
# a comment at column 0 inside the service
    environment:
      - A=1
      - image: evil:2
    entrypoint: [\"sh\",
  \"-c\"]
    healthcheck: {test: [\"CMD\", \"true\"],
                  interval: 10s}
    description: a plain
      multi-line scalar
    image: \"app:1\"

      # a deeper comment after the image
    volumes:
    -   ./a:/a
  other:
    image: app:1
";
        let p = patch_ok(text, "web", "app:2");
        assert_eq!(p.line, 18);
        assert_eq!(line(&p.text, 18), "    image: \"app:2\"\n");
        let p = patch_ok(text, "other", "app:2");
        assert_eq!(p.line, 24);
    }

    #[test]
    fn the_service_key_may_carry_an_unused_anchor_or_merge_with_its_own_image() {
        let text = "\
x-base: &base
  image: base:1
  restart: always
services:
  web: &web # comment
    <<: *base
    image: app:1
";
        let p = patch_ok(text, "web", "app:2");
        assert_eq!(p.line, 7);
    }

    #[test]
    fn missing_services_and_images() {
        let err = patch_image("version: '3'\n", "web", "nginx").unwrap_err();
        assert_eq!(
            err,
            ComposeError::NoServices {
                service: "web".into()
            }
        );
        assert!(err.to_string().contains("\"web\""));

        let err = patch_image(BASIC, "cache", "nginx").unwrap_err();
        assert_eq!(
            err,
            ComposeError::ServiceNotFound {
                service: "cache".into()
            }
        );
        assert!(err.to_string().contains("\"cache\""));

        let build_only = "services:\n  web:\n    build: .\n    labels:\n      image: x\n";
        let err = patch_image(build_only, "web", "nginx").unwrap_err();
        assert_eq!(
            err,
            ComposeError::NoImage {
                service: "web".into(),
                line: 2
            }
        );
        assert!(err.to_string().contains("\"web\""));

        let empty = "services:\n  web:\n  db:\n    image: x\n";
        let err = patch_image(empty, "web", "nginx").unwrap_err();
        assert_eq!(
            err,
            ComposeError::NoImage {
                service: "web".into(),
                line: 2
            }
        );
        assert!(patch_image("services:\n", "web", "nginx").is_err());
    }

    #[test]
    fn invalid_new_images_are_refused() {
        let err = patch_image(BASIC, "web", "Nginx:1 # x").unwrap_err();
        assert!(
            matches!(err, ComposeError::InvalidImage { ref service, ref image, .. }
            if service == "web" && image == "Nginx:1 # x")
        );
        assert!(err.to_string().contains("\"web\""));
    }

    #[test]
    fn flow_style_is_refused() {
        let (line, reason) = unsupported("services:\n  web: {image: nginx}\n", "web");
        assert_eq!(line, 2);
        assert!(reason.contains("flow style"), "{reason}");
        let (line, reason) = unsupported("services: {web: {image: nginx}}\n", "web");
        assert_eq!(line, 1);
        assert!(reason.contains("flow style"), "{reason}");
        let (_, reason) = unsupported("services:\n  web:\n    image: [nginx]\n", "web");
        assert!(reason.contains("flow"), "{reason}");
    }

    #[test]
    fn aliases_merges_and_shared_anchors_are_refused() {
        let merged = "x: &base\n  image: nginx\nservices:\n  web:\n    <<: *base\n    ports: []\n";
        let (line, reason) = unsupported(merged, "web");
        assert_eq!(line, 5);
        assert!(reason.contains("merge"), "{reason}");

        let alias = "x: &img nginx\nservices:\n  web:\n    image: *img\n";
        let (line, reason) = unsupported(alias, "web");
        assert_eq!(line, 4);
        assert!(reason.contains("alias"), "{reason}");

        let service_alias = "x: &svc\n  image: nginx\nservices:\n  web: *svc\n";
        let (_, reason) = unsupported(service_alias, "web");
        assert!(reason.contains("alias"), "{reason}");

        let shared = "services:\n  web: &web\n    image: nginx\n  copy:\n    <<: *web\n";
        let (line, reason) = unsupported(shared, "web");
        assert_eq!(line, 2);
        assert!(reason.contains("&web"), "{reason}");

        let shared_value = "services:\n  web:\n    image: &img nginx\n  db:\n    image: *img\n";
        let (line, _) = unsupported(shared_value, "web");
        assert_eq!(line, 3);
        // An anchor nobody aliases is harmless.
        let p = patch_ok(
            "services:\n  web:\n    image: &img nginx\n",
            "web",
            "nginx:2",
        );
        assert_eq!(p.text, "services:\n  web:\n    image: &img nginx:2\n");
    }

    #[test]
    fn multi_line_empty_null_tagged_and_interpolated_images_are_refused() {
        for (value, expect) in [
            ("nginx\n      :1.25", "several lines"),
            ("\"nginx\n      :1.25\"", "several lines"),
            ("|\n      nginx", "block scalar"),
            (">-\n      nginx", "block scalar"),
            ("", "no value"),
            ("# soon", "no value"),
            ("\n      nginx", "no value"),
            ("~", "null"),
            ("null", "null"),
            ("!!str nginx", "tag"),
            ("nginx:${TAG:-1}", "interpolation"),
            ("\"${REGISTRY}/app\"", "interpolation"),
            ("\"ngi\\u006ex\"", "escape"),
        ] {
            let text = format!("services:\n  web:\n    image: {value}\n    ports: []\n");
            let (line, reason) = unsupported(&text, "web");
            assert_eq!(line, 3, "{value:?}");
            assert!(reason.contains(expect), "{value:?}: {reason}");
        }
    }

    #[test]
    fn duplicates_and_several_documents_are_refused() {
        let (line, reason) = unsupported(
            "services:\n  web:\n    image: a\n  web:\n    image: b\n",
            "web",
        );
        assert_eq!(line, 4);
        assert!(reason.contains("twice"), "{reason}");
        let (line, reason) = unsupported("services:\n  web:\n    image: a\n    image: b\n", "web");
        assert_eq!(line, 4);
        assert!(reason.contains("two `image:`"), "{reason}");
        let (_, reason) = unsupported("services:\n  a:\n    image: a\nservices:\n  b: {}\n", "a");
        assert!(reason.contains("two top-level"), "{reason}");
        let (line, reason) = unsupported(
            "---\nservices:\n  web:\n    image: a\n---\nservices: {}\n",
            "web",
        );
        assert_eq!(line, 5);
        assert!(reason.contains("documents"), "{reason}");
        // A leading `---` is fine.
        patch_ok(
            "%YAML 1.2\n--- # doc\nservices:\n  web:\n    image: a\n",
            "web",
            "b",
        );
    }

    #[test]
    fn malformed_text_is_refused() {
        let cases = [
            ("services:\n  web:\n\timage: a\n", 3),
            ("services:\n  web:\n    image: a\n   db:\n    image: b\n", 4),
            ("services:\n  web:\n      image: a\n    ports: []\n", 4),
            ("services:\n  web:\n    image: \"a\n", 3),
            ("services:\n  web:\n    image: \"a\" b\n", 3),
            ("services:\n  web:\n    image: a: b\n", 3),
            ("services:\n  web:\r    image: a\n", 2),
            ("services:\n  web:\n    image: a\u{2028}\n", 3),
        ];
        for (text, expected_line) in cases {
            match patch_image(text, "web", "nginx") {
                Err(ComposeError::Malformed { service, line, .. }) => {
                    assert_eq!(service, "web");
                    assert_eq!(line, expected_line, "{text:?}");
                }
                other => panic!("{text:?}: expected Malformed, got {other:?}"),
            }
        }
    }

    #[test]
    fn other_unreadable_structures_are_refused() {
        let (_, reason) = unsupported("services:\n  - web\n", "web");
        assert!(reason.contains("`name:`"), "{reason}");
        let (_, reason) = unsupported("services:\n  ? web\n  : {image: a}\n", "web");
        assert!(reason.contains("`name:`"), "{reason}");
        let (_, reason) = unsupported("services:\n  web: nginx\n", "web");
        assert!(reason.contains("not a mapping"), "{reason}");
        let (_, reason) = unsupported("services:\n  web:\n    ? image\n    : a\n", "web");
        assert!(reason.contains("`key:`"), "{reason}");
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn compose_files_from_docker_compose_labels() {
        let l = labels(&[
            (
                CONFIG_FILES_LABEL,
                "/srv/app/compose.yaml, ./override.yml,,sub/x.yaml",
            ),
            (WORKING_DIR_LABEL, "/srv/app/"),
        ]);
        assert_eq!(
            compose_files(&l),
            [
                "/srv/app/compose.yaml",
                "/srv/app/override.yml",
                "/srv/app/sub/x.yaml"
            ]
        );
        let l = labels(&[(CONFIG_FILES_LABEL, "compose.yaml")]);
        assert_eq!(compose_files(&l), ["compose.yaml"]);
        let l = labels(&[
            (
                CONFIG_FILES_LABEL,
                r"C:\app\compose.yaml,D:/x.yml,\\host\share\c.yml",
            ),
            (WORKING_DIR_LABEL, r"C:\app"),
        ]);
        assert_eq!(
            compose_files(&l),
            [r"C:\app\compose.yaml", "D:/x.yml", r"\\host\share\c.yml"]
        );
        assert!(compose_files(&labels(&[(WORKING_DIR_LABEL, "/srv")])).is_empty());
        assert!(compose_files(&labels(&[(CONFIG_FILES_LABEL, " , ")])).is_empty());
    }

    #[test]
    fn the_override_label_wins() {
        let base = [
            (CONFIG_FILES_LABEL, "/srv/app/compose.yaml"),
            (WORKING_DIR_LABEL, "/srv/app"),
        ];
        let mut l = labels(&base);
        l.insert(FILE_LABEL.into(), "deploy/prod.yaml".into());
        l.insert(WUD_FILE_LABEL.into(), "/wud.yaml".into());
        assert_eq!(compose_files(&l), ["/srv/app/deploy/prod.yaml"]);
        l.insert(FILE_LABEL.into(), "  ".into());
        assert_eq!(compose_files(&l), ["/wud.yaml"]);
        l.remove(WUD_FILE_LABEL);
        assert_eq!(compose_files(&l), ["/srv/app/compose.yaml"]);
        let l = labels(&[(FILE_LABEL, "/a.yml,/a.yml,/b.yml")]);
        assert_eq!(compose_files(&l), ["/a.yml", "/b.yml"]);
    }

    #[test]
    fn compose_service_from_its_label() {
        assert_eq!(
            compose_service(&labels(&[(SERVICE_LABEL, " web ")])),
            Some("web")
        );
        assert_eq!(compose_service(&labels(&[(SERVICE_LABEL, "")])), None);
        assert_eq!(compose_service(&BTreeMap::new()), None);
    }

    #[test]
    fn plain_string_detection() {
        for s in ["nginx", "nginx:1.25", "a/b", "app1", "y2k", "0xzz"] {
            assert!(plain_is_string(s), "{s}");
        }
        for s in [
            "", "1", "1.25", "1:30", "true", "Off", "n", "1e5", "1.5e-3", "0o17", "[::1]/a",
        ] {
            assert!(!plain_is_string(s), "{s}");
        }
    }
}
