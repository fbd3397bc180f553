//! One module per route. Each has the same shape: `handle(req, ctx)` checks
//! access, parses the request, runs the operation on a store, answers.

pub mod admin;
pub mod health;
pub mod objects;
pub mod openapi;
pub mod rest;
pub mod rpc;
pub mod s3;
pub mod signed_urls;
pub mod sql;
pub mod status;
