//! Integration tests against the real local stack.
//!
//! `main` starts one isolated stack (see [`stack`]): a throw-away PostgreSQL
//! behind the local Neon endpoint, and `wrangler dev` (workerd with local D1
//! and R2 in a temporary `--persist-to` folder) on free ports. Every test
//! then talks HTTP to it. The stack is torn down before the process exits,
//! whatever the tests' outcome.
//!
//! Add a test: write `fn name(s: &Stack) -> Outcome` in a module and list it
//! in that module's `tests()` as `module::name`; that is also its test name
//! (the filter `cargo test -p strata-tests -- module::name` runs it).

// Tests fail by panicking, and run on the host, where there is a real clock
// (the bans are for shipped and wasm32 code, see clippy.toml).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

/// A module's tests as `(name, function)` pairs, each named by its path:
/// `trials![sql::limits]` is `vec![("sql::limits", crate::sql::limits)]`,
/// so a test's name cannot drift from its function's.
macro_rules! trials {
    ($($module:ident :: $test:ident),* $(,)?) => {
        vec![$((
            concat!(stringify!($module), "::", stringify!($test)),
            crate::$module::$test as fn(&crate::stack::Stack) -> crate::Outcome,
        )),*]
    };
}

mod client;
mod stack;

mod adversarial;
mod auth;
mod bench;
mod bench_embed;
mod console;
mod contract;
mod cors;
mod d1_sessions;
mod errors;
mod faults;
mod fuzz;
mod graduate;
mod health;
mod numbers;
mod objects;
mod pg_readonly;
mod rest;
mod rest_embed_self;
mod rest_safety;
mod s3;
mod sql;
mod status;

use libtest_mimic::{Arguments, Failed, Trial};
use stack::Stack;
use std::sync::Arc;

/// What a test returns; panics (failed asserts) also count as failures.
pub type Outcome = Result<(), Failed>;

/// A named test.
pub type TestFn = (&'static str, fn(&Stack) -> Outcome);

fn main() {
    let args = Arguments::from_args();
    let all: Vec<TestFn> = [
        health::tests(),
        status::tests(),
        errors::tests(),
        sql::tests(),
        pg_readonly::tests(),
        numbers::tests(),
        rest::tests(),
        rest_safety::tests(),
        rest_embed_self::tests(),
        faults::tests(),
        objects::tests(),
        contract::tests(),
        fuzz::tests(),
        auth::tests(),
        adversarial::tests(),
        cors::tests(),
        d1_sessions::tests(),
        graduate::tests(),
        s3::tests(),
        console::tests(),
    ]
    .concat();

    // Listing tests (`--list`) or filtering everything out needs no stack.
    let wanted = all
        .iter()
        .chain(bench::benches().iter())
        .any(|(name, _)| !args.is_filtered_out_name(name));
    if args.list || !wanted {
        let trials = all
            .iter()
            .map(|(name, _)| Trial::test(*name, || Ok(())))
            .collect();
        libtest_mimic::run(&args, trials).exit();
    }

    let stack = match Stack::start() {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("could not start the local stack: {e}");
            std::process::exit(1);
        }
    };
    let mut trials: Vec<Trial> = all
        .into_iter()
        .map(|(name, f)| {
            let stack = stack.clone();
            Trial::test(name, move || f(&stack))
        })
        .collect();
    // Benchmarks run only when asked for (`-- --ignored bench::`).
    trials.extend(bench::benches().into_iter().map(|(name, f)| {
        let stack = stack.clone();
        Trial::test(name, move || f(&stack)).with_ignored_flag(true)
    }));
    let conclusion = libtest_mimic::run(&args, trials);
    // Trials are dropped by now; this is the last reference.
    drop(stack);
    conclusion.exit();
}

trait FilterExt {
    fn is_filtered_out_name(&self, name: &str) -> bool;
}

impl FilterExt for Arguments {
    fn is_filtered_out_name(&self, name: &str) -> bool {
        let matches = |f: &str| {
            if self.exact {
                name == f
            } else {
                name.contains(f)
            }
        };
        let included = self.filter.as_deref().is_none_or(matches);
        let skipped = self.skip.iter().any(|s| matches(s));
        !included || skipped
    }
}
