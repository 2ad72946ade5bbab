//! The CDC IIS SOAP web service (WSDL namespace `urn:cdc:iisb:2011`): envelope decoding,
//! responses and faults, the WSDL, and the axum handlers that tie them to the registry.

pub mod addressing;
pub mod envelope;
pub mod fault;
mod handler;
pub mod wire;
pub mod wsdl;

pub use handler::{
    body_too_large, decompress, get_soap, get_soap_2014, post_soap, post_soap_2014, ContentError,
};
