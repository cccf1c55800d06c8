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
    let address = resolve_checked(&host, &lookup, port, allow_metadata).await?;
    Ok((lookup, address))
}

/// Checks a bare host name or address (SMTP's `HOST`, an MQTT broker) the way [`check`] checks a
/// URL's host: numeric spellings are read as a browser reads them (`2852039166`, `0xa9fea9fe` and
/// `0251.0376.0251.0376` are all 169.254.169.254), then every resolved address is checked.
/// Returns the address to connect to.
pub async fn check_host(
    host: &str,
    port: u16,
    allow_metadata: bool,
) -> Result<SocketAddr, EgressError> {
    let bare = host.trim().trim_start_matches('[').trim_end_matches(']');
    let spelled = if bare.contains(':') {
        format!("[{bare}]")
    } else {
        bare.to_owned()
    };
    let url =
        reqwest::Url::parse(&format!("http://{spelled}/")).map_err(|_| EgressError::BadUrl {
            url: host.to_owned(),
        })?;
    let normalised = url
        .host_str()
        .ok_or_else(|| EgressError::BadUrl {
            url: host.to_owned(),
        })?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    resolve_checked(host, &normalised, port, allow_metadata).await
}

async fn resolve_checked(
    host: &str,
    lookup: &str,
    port: u16,
    allow_metadata: bool,
) -> Result<SocketAddr, EgressError> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((lookup, port))
        .await
        .map_err(|e| EgressError::Unresolvable {
            host: host.to_owned(),
            reason: e.to_string(),
        })?
        .collect();
    let first = *addresses.first().ok_or_else(|| EgressError::Unresolvable {
        host: host.to_owned(),
        reason: "no address".into(),
    })?;
    if !allow_metadata
        && let Some(address) = addresses
            .iter()
            .map(SocketAddr::ip)
            .find(|ip| is_forbidden(*ip))
    {
        return Err(EgressError::Forbidden {
            host: host.to_owned(),
            address,
        });
    }
    Ok(first)
}

/// A refused destination is final; a name that does not resolve now may resolve later.
pub(crate) fn notify_error(trigger: &str, error: EgressError) -> drydock_core::ports::NotifyError {
    match error {
        EgressError::Unresolvable { .. } => drydock_core::ports::NotifyError::Unavailable {
            trigger: trigger.to_owned(),
            reason: error.to_string(),
        },
        other => drydock_core::ports::NotifyError::Refused {
            trigger: trigger.to_owned(),
            reason: other.to_string(),
        },
    }
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
    async fn bare_hosts_in_every_numeric_spelling() {
        for host in [
            "169.254.169.254",
            "2852039166",
            "0xa9fea9fe",
            "0251.0376.0251.0376",
            "169.254.43518",
            "::ffff:169.254.169.254",
            "[::ffff:169.254.169.254]",
            "fe80::1",
            "[fd00:ec2::254]",
            "100.100.100.200",
        ] {
            assert!(
                matches!(
                    check_host(host, 25, false).await,
                    Err(EgressError::Forbidden { .. })
                ),
                "{host}"
            );
        }
        let allowed = check_host("169.254.169.254", 25, true).await.unwrap();
        assert_eq!(allowed.ip(), IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)));
        let loopback = check_host("127.0.0.1", 1883, false).await.unwrap();
        assert_eq!(loopback.port(), 1883);
        assert_eq!(
            check_host("::1", 25, false).await.unwrap(),
            SocketAddr::from((Ipv6Addr::LOCALHOST, 25))
        );
        assert_eq!(
            check_host("[::1]", 25, false).await.unwrap(),
            SocketAddr::from((Ipv6Addr::LOCALHOST, 25))
        );
    }

    #[tokio::test]
    async fn urls_in_every_numeric_spelling() {
        for url in [
            "http://2852039166/",
            "http://0xa9fea9fe/",
            "http://0251.0376.0251.0376/",
            "http://169.254.43518/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::169.254.169.254]/",
            "http://[fe80::1]/",
        ] {
            let url = reqwest::Url::parse(url).unwrap();
            assert!(
                matches!(check(&url, false).await, Err(EgressError::Forbidden { .. })),
                "{url}"
            );
        }
    }

    #[tokio::test]
    async fn refuses_unless_allowed() {
        let url = reqwest::Url::parse("http://169.254.169.254/latest/meta-data").unwrap();
        assert!(matches!(
            check(&url, false).await,
            Err(EgressError::Forbidden { .. })
        ));
        // What is returned is what the channels connect to: the host and the checked address.
        assert_eq!(
            check(&url, true).await.unwrap(),
            (
                "169.254.169.254".to_owned(),
                SocketAddr::from(([169, 254, 169, 254], 80))
            )
        );
        let ok = reqwest::Url::parse("http://127.0.0.1:9/").unwrap();
        assert_eq!(
            check(&ok, false).await.unwrap(),
            (
                "127.0.0.1".to_owned(),
                SocketAddr::from(([127, 0, 0, 1], 9))
            )
        );
        let v6 = reqwest::Url::parse("https://[::1]/").unwrap();
        assert_eq!(
            check(&v6, false).await.unwrap(),
            (
                "::1".to_owned(),
                SocketAddr::from((Ipv6Addr::LOCALHOST, 443))
            )
        );
        let ftp = reqwest::Url::parse("ftp://example.com/").unwrap();
        assert!(matches!(
            check(&ftp, false).await,
            Err(EgressError::BadUrl { .. })
        ));
    }
}
