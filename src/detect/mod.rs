//! Mitosis detection in one field: blob candidates on the haematoxylin OD plane,
//! features in physical units, a mitosis score and a class per candidate.
