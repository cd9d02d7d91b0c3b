//! faultline kfl.
