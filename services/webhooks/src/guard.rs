//! Where webhook requests may go: an app names the URL, so Herald must not become a way into
//! the operator's own network. Loopback, private, link-local, shared (CGNAT) and other
//! non-public addresses are refused unless the operator allows them
//! (`HERALD_WEBHOOK_ALLOW_PRIVATE`, for tests and development): once when the URL is
//! registered (an address written in it), and at every connection (what its name resolves to,
//! so a name that later resolves inside is refused too).

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether an address is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // shared address space (CGNAT), benchmarking, reserved
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // unique local fc00::/7, link-local fe80::/10, documentation 2001:db8::/32
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

/// Checks a URL an app registers: http or https, a host, no credentials in it, and (unless
/// private destinations are allowed) not a non-public address or `localhost`.
pub fn check_url(text: &str, allow_private: bool) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("url is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("url must be http or https".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("url may not carry credentials".to_owned());
    }
    let Some(host) = url.host() else {
        return Err("url has no host".to_owned());
    };
    if allow_private {
        return Ok(url);
    }
    let refused = match host {
        url::Host::Ipv4(ip) => !is_public(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => !is_public(IpAddr::V6(ip)),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    };
    if refused {
        return Err(
            "url points at a loopback or private address (the server setting HERALD_WEBHOOK_ALLOW_PRIVATE allows it)"
                .to_owned(),
        );
    }
    Ok(url)
}

/// Resolves names for webhook requests and keeps only public addresses (all of them when
/// private destinations are allowed).
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| allow_private || is_public(addr.ip()))
                .collect();
            if kept.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> =
                    format!("{host} resolves to no public address").into();
                return Err(err);
            }
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn registered_urls_are_checked() {
        assert!(check_url("https://hooks.example.com/herald", false).is_ok());
        for (url, why) in [
            ("ftp://example.com/x", "http or https"),
            ("https://user:pw@example.com/", "credentials"),
            ("http://127.0.0.1:8080/hook", "private"),
            ("http://[::1]/hook", "private"),
            ("http://localhost/hook", "private"),
            ("http://169.254.169.254/latest/meta-data", "private"),
            ("not a url", "not a URL"),
        ] {
            let err = check_url(url, false).unwrap_err();
            assert!(err.contains(why), "{url}: {err}");
        }
        assert!(
            check_url("http://127.0.0.1:8080/hook", true).is_ok(),
            "allowed by the operator"
        );
    }
}
