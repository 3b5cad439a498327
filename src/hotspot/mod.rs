//! The mitotic hot spot: the placement of a 10-HPF window with the highest count.
