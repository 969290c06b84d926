//! No password hash is ever shown: not in system tables, `information_schema`, storage
//! snapshots, error messages or Debug output; and logins fail alike for a wrong password
//! and an unknown user.

use crate::common;

use common::{TestEngine, render, run_all};

#[tokio::test]
async fn hashes_never_leave_the_catalog() {
    let test = TestEngine::with_config(|config| config.root_password = Some(engine::passwords::Secret::new("root-pw")));
    let mut root = test.session();
    run_all(&mut root, &["CREATE USER alice WITH PASSWORD 'correct horse' ROLE dba", "ALTER USER alice SET PASSWORD 'battery staple'"])
        .await;
    let mut seen = Vec::new();
    for sql in [
        "SELECT * FROM system.users",
        "SELECT * FROM information_schema.columns",
        "SELECT * FROM system.tables",
        "SELECT * FROM system.columns",
    ] {
        seen.push(render(&root.execute(sql).await.unwrap()));
    }
    seen.extend(test.engine.describe_storage().unwrap());
    seen.extend(
        test.engine
            .dump_storage()
            .unwrap()
            .into_iter()
            .map(|(key, value)| format!("{} {}", String::from_utf8_lossy(&key), String::from_utf8_lossy(&value))),
    );
    let typo = root.execute("ALTER USER alice SET PASSWORD battery").await.unwrap_err();
    seen.push(typo.to_string());
    seen.push(format!("{root:?} {:?} {:?}", test.engine, test.engine.shared().config));
    let alice = test.engine.login("alice", "battery staple").unwrap();
    seen.push(format!("{alice:?}"));
    for (user, password) in [("alice", "correct horse"), ("nobody", "battery staple"), ("root", "wrong")] {
        let error = test.engine.login(user, password).unwrap_err();
        assert_eq!(error.sql_state().code(), "28P01", "{error}");
        seen.push(error.to_string());
    }
    for text in &seen {
        for forbidden in ["$argon2", "battery", "correct horse", "root-pw"] {
            assert!(!text.contains(forbidden), "{forbidden} shown in: {text}");
        }
    }
    assert!(test.engine.login("root", "root-pw").is_ok());
}

/// A server's login: the same answers as `Engine::login`, the password check on tokio's
/// blocking pool (here beside a runtime of one thread).
#[tokio::test(flavor = "current_thread")]
async fn async_logins_answer_as_logins_do() {
    let test = TestEngine::new();
    let mut root = test.session();
    run_all(&mut root, &["CREATE USER alice WITH PASSWORD 'correct horse' ROLE user"]).await;
    let mut alice = test.engine.login_async("alice", "correct horse").await.expect("login");
    let me = render(&alice.execute("SELECT CURRENT_USER() AS me").await.unwrap());
    assert!(me.contains("| alice |"), "{me}");
    for (user, password) in [("alice", "wrong"), ("nobody", "correct horse")] {
        let error = test.engine.login_async(user, password).await.unwrap_err();
        assert_eq!(error.sql_state().code(), "28P01", "{error}");
        assert_eq!(error.to_string(), test.engine.login(user, password).unwrap_err().to_string());
    }
}
