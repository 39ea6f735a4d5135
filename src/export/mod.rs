//! Renderers: report types in, bytes out. No HTTP in here.

pub(crate) mod json;
pub(crate) mod prometheus;
