//! faultline engine.
