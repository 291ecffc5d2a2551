//! Benchmarks of the mcp-authz hot path (criterion); see `benches/`.
