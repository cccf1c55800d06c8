//! `Challenge::parse` on `WWW-Authenticate` headers from a hostile registry: never panics, a
//! Bearer challenge always has a realm, and a parsed challenge written back in canonical form
//! (quoted, escaped) parses to the same challenge.
#![no_main]

use drydock_registry::challenge::Challenge;
use libfuzzer_sys::fuzz_target;

/// The parser's header limit (private in the crate): longer headers are refused.
const MAX_HEADER: usize = 8 * 1024;

fn quoted(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(challenge) = Challenge::parse(header) else {
        return;
    };
    let canonical = match &challenge {
        Challenge::Basic => "Basic realm=\"registry\"".to_owned(),
        Challenge::Bearer {
            realm,
            service,
            scope,
        } => {
            assert!(
                !realm.is_empty(),
                "Bearer challenge without a realm from {header:?}"
            );
            let mut out = format!("Bearer realm={}", quoted(realm));
            if let Some(service) = service {
                out.push_str(&format!(",service={}", quoted(service)));
            }
            if let Some(scope) = scope {
                out.push_str(&format!(", scope={}", quoted(scope)));
            }
            out
        }
    };
    if canonical.len() <= MAX_HEADER {
        assert_eq!(
            Challenge::parse(&canonical).as_ref(),
            Ok(&challenge),
            "{header:?} rewritten as {canonical:?}"
        );
    }
});
