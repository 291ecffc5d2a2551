//! Resource identifiers ([RFC 8707 §2](https://www.rfc-editor.org/rfc/rfc8707#section-2)) and
//! when two of them name the same resource.
//!
//! An access token's `aud` must name this resource server. The comparison is
//! [RFC 3986 §6.2.2–6.2.3](https://www.rfc-editor.org/rfc/rfc3986#section-6.2.2) syntax- and
//! scheme-based equivalence for `http`/`https` URIs, and nothing looser: the scheme and host
//! compare case-insensitively, an explicit default port equals no port, an empty path equals `/`;
//! the path and query compare byte for byte; a fragment never matches (RFC 8707 forbids one).
//! Anything that is not an absolute `http`/`https` URI compares byte for byte.

/// The parts of an absolute URI (RFC 3986 Appendix B).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UriParts<'a> {
    pub(crate) scheme: &'a str,
    pub(crate) authority: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) fragment: Option<&'a str>,
}

impl<'a> UriParts<'a> {
    /// Splits `s` when it has a scheme and an authority (`scheme://authority…`).
    pub(crate) fn split(s: &'a str) -> Option<Self> {
        let (scheme, rest) = s.split_once(':')?;
        if scheme.is_empty() || scheme.contains(['/', '?', '#']) {
            return None;
        }
        let rest = rest.strip_prefix("//")?;
        let (rest, fragment) = match rest.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (rest, None),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        Some(Self {
            scheme,
            authority,
            path,
            query,
            fragment,
        })
    }

    /// The default port of the `http`/`https` scheme, `None` for any other.
    pub(crate) fn default_port(&self) -> Option<u16> {
        if self.scheme.eq_ignore_ascii_case("https") {
            Some(443)
        } else if self.scheme.eq_ignore_ascii_case("http") {
            Some(80)
        } else {
            None
        }
    }

    /// `(userinfo, host, port)` of the authority; `None` for a malformed port or IP literal.
    pub(crate) fn host_port(&self) -> Option<(Option<&'a str>, &'a str, Option<u16>)> {
        let (userinfo, hostport) = match self.authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, self.authority),
        };
        let (host, port) = if hostport.starts_with('[') {
            let end = hostport.find(']')?;
            let (host, rest) = hostport.split_at(end + 1);
            match rest {
                "" => (host, None),
                _ => (host, Some(rest.strip_prefix(':')?)),
            }
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        let port = match port {
            None | Some("") => None,
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse::<u16>().ok()?),
            Some(_) => return None,
        };
        Some((userinfo, host, port))
    }
}

/// Whether the audience value `aud` names the resource `resource` (see the module docs).
pub fn same_resource(aud: &str, resource: &str) -> bool {
    if aud == resource {
        // Byte-equal, but a fragment is still never a valid resource indicator (a fragment
        // starts at a `#`: without one, nothing to split).
        return !aud.as_bytes().contains(&b'#')
            || UriParts::split(aud).is_none_or(|u| u.fragment.is_none());
    }
    let (Some(a), Some(r)) = (UriParts::split(aud), UriParts::split(resource)) else {
        return false;
    };
    let (Some(default_port), Some(_)) = (a.default_port(), r.default_port()) else {
        return false;
    };
    let (Some((a_user, a_host, a_port)), Some((r_user, r_host, r_port))) =
        (a.host_port(), r.host_port())
    else {
        return false;
    };
    a.fragment.is_none()
        && r.fragment.is_none()
        && a.scheme.eq_ignore_ascii_case(r.scheme)
        && a_user == r_user
        && !a_host.is_empty()
        && a_host.eq_ignore_ascii_case(r_host)
        && a_port.unwrap_or(default_port) == r_port.unwrap_or(default_port)
        && normalized_path(a.path) == normalized_path(r.path)
        && a.query == r.query
}

fn normalized_path(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_forms_match() {
        let r = "https://mcp.example.com/mcp";
        for aud in [
            "https://mcp.example.com/mcp",
            "HTTPS://MCP.Example.COM/mcp",
            "https://mcp.example.com:443/mcp",
        ] {
            assert!(same_resource(aud, r), "{aud}");
        }
        assert!(same_resource("http://127.0.0.1:80", "http://127.0.0.1/"));
        assert!(same_resource(
            "http://[::1]:8080/mcp",
            "http://[::1]:8080/mcp"
        ));
        assert!(same_resource("urn:example:api", "urn:example:api"));
    }

    #[test]
    fn nothing_looser_matches() {
        let r = "https://mcp.example.com/mcp";
        for aud in [
            "https://mcp.example.com/mcp/",
            "https://mcp.example.com/MCP",
            "https://mcp.example.com/",
            "https://mcp.example.com",
            "https://mcp.example.com:8443/mcp",
            "http://mcp.example.com/mcp",
            "https://mcp.example.com/mcp#frag",
            "https://mcp.example.com/mcp?x=1",
            "https://evil@mcp.example.com/mcp",
            "https://mcp.example.com.evil/mcp",
            "https://mcp.example.com/mc",
            "https://mcp.example.com:443x/mcp",
            "mcp.example.com/mcp",
            "",
        ] {
            assert!(!same_resource(aud, r), "{aud}");
        }
        assert!(!same_resource("https://h/mcp#f", "https://h/mcp#f"));
        assert!(!same_resource("ftp://h/x", "ftp://H/x"));
    }
}
