//! What `dpkg --configure` would have done, done by prisn instead, deterministically.
//!
//! prisn runs no maintainer script (there is nothing to run them with, and their output
//! depends on the machine and the clock). What they would have made that a container needs
//! is written here, from the package files already in the tree:
//!
//! | made by              | what                                   | here                        |
//! |----------------------|----------------------------------------|-----------------------------|
//! | base-passwd, adduser | /etc/passwd, /etc/group                | root, nobody, nonroot 65532 |
//! | base-files postinst  | /etc/nsswitch.conf, /etc/profile, dot files of /root | copied from /usr/share/base-files |
//! | ca-certificates      | /etc/ssl/certs/ca-certificates.crt, /etc/ca-certificates.conf, one .pem link per cert | generated from /usr/share/ca-certificates, sorted |
//! | tzdata (debconf)     | /etc/localtime, /etc/timezone          | Etc/UTC                     |
//! | mawk (alternatives)  | /usr/bin/awk                           | → mawk                      |
//! | dpkg                 | /var/lib/dpkg/status                   | the pins (for scanners)     |
//!
//! Not made: OpenSSL's hash links in /etc/ssl/certs (`c_rehash`): OpenSSL finds the roots
//! through its default CA file (/usr/lib/ssl/cert.pem → the bundle), which is enough for
//! Python's `ssl`, curl and Node's `--use-openssl-ca`. No ld.so.cache either: Debian's
//! loader searches the multiarch directories without one. Python's `.pyc` files (py3compile)
//! are not made; bytecode is the image build's business.
//!
//! Also here: the directories a root filesystem needs (`/tmp` and `/var/tmp` 1777, `/root`
//! 0700, `/home/nonroot` owned by 65532) and the trimming of docs, man pages and locales
//! (each package's `copyright` file is kept: the licences travel with the image).

use super::lock::Pin;
use super::tree::{Kind, Node, Tree};

/// uid and gid of the `nonroot` user (distroless's number).
pub const NONROOT: u64 = 65532;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/usr/sbin/nologin
";
const GROUP: &str = "root:x:0:
nogroup:x:65534:
nonroot:x:65532:
";

/// Directories dropped whole: nothing in a container reads them.
const DROP: &[&str] = &[
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "usr/share/linda",
    "usr/share/bug",
    "usr/share/doc-base",
    "usr/share/bash-completion",
    "usr/share/menu",
];

/// Apply everything in the module docs to `tree`, for the packages `pins`.
pub fn apply(tree: &mut Tree, pins: &[Pin]) {
    trim(tree);
    users(tree);
    base_files(tree);
    certificates(tree);
    timezone(tree);
    alternatives(tree);
    dpkg_status(tree, pins);
}

fn trim(tree: &mut Tree) {
    for d in DROP {
        tree.remove_tree(d);
    }
    // Docs, but each package's copyright file stays.
    tree.nodes.retain(|path, _| {
        let Some(rest) = path.strip_prefix("usr/share/doc/") else {
            return true;
        };
        let mut parts = rest.split('/');
        let _pkg = parts.next();
        matches!(
            (parts.next(), parts.next()),
            (None, _) | (Some("copyright"), None)
        )
    });
    // The Python test suite: 30 MB nobody runs in production.
    let tests: Vec<String> = tree
        .nodes
        .keys()
        .filter(|p| {
            p.strip_prefix("usr/lib/python3")
                .and_then(|r| r.split_once('/'))
                .is_some_and(|(_, sub)| sub == "test")
        })
        .cloned()
        .collect();
    for t in tests {
        tree.remove_tree(&t);
    }
}

fn users(tree: &mut Tree) {
    tree.file("etc/passwd", PASSWD.into(), 0o644);
    tree.file("etc/group", GROUP.into(), 0o644);
    tree.dir("root", 0o700);
    tree.dir("home", 0o755);
    tree.put(
        "home/nonroot",
        Node {
            kind: Kind::Dir,
            mode: 0o755,
            uid: NONROOT,
            gid: NONROOT,
        },
    );
    tree.dir("tmp", 0o1777);
    tree.dir("var/tmp", 0o1777);
    for d in ["proc", "sys", "dev", "run", "etc", "usr/local/bin"] {
        if tree.get(d).is_none() {
            tree.dir(d, 0o755);
        }
    }
}

fn copy(tree: &mut Tree, from: &str, to: &str) {
    if tree.get(to).is_some() {
        return;
    }
    if let Some(Node {
        kind: Kind::File(bytes),
        ..
    }) = tree.get(from).cloned()
    {
        tree.file(to, bytes, 0o644);
    }
}

fn base_files(tree: &mut Tree) {
    copy(
        tree,
        "usr/share/base-files/nsswitch.conf",
        "etc/nsswitch.conf",
    );
    copy(tree, "usr/share/base-files/profile", "etc/profile");
    copy(tree, "usr/share/base-files/dot.profile", "root/.profile");
    copy(tree, "usr/share/base-files/dot.bashrc", "root/.bashrc");
}

fn certificates(tree: &mut Tree) {
    const DIR: &str = "usr/share/ca-certificates/";
    let certs: Vec<(String, Vec<u8>)> = tree
        .nodes
        .iter()
        .filter_map(|(p, n)| match &n.kind {
            Kind::File(b) if p.starts_with(DIR) && p.ends_with(".crt") => {
                Some((p[DIR.len()..].to_string(), b.clone()))
            }
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return;
    }
    let mut bundle = Vec::new();
    let mut conf = String::from("# Generated by prisn (what ca-certificates' postinst writes)\n");
    for (rel, bytes) in &certs {
        bundle.extend_from_slice(bytes);
        if !bytes.ends_with(b"\n") {
            bundle.push(b'\n');
        }
        conf.push_str(rel);
        conf.push('\n');
        let base = rel.rsplit('/').next().unwrap_or(rel);
        let pem = format!("etc/ssl/certs/{}.pem", base.trim_end_matches(".crt"));
        tree.symlink(&pem, &format!("/{DIR}{rel}"));
    }
    tree.file("etc/ssl/certs/ca-certificates.crt", bundle, 0o644);
    tree.file("etc/ca-certificates.conf", conf.into_bytes(), 0o644);
    // openssl ships these; without it, OpenSSL must still find the bundle.
    if tree.get("usr/lib/ssl/cert.pem").is_none() {
        tree.symlink("usr/lib/ssl/cert.pem", "/etc/ssl/certs/ca-certificates.crt");
    }
    if tree.get("usr/lib/ssl/certs").is_none() {
        tree.symlink("usr/lib/ssl/certs", "/etc/ssl/certs");
    }
}

fn timezone(tree: &mut Tree) {
    if tree.get("usr/share/zoneinfo/Etc/UTC").is_some() {
        tree.symlink("etc/localtime", "/usr/share/zoneinfo/Etc/UTC");
        tree.file("etc/timezone", b"Etc/UTC\n".to_vec(), 0o644);
    }
}

/// update-alternatives links for the commands a base's scripts expect by their generic name.
fn alternatives(tree: &mut Tree) {
    const LINKS: &[(&str, &[&str])] = &[("usr/bin/awk", &["usr/bin/mawk", "usr/bin/gawk"])];
    for (link, candidates) in LINKS {
        if tree.get(link).is_some() {
            continue;
        }
        if let Some(c) = candidates.iter().find(|c| tree.get(c).is_some()) {
            tree.symlink(link, &format!("/{c}"));
        }
    }
}

fn dpkg_status(tree: &mut Tree, pins: &[Pin]) {
    let mut pins: Vec<&Pin> = pins.iter().collect();
    pins.sort();
    let mut out = String::new();
    for p in pins {
        out.push_str(&format!(
            "Package: {}\nStatus: install ok installed\nVersion: {}\nArchitecture: {}\n\n",
            p.name, p.version, p.architecture
        ));
    }
    tree.file("var/lib/dpkg/status", out.into_bytes(), 0o644);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_files_are_written() {
        let mut t = Tree::default();
        t.file(
            "usr/share/ca-certificates/mozilla/B.crt",
            b"-----B-----".to_vec(),
            0o644,
        );
        t.file(
            "usr/share/ca-certificates/mozilla/A.crt",
            b"-----A-----\n".to_vec(),
            0o644,
        );
        t.file("usr/share/zoneinfo/Etc/UTC", b"TZif".to_vec(), 0o644);
        t.file("usr/bin/mawk", b"ELF".to_vec(), 0o755);
        t.file("usr/share/doc/mawk/copyright", b"GPL".to_vec(), 0o644);
        t.file("usr/share/doc/mawk/changelog.gz", b"..".to_vec(), 0o644);
        t.file("usr/lib/python3.11/test/test_os.py", b"..".to_vec(), 0o644);
        t.file("usr/share/man/man1/mawk.1.gz", b"..".to_vec(), 0o644);
        apply(&mut t, &[]);
        let file = |p: &str| match &t.get(p).unwrap().kind {
            Kind::File(b) => String::from_utf8(b.clone()).unwrap(),
            k => panic!("{p} is {k:?}"),
        };
        assert_eq!(
            file("etc/ssl/certs/ca-certificates.crt"),
            "-----A-----\n-----B-----\n"
        );
        assert_eq!(
            file("etc/ca-certificates.conf").lines().nth(1),
            Some("mozilla/A.crt")
        );
        assert!(file("etc/passwd").contains("nonroot:x:65532:65532:nonroot:/home/nonroot:"));
        assert_eq!(t.get("home/nonroot").unwrap().uid, NONROOT);
        assert_eq!(t.get("tmp").unwrap().mode, 0o1777);
        assert_eq!(
            t.get("usr/bin/awk").unwrap().kind,
            Kind::Symlink("/usr/bin/mawk".into())
        );
        assert_eq!(
            t.resolve("etc/localtime").unwrap().0,
            "usr/share/zoneinfo/Etc/UTC"
        );
        assert_eq!(
            t.resolve("usr/lib/ssl/cert.pem").unwrap().0,
            "etc/ssl/certs/ca-certificates.crt"
        );
        assert!(t.get("usr/share/doc/mawk/copyright").is_some());
        assert!(t.get("usr/share/doc/mawk/changelog.gz").is_none());
        assert!(t.get("usr/lib/python3.11/test").is_none());
        assert!(t.get("usr/share/man").is_none());
    }
}
