//! Pure decision logic: no IO, no kube or HTTP types. Everything here takes plain inputs (including `now`) and
//! returns a decision, so it can be tested exhaustively; the controller does the IO around it.

pub mod backoff;
pub mod delivery;
pub mod rotation;
pub mod tag;
