//! The line scan behind [`super::patch_image`]: a compose file read as lines and entries (keys,
//! sequence items, scalars and where they start), with everything it cannot read with certainty
//! refused. Not a YAML parser: it only has to find one `image:` value and prove the edit safe.

use std::ops::Range;

/// One line of the file, without its line ending (and without a leading byte-order mark).
pub(super) struct Line<'a> {
    /// Byte offset of `text` in the whole file.
    pub(super) start: usize,
    pub(super) text: &'a str,
}

/// Splits on `\n`, dropping a `\r` before it. Refuses the other characters YAML parsers treat as
/// line breaks (a lone `\r`, NEL, LS, PS): this scan would number lines differently.
pub(super) fn split_lines(text: &str) -> Result<Vec<Line<'_>>, (usize, &'static str)> {
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
pub(super) enum Value {
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
pub(super) enum Quote {
    None,
    Single,
    Double,
}

/// A line that carries structure: a key, a sequence item or a bare node. Comment lines, blank
/// lines and the lines that continue a multi-line value are not entries.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// 0-based line number.
    pub(super) index: usize,
    /// Leading spaces.
    pub(super) indent: usize,
    /// Starts with a `- ` sequence indicator.
    pub(super) seq: bool,
    /// The decoded key, for `key: value` lines.
    pub(super) key: Option<String>,
    pub(super) value: Value,
    /// Anchors (`&name`) on the value.
    pub(super) anchors: Vec<String>,
    /// A tag (`!…`) on the value.
    pub(super) tagged: bool,
    /// The value goes on past this line (multi-line quoted or flow value, or deeper lines after a
    /// one-line value).
    pub(super) continued: bool,
    /// A `? ` complex key or other syntax this scan does not read.
    pub(super) unreadable: bool,
}

pub(super) enum ScanError {
    Malformed(usize, &'static str),
    Unsupported(usize, &'static str),
}

/// A multi-line quoted scalar or flow collection being read.
#[derive(Debug, Clone, Copy)]
pub(super) enum Open {
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
pub(super) fn only_comment(rest: &[u8]) -> bool {
    let trimmed = rest
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .map_or(&[][..], |p| &rest[p..]);
    trimmed.is_empty() || (trimmed[0] == b'#' && trimmed.len() < rest.len())
}

pub(super) fn skip_blanks(line: &[u8], mut i: usize) -> usize {
    while i < line.len() && matches!(line[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

/// Offset of the end of the token starting at `i` (up to a blank or the end).
pub(super) fn token_end(line: &[u8], mut i: usize) -> usize {
    while i < line.len() && !matches!(line[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

/// The state between lines.
pub(super) enum State {
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
pub(super) fn scan(lines: &[Line<'_>]) -> Result<Vec<Entry>, ScanError> {
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

pub(super) fn is_document_marker(bytes: &[u8]) -> bool {
    (bytes.starts_with(b"---") || bytes.starts_with(b"..."))
        && bytes.get(3).is_none_or(|b| matches!(b, b' ' | b'\t'))
}

/// What the lines after an entry are.
pub(super) enum Next {
    Normal,
    Deeper(usize),
    Open(Open, usize),
}

/// Reads one structural line: sequence indicators, an optional key, the value.
pub(super) fn read_entry(
    index: usize,
    indent: usize,
    line: &[u8],
) -> Result<(Entry, Next), ScanError> {
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
pub(super) fn plain_end(line: &[u8], i: usize) -> usize {
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
pub(super) fn read_key(line: &[u8], i: usize) -> Option<(String, usize)> {
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
pub(super) fn inner(quoted: &str) -> &str {
    quoted
        .get(1..quoted.len().saturating_sub(1))
        .unwrap_or_default()
}

/// Decodes a one-line double-quoted scalar's escapes; `None` for escapes it does not know.
pub(super) fn decode_double(raw: &str) -> Option<String> {
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
pub(super) fn plain_is_valid(value: &str) -> bool {
    let bytes = value.as_bytes();
    let indicator_first = match bytes.first() {
        Some(b'-' | b'?' | b':') => bytes.get(1).is_none_or(|b| matches!(b, b' ' | b'\t')),
        Some(b'@' | b'`' | b'%' | b',' | b']' | b'}') => true,
        _ => false,
    };
    !indicator_first && !value.contains(": ") && !value.contains(":\t") && !value.ends_with(':')
}

/// Whether an unquoted value is YAML's null.
pub(super) fn is_null(value: &str) -> bool {
    matches!(value, "~" | "null" | "Null" | "NULL")
}

/// Whether `value`, written unquoted, reads back as this string in YAML 1.1 and 1.2 (not a
/// null, boolean, number, date or flow collection). Errs on the side of quoting.
pub(super) fn plain_is_string(value: &str) -> bool {
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
pub(super) fn alias_used(lines: &[Line<'_>], name: &str) -> bool {
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
