//! The S3-compatible API (`/s3`) with real S3 clients at their default
//! settings: the AWS SDK for JavaScript v3 (`@aws-sdk/client-s3`, its
//! presigner and lib-storage, pinned in package.json) and boto3 (pinned in
//! scripts/python-requirements.txt, in the project venv), running
//! tests/s3-client against the live stack with the read-write and read-only
//! pairs of `stack::S3_CREDENTIALS`.

use crate::client::run_client_suite;
use crate::stack::Stack;
use crate::{Outcome, TestFn};
use std::path::Path;

pub fn tests() -> Vec<TestFn> {
    trials![s3::aws_sdk_for_javascript, s3::boto3]
}

fn aws_sdk_for_javascript(s: &Stack) -> Outcome {
    let text = run_client_suite(
        "S3 client tests",
        Path::new("node"),
        &["--test", "--test-concurrency=1", "tests/s3-client/"],
        &[
            ("STRATA_BASE_URL", &s.base),
            ("STRATA_API_KEY", &s.admin_key),
            ("STRATA_S3_CREDENTIALS", crate::stack::S3_CREDENTIALS),
        ],
    )?;
    assert!(text.contains("# fail 0"), "{text}");
    Ok(())
}

fn boto3(s: &Stack) -> Outcome {
    let python = crate::stack::repo_root().join(".venv/bin/python");
    let text = run_client_suite(
        "boto3 tests (scripts/tools.sh makes the venv)",
        &python,
        &["tests/s3-client/boto3_test.py"],
        &[
            ("STRATA_BASE_URL", &s.base),
            ("STRATA_S3_CREDENTIALS", crate::stack::S3_CREDENTIALS),
        ],
    )?;
    assert!(text.contains("boto3: ok"), "{text}");
    Ok(())
}
