//! The S3-compatible API (`/s3`) with real S3 clients at their default
//! settings: the AWS SDK for JavaScript v3 (`@aws-sdk/client-s3`, its
//! presigner and lib-storage, pinned in package.json) and boto3 (pinned in
//! scripts/python-requirements.txt, in the project venv), running
//! tests/s3-client against the live stack with the read-write and read-only
//! pairs of `stack::S3_CREDENTIALS`.

use crate::stack::Stack;
use crate::{Outcome, TestFn};

pub fn tests() -> Vec<TestFn> {
    trials![s3::aws_sdk_for_javascript, s3::boto3]
}

fn aws_sdk_for_javascript(s: &Stack) -> Outcome {
    let root = crate::stack::repo_root();
    let out = std::process::Command::new("node")
        .current_dir(&root)
        .args(["--test", "--test-concurrency=1", "tests/s3-client/"])
        .env("STRATA_BASE_URL", &s.base)
        .env("STRATA_API_KEY", &s.admin_key)
        .env("STRATA_S3_CREDENTIALS", crate::stack::S3_CREDENTIALS)
        .output()
        .map_err(|e| format!("cannot run node: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "S3 client tests failed:\n{text}");
    assert!(text.contains("# fail 0"), "{text}");
    Ok(())
}

fn boto3(s: &Stack) -> Outcome {
    let root = crate::stack::repo_root();
    let out = std::process::Command::new(root.join(".venv/bin/python"))
        .current_dir(&root)
        .arg("tests/s3-client/boto3_test.py")
        .env("STRATA_BASE_URL", &s.base)
        .env("STRATA_S3_CREDENTIALS", crate::stack::S3_CREDENTIALS)
        .output()
        .map_err(|e| format!("cannot run the venv's python (scripts/tools.sh makes it): {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "boto3 tests failed:\n{text}");
    assert!(text.contains("boto3: ok"), "{text}");
    Ok(())
}
