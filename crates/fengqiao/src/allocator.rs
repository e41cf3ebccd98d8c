//! The processes' allocator, mimalloc (its v2 line), and its one setting: memory a
//! process frees is kept for reuse instead of being handed back to the system.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`: option 15 of v2's `mimalloc.h`, which the Rust
/// bindings do not name.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The variable with which an operator chooses mimalloc's purge delay (in ms) instead.
const PURGE_DELAY_VARIABLE: &str = "MIMALLOC_PURGE_DELAY";

/// Keeps freed memory for reuse (mimalloc's purge delay −1), unless the operator set
/// `MIMALLOC_PURGE_DELAY`. v2 hands freed memory back 10 ms after it is freed, which cost
/// ~15 % more CPU a referral at 50/s; a process then holds the most memory it has used
/// (docs/performance.md, twentieth and twenty-first rounds).
pub fn keep_freed_memory() {
    if std::env::var_os(PURGE_DELAY_VARIABLE).is_none() {
        // SAFETY: sets one of mimalloc's options, a store it makes safe from any thread.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purge_delay() -> std::os::raw::c_long {
        // SAFETY: reads one of mimalloc's options.
        unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }
    }

    #[test]
    fn option_15_is_the_purge_delay_and_freed_memory_is_kept() {
        if std::env::var_os(PURGE_DELAY_VARIABLE).is_some() {
            return; // the operator's value, not mimalloc's default of 10 ms
        }
        assert_eq!(purge_delay(), 10, "option 15 is not mimalloc v2's purge delay (default 10 ms)");
        keep_freed_memory();
        assert_eq!(purge_delay(), -1);
    }
}
