//! Debian version numbers (`[epoch:]upstream[-revision]`) and their order, as dpkg
//! compares them (Debian Policy §5.6.12). Own code rather than a crate: the algorithm is
//! thirty lines, fully specified, and the crates that do it bring regex or Python bindings.

use std::cmp::Ordering;

/// A relation operator in `Depends` (`<<`, `<=`, `=`, `>=`, `>>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Op {
    /// Parse an operator; the obsolete `<` and `>` mean `<=` and `>=` (Policy §7.1).
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "<<" => Op::Lt,
            "<=" | "<" => Op::Le,
            "=" => Op::Eq,
            ">=" | ">" => Op::Ge,
            ">>" => Op::Gt,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ge => ">=",
            Op::Gt => ">>",
        }
    }

    /// Does `have OP want` hold?
    pub fn holds(self, have: &str, want: &str) -> bool {
        let o = compare(have, want);
        match self {
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
            Op::Eq => o == Ordering::Equal,
            Op::Ge => o != Ordering::Less,
            Op::Gt => o == Ordering::Greater,
        }
    }
}

fn split(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if e.bytes().all(|b| b.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((up, rev)) => (epoch, up, rev),
        None => (epoch, rest, ""),
    }
}

/// dpkg's order of non-digit characters: `~` before everything (even the end), then the
/// end, then letters, then everything else.
fn weight(c: Option<u8>) -> i32 {
    match c {
        Some(b'~') => -1,
        None => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

fn compare_part(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() || !b.is_empty() {
        // The non-digit prefix, character by character.
        while a.first().is_some_and(|c| !c.is_ascii_digit())
            || b.first().is_some_and(|c| !c.is_ascii_digit())
        {
            let ca = a.first().copied().filter(|c| !c.is_ascii_digit());
            let cb = b.first().copied().filter(|c| !c.is_ascii_digit());
            match weight(ca).cmp(&weight(cb)) {
                Ordering::Equal => {}
                o => return o,
            }
            if ca.is_some() {
                a = &a[1..];
            }
            if cb.is_some() {
                b = &b[1..];
            }
        }
        // The digit run, as a number (leading zeros ignored, any length).
        let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
        let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let na = trim_zeros(&a[..da]);
        let nb = trim_zeros(&b[..db]);
        match na.len().cmp(&nb.len()).then_with(|| na.cmp(nb)) {
            Ordering::Equal => {}
            o => return o,
        }
        a = &a[da..];
        b = &b[db..];
    }
    Ordering::Equal
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|&&c| c == b'0').count();
    &d[n..]
}

/// Compare two Debian versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| compare_part(ua, ub))
        .then_with(|| compare_part(ra, rb))
}

/// The upstream version without epoch, revision or repack suffix, for labels:
/// `1:3.11.2-6+deb12u8` → `3.11.2`, `18.20.4+dfsg-1~deb12u2` → `18.20.4`.
pub fn upstream(v: &str) -> &str {
    let (_, up, _) = split(v);
    let end = up
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(up.len());
    if end == 0 { up } else { &up[..end] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_examples_order_as_dpkg_does() {
        let ordered = [
            "~~", "~~a", "~", "", "0.9", "1.0~rc1", "1.0", "1.0-1", "1.0-1+b1", "1.0-2", "1.0.1",
            "1.00.2", "1.10", "1:0.1",
        ];
        for w in ordered.windows(2) {
            assert_eq!(compare(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
            assert_eq!(
                compare(w[1], w[0]),
                Ordering::Greater,
                "{} > {}",
                w[1],
                w[0]
            );
        }
        assert_eq!(compare("1.01", "1.1"), Ordering::Equal);
        assert_eq!(compare("2:1.0", "2:1.0"), Ordering::Equal);
    }

    #[test]
    fn real_debian_versions() {
        assert!(Op::Ge.holds("3.11.2-6+deb12u8", "3.11.2-1~"));
        assert!(Op::Eq.holds("3.11.2-1+b1", "3.11.2-1+b1"));
        assert!(Op::Ge.holds("1:1.2.13.dfsg-1", "1:1.2.0"));
        assert!(!Op::Ge.holds("1.2.13.dfsg-1", "1:1.2.0"), "epoch wins");
        assert!(Op::Lt.holds("2.36-9", "2.36-9+deb12u14"));
        assert!(Op::Gt.holds("5.2.15-2+b13", "5.2.15-2"));
        assert!(Op::Le.holds("18.20.4+dfsg-1~deb12u2", "18.20.4+dfsg-1"));
    }

    #[test]
    fn upstream_part_for_labels() {
        assert_eq!(upstream("3.11.2-1+b1"), "3.11.2");
        assert_eq!(upstream("18.20.4+dfsg-1~deb12u2"), "18.20.4");
        assert_eq!(upstream("1:5.2.15-2+b13"), "5.2.15");
        assert_eq!(upstream("2026b-0+deb12u1"), "2026");
    }
}
