//! SQLite's memory, set once at start-up: allocated by mimalloc, as the rest of the
//! process is, and without SQLite's global statistics, whose one lock every SQLite
//! thread of the process took around each of its allocations and frees.

use std::os::raw::{c_int, c_void};

use libsqlite3_sys as ffi;

unsafe extern "C" fn malloc(size: c_int) -> *mut c_void {
    // SAFETY: mimalloc's malloc; SQLite never asks for a negative size.
    unsafe { libmimalloc_sys::mi_malloc(size as usize) }
}

unsafe extern "C" fn free(block: *mut c_void) {
    // SAFETY: SQLite frees only what `malloc` or `realloc` returned.
    unsafe { libmimalloc_sys::mi_free(block) }
}

unsafe extern "C" fn realloc(block: *mut c_void, size: c_int) -> *mut c_void {
    // SAFETY: as `malloc` and `free`.
    unsafe { libmimalloc_sys::mi_realloc(block, size as usize) }
}

unsafe extern "C" fn size(block: *mut c_void) -> c_int {
    // SAFETY: a block of mimalloc's; SQLite's allocations are below 2 GiB, so the size fits.
    unsafe { libmimalloc_sys::mi_usable_size(block) as c_int }
}

unsafe extern "C" fn roundup(size: c_int) -> c_int {
    // SAFETY: a pure function of the size.
    unsafe { libmimalloc_sys::mi_good_size(size as usize) as c_int }
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn shutdown(_: *mut c_void) {}

/// Routes SQLite's allocations through mimalloc and turns its memory statistics off.
/// SQLite takes both only before its first use, so the binary calls this first thing,
/// before any thread starts; after that SQLite refuses them and keeps its defaults.
///
/// The statistics took a process-wide lock around every allocation and free, shared by
/// every SQLite file's threads (docs/performance.md, forty-sixth round); nothing of
/// fengqiao reads them (`sqlite3_memory_used` reads 0 from here on).
pub fn configure() -> Result<(), String> {
    let methods = ffi::sqlite3_mem_methods {
        xMalloc: Some(malloc),
        xFree: Some(free),
        xRealloc: Some(realloc),
        xSize: Some(size),
        xRoundup: Some(roundup),
        xInit: Some(init),
        xShutdown: Some(shutdown),
        pAppData: std::ptr::null_mut(),
    };
    for (setting, code) in [
        // SAFETY: SQLite copies the methods; called before SQLite's first use (see above).
        ("allocator", unsafe {
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &methods as *const ffi::sqlite3_mem_methods)
        }),
        // SAFETY: as above; the option takes an int.
        ("memory statistics", unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int) }),
    ] {
        if code != ffi::SQLITE_OK {
            return Err(format!(
                "SQLite refused its {setting} setting (code {code}) because it had already started, so it keeps its \
                 own; the system works but standalone is slower under load (docs/performance.md, forty-sixth \
                 round): report this as a defect of this build"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_allocates_from_mimalloc_and_keeps_no_statistics() {
        configure().expect("SQLite's memory set-up, first thing in this test's process");
        // SAFETY: SQLite's own allocator, freed below.
        let block = unsafe { ffi::sqlite3_malloc(4096) };
        assert!(!block.is_null());
        // SAFETY: a pointer just returned by SQLite.
        assert!(unsafe { libmimalloc_sys::mi_is_in_heap_region(block) }, "SQLite's block is not mimalloc's");
        // SAFETY: reads SQLite's counter.
        assert_eq!(unsafe { ffi::sqlite3_memory_used() }, 0, "SQLite still counts its memory");
        // SAFETY: SQLite's block, freed once.
        unsafe { ffi::sqlite3_free(block) };
    }

    #[test]
    fn a_set_up_after_sqlite_started_is_refused_and_says_what_to_do() {
        // SAFETY: starts SQLite, as opening a file would.
        assert_eq!(unsafe { ffi::sqlite3_initialize() }, ffi::SQLITE_OK);
        let refused = configure().expect_err("SQLite took its memory set-up after it had started");
        assert!(refused.contains("already started") && refused.contains("report this"), "{refused}");
    }
}
