//! The report model and its writers (text, JSON, CSV, GeoJSON, MIDOG JSON, PNG, HTML).
//!
//! Only this module writes output files.
