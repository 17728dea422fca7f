//! `[server] user` and `group`: resolved when the file is loaded; unknown names are refused
//! with the line and the key.

use super::*;

fn server(extra: &str) -> String {
    format!("[server]\nzones = \"../zones\"\n{extra}")
}

#[test]
fn user_and_group_resolve_to_ids() {
    let cfg = parse(&server("user = \"nobody\"\n"), &example()).unwrap();
    let r = cfg.server.run_as.unwrap();
    assert_eq!((r.user.as_str(), r.uid), ("nobody", 65534));
    assert!(r.groups.contains(&r.gid), "{r:?}");
    let cfg = parse(&server("user = \"nobody\"\ngroup = \"root\"\n"), &example()).unwrap();
    let r = cfg.server.run_as.unwrap();
    assert_eq!((r.gid, r.group.as_str()), (0, "root"));
    assert!(r.groups.contains(&0), "{r:?}");
    let cfg = parse(&server(""), &example()).unwrap();
    assert_eq!(cfg.server.run_as, None);
}

#[test]
fn unknown_user_or_group_names_line_and_key() {
    let d = errors(&server("user = \"no-such-user-x\"\n"));
    assert_eq!(
        (d[0].line, d[0].key.as_str()),
        (3, "server.user"),
        "{}",
        d[0]
    );
    assert!(
        d[0].message.contains("no user `no-such-user-x`"),
        "{}",
        d[0]
    );
    let d = errors(&server("user = \"nobody\"\ngroup = \"no-such-group-x\"\n"));
    assert_eq!(
        (d[0].line, d[0].key.as_str()),
        (4, "server.group"),
        "{}",
        d[0]
    );
    assert!(d[0].message.contains("no group"), "{}", d[0]);
    let d = errors(&server("group = \"root\"\n"));
    assert_eq!(
        (d[0].line, d[0].key.as_str()),
        (3, "server.group"),
        "{}",
        d[0]
    );
    assert!(d[0].message.contains("needs `user`"), "{}", d[0]);
    let d = errors(&server("user = \"\"\n"));
    assert_eq!(d[0].key, "server.user", "{}", d[0]);
}
