//! The `Link` header of paginated tag lists (RFC 8288): `</v2/app/tags/list?n=100&last=b>; rel="next"`.

/// The `rel="next"` target of a `Link` header, if any. Several links may be comma-separated.
///
/// ```
/// use drydock_registry::link::next_link;
///
/// let header = r#"</v2/acme/app/tags/list?last=1.9&n=100>; rel="next""#;
/// assert_eq!(next_link(header), Some("/v2/acme/app/tags/list?last=1.9&n=100"));
/// assert_eq!(next_link("<https://x/a>; rel=\"prev\""), None);
/// ```
pub fn next_link(header: &str) -> Option<&str> {
    let mut rest = header;
    loop {
        let open = rest.find('<')?;
        let close = open + rest[open..].find('>')?;
        let target = &rest[open + 1..close];
        let after = &rest[close + 1..];
        let params_end = after.find('<').unwrap_or(after.len());
        let params = &after[..params_end];
        let is_next = params.split(';').any(|p| {
            let p = p.trim().trim_end_matches(',').trim();
            p.split_once('=').is_some_and(|(name, value)| {
                name.trim().eq_ignore_ascii_case("rel")
                    && value
                        .trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|rel| rel.eq_ignore_ascii_case("next"))
            })
        });
        if is_next && !target.is_empty() {
            return Some(target);
        }
        rest = &after[params_end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_page() {
        assert_eq!(next_link("</a?last=x>; rel=next"), Some("/a?last=x"));
        assert_eq!(
            next_link(r#"<https://r/p1>; rel="prev", <https://r/p3>; rel="next""#),
            Some("https://r/p3")
        );
        assert_eq!(
            next_link(r#"<https://r/p3>; title="x"; REL="next last""#),
            Some("https://r/p3")
        );
        assert_eq!(next_link(""), None);
        assert_eq!(next_link("garbage"), None);
        assert_eq!(next_link("<unterminated; rel=next"), None);
        assert_eq!(next_link("<>; rel=next"), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(header in ".{0,200}") {
            let _ = next_link(&header);
        }
    }
}
