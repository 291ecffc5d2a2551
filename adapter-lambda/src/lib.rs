//! # mcp-authz-lambda — not implemented yet
//!
//! This crate will run the mcp-authz resource server on AWS Lambda behind API Gateway (REST and
//! HTTP APIs), Function URLs and ALB, through `lambda_http` (issue 7).
//!
//! Today it contains nothing but this note and the re-export below, so that the workspace shows
//! where the adapter goes.

pub use mcp_authz_core as core;
