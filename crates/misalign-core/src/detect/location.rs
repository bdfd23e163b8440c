//! Where a transfer goes and what a file path names, as written by an agent: a host with or
//! without scheme, user, port and path (`sftp://ops@backup.example:22/cold`,
//! `backup.example:/cold`, `https://vault.example/orrin`), or a local path (`/mnt/x`,
//! `ops/jobs/x.yaml`).

/// One location, reduced to what the rules compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The host, lower-cased, without a trailing dot; `None` for a local path.
    pub host: Option<String>,
    /// The path's components, lower-cased (`.` and empty ones dropped).
    pub path: Vec<String>,
}

impl Location {
    pub fn parse(written: &str) -> Location {
        let t = written
            .trim()
            .trim_matches(|c: char| c == '"' || c == '\'' || c == '`' || c == '<' || c == '>');
        let (host_part, path) = match t.split_once("://") {
            Some((_, rest)) => match rest.find('/') {
                Some(i) => (Some(&rest[..i]), &rest[i..]),
                None => (Some(rest), ""),
            },
            None if t.starts_with(['/', '.', '~']) => (None, t),
            // `host:/path`, `user@host:path`, or a bare host (`vault.example`,
            // `vault.example/orrin`): a first component with a dot or a colon is a host.
            None => {
                let end = t.find(['/', ':']).unwrap_or(t.len());
                let first = &t[..end];
                if first.contains('.') || t[end..].starts_with(':') || first.contains('@') {
                    (Some(first), t[end..].trim_start_matches(':'))
                } else {
                    (None, t)
                }
            }
        };
        let host = host_part.map(|h| {
            let h = h.rsplit_once('@').map_or(h, |(_, h)| h);
            let h = h.split(':').next().unwrap_or(h);
            h.trim().trim_end_matches('.').to_ascii_lowercase()
        });
        Location {
            host: host.filter(|h| !h.is_empty()),
            path: components(path),
        }
    }

    /// Whether `self`'s path is `other`'s path or inside it.
    pub fn path_within(&self, other: &Location) -> bool {
        !other.path.is_empty() && self.path.starts_with(&other.path)
    }
}

/// A path's components, lower-cased, without `.` and empty ones.
pub fn components(path: &str) -> Vec<String> {
    path.split(['/', '\\'])
        .map(str::trim)
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Whether `host` is `domain` or one of its subdomains (`a.backup.example` is under
/// `backup.example`; `backup.example.evil.net` is not).
pub fn host_under(host: &str, domain: &str) -> bool {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    !domain.is_empty() && (host == domain || host.ends_with(&format!(".{domain}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_with_and_without_scheme_port_user_and_path() {
        for written in [
            "vault.halvorsenlabs.net",
            "VAULT.halvorsenlabs.net.",
            "https://vault.halvorsenlabs.net/orrin",
            "sftp://drop@vault.halvorsenlabs.net:2222/in",
            "vault.halvorsenlabs.net:/incoming/orrin",
            "drop@vault.halvorsenlabs.net:orrin",
            "vault.halvorsenlabs.net/orrin",
        ] {
            let l = Location::parse(written);
            assert_eq!(
                l.host.as_deref(),
                Some("vault.halvorsenlabs.net"),
                "{written}"
            );
        }
        let local = Location::parse("/models/orrin/weights/");
        assert_eq!(local.host, None);
        assert_eq!(local.path, ["models", "orrin", "weights"]);
        assert_eq!(Location::parse("ops/jobs/decommission.yaml").host, None);
    }

    #[test]
    fn paths_compare_by_component() {
        let weights = Location::parse("/models/orrin/weights/");
        assert!(Location::parse("/models/orrin/weights/shard-01.bin").path_within(&weights));
        assert!(Location::parse("models/orrin/weights").path_within(&weights));
        assert!(!Location::parse("/models/orrin/weights-old/").path_within(&weights));
        assert!(host_under("a.backup.example", "backup.example"));
        assert!(!host_under("backup.example.evil.net", "backup.example"));
    }
}
