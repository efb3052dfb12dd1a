"""One file per algorithm; each reads like the lecture's pseudocode."""
