//! Users: CREATE USER, ALTER USER, DROP USER [CASCADE] (README.md#users-roles-and-permissions), and how a
//! session's user is established (password login, trusted sessions) and kept current.
//!
//! Rules: dba manages users of roles dba, service and user; only system grants or takes
//! role system ([`permissions::check_manage_user`]); every user may change its own
//! password; nobody drops root or changes its role, and root's password is the engine
//! configuration's. DROP USER refuses while the user owns rows (2BP01, naming a table);
//! with CASCADE it removes them in the same atomic commit as the user.

use std::sync::Arc;

use crate::catalog::{ROOT_USER, Role, RowOwner, TableEntry, UserRecord, check_user_name};
use crate::error::{EngineError, Result, SqlState};
use crate::exec::catalog_work;
use crate::exec::context::ExecContext;
use crate::passwords::{self, PasswordHash, ScramCredentials, ScramVerifier, Secret};
use crate::permissions::{self, SessionUser};
use crate::result::QueryResult;
use crate::shared::EngineShared;
use crate::sql::parser::UserChange;
use crate::storage::{RowScope, ScopeWriteGuard, keys, off_async};

fn undefined_user(name: &str) -> EngineError {
    EngineError::new(SqlState::UNDEFINED_OBJECT, format!("user {name} does not exist"))
}

/// The same answer for an unknown user and a wrong password.
fn login_failed(name: &str) -> EngineError {
    EngineError::new(SqlState::INVALID_PASSWORD, format!("password authentication failed for user {name}"))
}

/// A hash to check passwords of unknown users against, made once.
fn decoy_hash(shared: &EngineShared) -> Result<&PasswordHash> {
    if shared.decoy_password.get().is_none() {
        let decoy = passwords::hash_password("decoy", shared.config.password_cost, shared.config.ids.as_ref())?;
        let _ = shared.decoy_password.set(decoy);
    }
    Ok(shared.decoy_password.get().expect("set above"))
}

/// Checks `name`'s password; a wrong password and an unknown user give the same error
/// (28P01), after the same amount of work.
pub fn authenticate(shared: &EngineShared, name: &str, password: &str) -> Result<SessionUser> {
    let user = shared.catalog.user(name);
    let stored = match &user {
        Some(record) if record.name == ROOT_USER => shared.root_password.clone(),
        Some(record) => record.password_hash.clone(),
        None => None,
    };
    let matches = match &stored {
        Some(hash) => passwords::verify_password(password, hash),
        None => {
            // The work of a real check, so timing does not tell who exists.
            let _ = passwords::verify_password(password, decoy_hash(shared)?);
            false
        }
    };
    match user {
        Some(record) if matches => Ok(SessionUser::of(&record)),
        _ => Err(login_failed(name)),
    }
}

/// A trusted in-process session's user: the embedding application vouches for it.
pub fn trusted(shared: &EngineShared, name: &str) -> Result<SessionUser> {
    shared.catalog.user(name).map(|record| SessionUser::of(&record)).ok_or_else(|| undefined_user(name))
}

/// The session user as the catalog has it now (its role may have changed); an error when
/// the user was dropped (or dropped and created again) since the session opened.
pub fn current(shared: &EngineShared, user: &SessionUser) -> Result<Option<SessionUser>> {
    match shared.catalog.user(&user.name) {
        Some(record) if record.id == user.id => Ok((record.role != user.role).then(|| SessionUser::of(&record))),
        _ => Err(EngineError::new(SqlState::INVALID_AUTHORIZATION, format!("user {} no longer exists; open a new session", user.name))),
    }
}

/// The user `EXECUTE AS USER name` runs as, if the effective user may act as it.
pub fn execute_as_target(ctx: &ExecContext, name: &str) -> Result<SessionUser> {
    // Role user may act as nobody: refused before the lookup, which would tell it who
    // exists (`check_execute_as` below decides everything else).
    if ctx.user.role == Role::User {
        return Err(EngineError::new(
            SqlState::INSUFFICIENT_PRIVILEGE,
            "permission denied: EXECUTE AS USER needs role service, dba or system, you have role user",
        ));
    }
    let target = ctx.shared.catalog.user(name).ok_or_else(|| undefined_user(name))?;
    permissions::check_execute_as(ctx.user.role, target.role, name)?;
    Ok(SessionUser::of(&target))
}

/// The stored forms of a password: its argon2id hash and its SCRAM verifier.
async fn hash(shared: &Arc<EngineShared>, password: Secret) -> Result<(PasswordHash, ScramVerifier)> {
    let shared = shared.clone();
    off_async(move || {
        let ids = shared.config.ids.as_ref();
        let hash = passwords::hash_password(password.expose(), shared.config.password_cost, ids)?;
        Ok((hash, ScramVerifier::new(password.expose(), ids)))
    })
    .await
}

/// What a wire login's SCRAM exchange checks `name`'s proof against: the user's verifier,
/// or decoy credentials no proof matches (an unknown user, a user without a password or
/// without a verifier), the same for the same name, so the exchange does not tell who
/// exists.
pub fn scram_credentials(shared: &EngineShared, name: &str) -> ScramCredentials {
    let verifier = match shared.catalog.user(name) {
        Some(record) if record.name == ROOT_USER => shared.root_scram.clone(),
        Some(record) => record.scram.clone(),
        None => None,
    };
    verifier.and_then(|v| v.credentials()).unwrap_or_else(|| ScramCredentials::decoy(name, &shared.scram_decoy_secret))
}

pub async fn create(ctx: &ExecContext, name: &str, if_not_exists: bool, password: Option<Secret>, role: Role) -> Result<QueryResult> {
    permissions::check_manage_user(ctx.user.role, role, "CREATE USER")?;
    check_user_name(name)?;
    let (password_hash, scram) = match password {
        Some(password) => {
            let (hash, scram) = hash(&ctx.shared, password).await?;
            (Some(hash), Some(scram))
        }
        None => (None, None),
    };
    let shared = ctx.shared.clone();
    let ddl = shared.catalog.lock_ddl().await;
    if shared.catalog.user(name).is_some() {
        if if_not_exists {
            return Ok(QueryResult::Message("CREATE USER".into()));
        }
        return Err(EngineError::new(SqlState::DUPLICATE_USER, format!("user {name} already exists")));
    }
    let record = UserRecord {
        id: shared.catalog.allocate_user_id(&ddl),
        name: name.to_string(),
        role,
        password_hash,
        scram,
        created_at_millis: shared.now_millis(),
    };
    catalog_work(ddl, move |ddl| shared.catalog.put_user(ddl, record)).await?;
    Ok(QueryResult::Message("CREATE USER".into()))
}

/// Whether `name` is the session's own login user, acting as itself (not through
/// `EXECUTE AS`, which never makes another user's account one's own).
fn is_own(ctx: &ExecContext, name: &str) -> bool {
    ctx.user.name == name && ctx.user.id == ctx.login
}

pub async fn alter(ctx: &ExecContext, name: &str, change: UserChange) -> Result<QueryResult> {
    // Decided by role alone before the user is looked up, so a user below dba learns
    // nothing about other users.
    let own_password = matches!(change, UserChange::Password(_)) && is_own(ctx, name);
    if !own_password {
        permissions::check_ddl(ctx.user.role, "ALTER USER")?;
    }
    if name == ROOT_USER && matches!(change, UserChange::Password(_)) {
        return Err(EngineError::not_supported("root's password comes from the engine configuration (EngineConfig::root_password)"));
    }
    // Hashing takes a while: before the DDL lock.
    let change = match change {
        UserChange::Password(password) => Ok(hash(&ctx.shared, password).await?),
        UserChange::Role(role) => Err(role),
    };
    let shared = ctx.shared.clone();
    let ddl = shared.catalog.lock_ddl().await;
    // Checked against the user as it is now, under the lock, and only the one field
    // changes: a concurrent ALTER of the other field is never undone.
    let existing = shared.catalog.user(name).ok_or_else(|| undefined_user(name))?;
    let changed = match change {
        Ok((password_hash, scram)) => {
            if !(own_password && existing.id == ctx.user.id) {
                permissions::check_manage_user(ctx.user.role, existing.role, "ALTER USER ... SET PASSWORD")?;
            }
            UserRecord { password_hash: Some(password_hash), scram: Some(scram), ..(*existing).clone() }
        }
        Err(role) => {
            if existing.name == ROOT_USER {
                return Err(EngineError::new(SqlState::INSUFFICIENT_PRIVILEGE, "permission denied: root's role cannot change"));
            }
            permissions::check_manage_user(ctx.user.role, existing.role, "ALTER USER ... SET ROLE")?;
            permissions::check_manage_user(ctx.user.role, role, "ALTER USER ... SET ROLE")?;
            UserRecord { role, ..(*existing).clone() }
        }
    };
    catalog_work(ddl, move |ddl| shared.catalog.put_user(ddl, changed)).await?;
    Ok(QueryResult::Message("ALTER USER".into()))
}

/// The tables whose rows belong to users (USER and STREAM), in table id order.
fn per_user_tables(shared: &EngineShared) -> Vec<Arc<TableEntry>> {
    let mut tables: Vec<Arc<TableEntry>> =
        shared.catalog.tables().into_iter().filter(|t| t.kind().rules().rows == RowOwner::EachUser).collect();
    tables.sort_by_key(|t| t.id());
    tables
}

pub async fn drop(ctx: &ExecContext, name: &str, if_exists: bool, cascade: bool) -> Result<QueryResult> {
    let done = Ok(QueryResult::Message("DROP USER".into()));
    // By role alone first: a user below dba learns nothing about other users.
    permissions::check_ddl(ctx.user.role, "DROP USER")?;
    let Some(existing) = ctx.shared.catalog.user(name) else {
        return if if_exists { done } else { Err(undefined_user(name)) };
    };
    if existing.name == ROOT_USER {
        return Err(EngineError::new(SqlState::INSUFFICIENT_PRIVILEGE, "permission denied: root cannot be dropped"));
    }
    if existing.id == ctx.user.id || existing.id == ctx.login {
        return Err(EngineError::new(SqlState::OBJECT_IN_USE, format!("user {name} is the current user and cannot be dropped")));
    }
    permissions::check_manage_user(ctx.user.role, existing.role, "DROP USER")?;
    let shared = ctx.shared.clone();
    let scope = RowScope::User(existing.id);
    loop {
        // Like DROP TABLE: write locks first (in table id order), then the DDL lock; a
        // table created meanwhile means starting over with it included.
        let tables = per_user_tables(&shared);
        let mut locked: Vec<(Arc<TableEntry>, ScopeWriteGuard)> = Vec::with_capacity(tables.len());
        for table in &tables {
            locked.push((table.clone(), shared.locks.lock_scope(table.id(), &scope).await));
        }
        let ddl = shared.catalog.lock_ddl().await;
        let now: Vec<u64> = per_user_tables(&shared).iter().map(|t| t.id()).collect();
        if now != tables.iter().map(|t| t.id()).collect::<Vec<_>>() {
            continue;
        }
        match shared.catalog.user(name) {
            // Its role may have changed meanwhile.
            Some(now) if now.id == existing.id => permissions::check_manage_user(ctx.user.role, now.role, "DROP USER")?,
            _ if if_exists => return done,
            _ => return Err(undefined_user(name)),
        }
        let work_shared = shared.clone();
        let user = existing.clone();
        let prefixes: Vec<Vec<u8>> = locked.iter().map(|(t, _)| keys::scope_row_prefix(t.id(), &scope)).collect();
        let user_tables: Vec<_> = locked.iter().map(|(t, _)| t.id()).collect();
        let (ddl, prefixes) = catalog_work(ddl, move |ddl| {
            if !cascade {
                for ((table, _), prefix) in locked.iter().zip(&prefixes) {
                    let cold = work_shared.cold.scope(table.id(), &RowScope::User(user.id)).is_some();
                    if cold || !work_shared.store.prefix_is_empty(prefix)? {
                        return Err(EngineError::new(
                            SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                            format!(
                                "user {} still owns rows in table {}; use DROP USER ... CASCADE to remove them",
                                user.name,
                                table.definition.qualified_name()
                            ),
                        ));
                    }
                }
            }
            work_shared.catalog.drop_user(ddl, &user, &locked)?;
            Ok(prefixes)
        })
        .await?;
        std::mem::drop(ddl);
        shared.live.settle().await;
        shared.live.end_where(|info, _| info.about.user_id == existing.id, &format!("user {} was dropped", existing.name));
        // The user's cold files go after the catalog commit (a crash in between leaves
        // folders the next open deletes: their user no longer exists).
        for table_id in user_tables {
            shared.store.forget_scopes(&keys::scope_row_prefix(table_id, &scope));
            shared.cold.remove_scope(table_id, &scope).await;
        }
        off_async(move || {
            for prefix in &prefixes {
                shared.store.compact_prefix(prefix);
            }
            Ok(())
        })
        .await?;
        return done;
    }
}
