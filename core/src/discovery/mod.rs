//! How clients find the authorization server, and what they are told when a request is refused:
//! authorization-server metadata ([RFC 8414](https://www.rfc-editor.org/rfc/rfc8414)),
//! protected-resource metadata ([RFC 9728](https://www.rfc-editor.org/rfc/rfc9728)), and bearer
//! challenges ([RFC 6750 §3](https://www.rfc-editor.org/rfc/rfc6750#section-3)); and a facade
//! that stands in for providers which do not speak MCP's OAuth profile.

pub mod as_facade;
pub mod as_metadata;
pub mod challenge;
pub mod rediscovery;
pub mod resource_metadata;
