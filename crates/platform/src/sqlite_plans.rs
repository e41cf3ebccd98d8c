//! Every SQLite connection of the process plans a statement once, whatever values are bound
//! to it later: SQLite's query planner stability guarantee (`SQLITE_DBCONFIG_ENABLE_QPSG`).
//!
//! Without it SQLite 3.51 plans a bound `LIMIT ?` with its value as a constant and marks the
//! statement to be planned again whenever that parameter is bound anew. sqlx clears a
//! statement's bindings after each run and binds them again on the next, so every run of a
//! statement with `LIMIT $n` (the outbox relay's read of unsent events, routing's load changes,
//! the clock sweeps) was parsed and planned again: 1.5 % of the machine in standalone at
//! 1,000/s (docs/performance.md, forty-seventh round). No plan of fengqiao's needs a bound
//! value: its partial indexes are matched by literal conditions (`sent_at IS NULL`).

use std::os::raw::{c_char, c_int};
use std::sync::OnceLock;

use libsqlite3_sys as ffi;

/// Called by SQLite for each connection it opens in this process (an automatic extension).
unsafe extern "C" fn plan_once(
    db: *mut ffi::sqlite3,
    _error: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: the connection SQLite is opening; the option takes an int, then where to write
    // the setting back (none).
    unsafe { ffi::sqlite3_db_config(db, ffi::SQLITE_DBCONFIG_ENABLE_QPSG, 1 as c_int, std::ptr::null_mut::<c_int>()) }
}

/// Makes every SQLite connection opened from now on in this process plan its statements once;
/// the first call registers, later ones return its outcome. An error says what it costs.
pub fn plan_statements_once() -> Result<(), String> {
    static REGISTERED: OnceLock<c_int> = OnceLock::new();
    // SAFETY: registers a function of the signature SQLite calls; SQLite keeps the list behind
    // its own mutex.
    let code = *REGISTERED.get_or_init(|| unsafe { ffi::sqlite3_auto_extension(Some(plan_once)) });
    if code == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(format!(
            "SQLite could not register its planner setting (code {code}: out of memory at start-up); the component \
             works, but re-plans every statement with a bound LIMIT on each run, which costs CPU under load: restart \
             it once the machine has memory free"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `SELECT … LIMIT ?` `runs` times on a new in-memory connection, bound anew each time
    /// as sqlx does, and returns how often SQLite planned it again.
    fn replans_of_a_bound_limit(runs: i64) -> c_int {
        let mut db = std::ptr::null_mut();
        let mut stmt = std::ptr::null_mut();
        // SAFETY: a private connection and statement, each checked, finalized and closed below.
        unsafe {
            assert_eq!(ffi::sqlite3_open(c":memory:".as_ptr(), &mut db), ffi::SQLITE_OK);
            let sql = c"SELECT value FROM json_each('[1,2,3]') LIMIT ?";
            assert_eq!(ffi::sqlite3_prepare_v3(db, sql.as_ptr(), -1, 0, &mut stmt, std::ptr::null_mut()), 0);
            for limit in 1..=runs {
                assert_eq!(ffi::sqlite3_bind_int64(stmt, 1, limit), ffi::SQLITE_OK);
                assert_eq!(ffi::sqlite3_step(stmt), ffi::SQLITE_ROW);
                ffi::sqlite3_reset(stmt);
                ffi::sqlite3_clear_bindings(stmt);
            }
            let replans = ffi::sqlite3_stmt_status(stmt, ffi::SQLITE_STMTSTATUS_REPREPARE, 0);
            ffi::sqlite3_finalize(stmt);
            ffi::sqlite3_close(db);
            replans
        }
    }

    #[test]
    fn a_statement_with_a_bound_limit_is_planned_once_however_often_it_is_bound_again() {
        plan_statements_once().expect("registered");
        assert_eq!(replans_of_a_bound_limit(3), 0, "SQLite planned the statement again on a new binding");
    }

    #[tokio::test]
    async fn every_connection_sqlx_opens_after_a_database_connects_plans_once() {
        use sqlx::Connection;
        // The suite runs each test in a process of its own, so only connecting registers here.
        let dir = tempfile::tempdir().unwrap();
        crate::db::Database::connect_sqlite(&dir.path().join("t.sqlite"), "test", 1).await.unwrap();
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let mut handle = conn.lock_handle().await.unwrap();
        let mut on: c_int = -1;
        // SAFETY: reads the option back (-1 leaves it as it is) on a connection this test holds.
        let code = unsafe {
            ffi::sqlite3_db_config(
                handle.as_raw_handle().as_ptr(),
                ffi::SQLITE_DBCONFIG_ENABLE_QPSG,
                -1 as c_int,
                &mut on,
            )
        };
        assert_eq!((code, on), (ffi::SQLITE_OK, 1), "a connection sqlx opened plans by its bound values");
    }
}
