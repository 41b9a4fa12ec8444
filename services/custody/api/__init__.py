"""HTTP adapters shared by the custody slices: the custody log and its verification, the documented errors."""
