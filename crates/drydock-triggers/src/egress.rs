//! One guard for every outbound notification: the destination must not be a link-local or
//! cloud-metadata address (169.254.169.254 and friends), in any spelling, unless the trigger opts
//! in. The address checked is the address connected to, so DNS cannot switch it afterwards.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why a destination is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EgressError {
    /// The URL does not parse or has no host.
    #[error("`{url}` is not an http(s) URL with a host")]
    BadUrl {
        /// The URL, with any credentials removed.
        url: String,
    },
    /// The host resolves to a forbidden address.
    #[error(
        "{host} resolves to {address}, a link-local or cloud-metadata address; set ALLOWMETADATA=true on the trigger to allow it"
    )]
    Forbidden {
        /// The host.
        host: String,
        /// The address refused.
        address: IpAddr,
    },
    /// The host does not resolve.
    #[error("{host} does not resolve: {reason}")]
    Unresolvable {
        /// The host.
        host: String,
        /// The resolver's error.
        reason: String,
    },
}

/// Whether an address is link-local or a cloud metadata endpoint, including IPv4-mapped and
/// IPv4-compatible IPv6 spellings of one.
pub fn is_forbidden(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let segments = v6.segments();
            // IPv4-compatible (deprecated) `::a.b.c.d`.
            if segments[..6].iter().all(|s| *s == 0) {
                let v4 = Ipv4Addr::new(
                    (segments[6] >> 8) as u8,
                    segments[6] as u8,
                    (segments[7] >> 8) as u8,
                    segments[7] as u8,
                );
                if forbidden_v4(v4) {
                    return true;
                }
            }
            // fe80::/10 link-local; fd00:ec2::254 is AWS's IPv6 metadata endpoint.
            (segments[0] & 0xffc0) == 0xfe80
                || v6 == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254)
        }
    }
}

fn forbidden_v4(v4: Ipv4Addr) -> bool {
    v4.is_link_local() || v4 == Ipv4Addr::new(100, 100, 100, 200)
}

/// Resolves the URL's host and checks every address; returns the host and the address to
/// connect to.
pub async fn check(
    url: &reqwest::Url,
    allow_metadata: bool,
) -> Result<(String, SocketAddr), EgressError> {
    let bad = || EgressError::BadUrl {
        url: format!(
            "{}://{}{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.path()
        ),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad());
    }
    let host = url.host_str().ok_or_else(bad)?.to_owned();
    let port = url.port_or_known_default().ok_or_else(bad)?;
    let lookup = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((lookup.as_str(), port))
        .await
        .map_err(|e| EgressError::Unresolvable {
            host: host.clone(),
            reason: e.to_string(),
        })?
        .collect();
    let first = *addresses.first().ok_or_else(|| EgressError::Unresolvable {
        host: host.clone(),
        reason: "no address".into(),
    })?;
    if !allow_metadata
        && let Some(address) = addresses
            .iter()
            .map(SocketAddr::ip)
            .find(|ip| is_forbidden(*ip))
    {
        return Err(EgressError::Forbidden { host, address });
    }
    Ok((lookup, first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_and_link_local_in_every_spelling() {
        for address in [
            "169.254.169.254",
            "169.254.0.1",
            "100.100.100.200",
            "::ffff:169.254.169.254",
            "::169.254.169.254",
            "fe80::1",
            "fd00:ec2::254",
        ] {
            assert!(is_forbidden(address.parse().unwrap()), "{address}");
        }
        for address in [
            "127.0.0.1",
            "10.0.0.1",
            "192.168.1.10",
            "::1",
            "2001:db8::1",
            "8.8.8.8",
        ] {
            assert!(!is_forbidden(address.parse().unwrap()), "{address}");
        }
    }

    #[tokio::test]
    async fn refuses_unless_allowed() {
        let url = reqwest::Url::parse("http://169.254.169.254/latest/meta-data").unwrap();
        assert!(matches!(
            check(&url, false).await,
            Err(EgressError::Forbidden { .. })
        ));
        assert!(check(&url, true).await.is_ok());
        let ok = reqwest::Url::parse("http://127.0.0.1:9/").unwrap();
        assert!(check(&ok, false).await.is_ok());
        let ftp = reqwest::Url::parse("ftp://example.com/").unwrap();
        assert!(matches!(
            check(&ftp, false).await,
            Err(EgressError::BadUrl { .. })
        ));
    }
}
